"""Fuzzing the command line: any argument string gives exit 2 with one line, or a valid run.

The property, for hypothesis-generated argument lists: ``main(argv)`` either returns 2 with
exactly one line on stderr and ``--out`` untouched, or it accepts the arguments — then
``sweep`` writes files without a NaN, and ``estimate`` / ``train`` / ``report`` reach their
expensive work (replaced here by a sentinel) with finite, in-range values. Never another
exception. Derandomised, so CI sees the same examples every time.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpro_lite.cli import main

NUMBERS = st.sampled_from(
    ["0", "1", "-1", "0.5", "2", "1e-3", "1e308", "1e400", "-0", "nan", "NaN", "inf", "-inf",
     "", " ", "x", "1,2", "3:4", "1e-3:1e2:5", "0:1:3", "1:2:0", "1:2:-4", "0x10", "1_0",
     "99999999999999999999", "True", "None", "0.1,nan", "1e-3:1e2:1000000"]
)  # fmt: skip
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class ReachedWork(Exception):
    """The arguments were accepted and the expensive part would start now."""


def _options(names):
    return st.lists(st.tuples(st.sampled_from(names), NUMBERS), max_size=4)


def _argv(cmd, opts, out):
    argv = [*cmd]
    for name, value in opts:
        argv += [name, value]
    return [*argv, "--out", str(out)]


def _check_exit_2(code, capsys, out, before):
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert len(err.splitlines()) == 1 and err.startswith("alignpro-lite: error:"), err
    assert (sorted(p.name for p in out.iterdir()) if out.exists() else None) == before


@SETTINGS
@given(opts=_options(["--lams", "--seed", "--n-x", "--n-c", "--n-y"]), random=st.booleans())
def test_sweep_arguments(tmp_path_factory, capsys, opts, random):
    out = tmp_path_factory.mktemp("fuzz") / "out"
    argv = _argv(["sweep", "--problem", "random" if random else "teaching"], opts, out)
    # keep accepted random problems small enough for a quick test
    sizes = {n: v for n, v in opts if n in ("--n-x", "--n-c", "--n-y")}
    if any(v.strip().isdigit() and int(v) > 50 for v in sizes.values()):
        return
    capsys.readouterr()
    code = main(argv)
    if code != 0:
        _check_exit_2(code, capsys, out, None)
        return
    for name in ("sweep.csv", "sweep_summary.csv"):
        df = pd.read_csv(out / name)
        assert len(df) and not df.isna().to_numpy().any(), name


@SETTINGS
@given(
    opts=_options(
        ["--temperature", "--top-p", "--samples", "--max-new-tokens", "--batch-size",
         "--max-prompts", "--seed"]
    )
)  # fmt: skip
def test_estimate_arguments(tmp_path_factory, capsys, monkeypatch, opts):
    from alignpro_lite.llm import lm

    def sentinel(*args, **kwargs):
        raise ReachedWork

    monkeypatch.setattr(lm, "load_causal_lm", sentinel)
    out = tmp_path_factory.mktemp("fuzz") / "out"
    capsys.readouterr()
    try:
        code = main(_argv(["estimate", "--task", "kindness"], opts, out))
    except ReachedWork:
        seen = dict(opts)
        for name in ("--temperature", "--top-p"):
            if name in seen:
                assert math.isfinite(float(seen[name])) and float(seen[name]) > 0
        for name in ("--samples", "--max-new-tokens", "--batch-size", "--max-prompts"):
            if name in seen:
                assert int(seen[name]) >= 1
        return
    _check_exit_2(code, capsys, out, None)


@SETTINGS
@given(
    opts=_options(
        ["--lam", "--beta", "--steps", "--batch-size", "--k", "--lr", "--mu", "--seed",
         "--sft-steps", "--rewrite-tokens", "--checkpoint-every", "--threads"]
    ),
    method=st.sampled_from(["align-pro", "rlhf"]),
)  # fmt: skip
def test_train_arguments(tmp_path_factory, capsys, monkeypatch, opts, method):
    from alignpro_lite.experiment import runs as experiment  # where `train` finds train_run

    def sentinel(cfg, out, **kwargs):
        for name in ("lr", "mu", "temperature", "answer_temperature"):
            assert math.isfinite(getattr(cfg, name)), name
        assert math.isfinite(cfg.kl_weight) and cfg.kl_weight > 0
        assert cfg.lr > 0 and cfg.mu >= 0 and cfg.k >= 2 and cfg.seed >= 0
        raise ReachedWork

    monkeypatch.setattr(experiment, "train_run", sentinel)
    out = tmp_path_factory.mktemp("fuzz") / "out"
    capsys.readouterr()
    try:
        code = main(_argv(["train", "--method", method, "--task", "kindness"], opts, out))
    except ReachedWork:
        return
    _check_exit_2(code, capsys, out, None)


@pytest.mark.parametrize("argv", [["sweep", "--lams"], ["--out"], [], ["sweep", "--out"]])
def test_truncated_command_lines(argv, capsys):
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
