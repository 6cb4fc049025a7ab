"""Fuzz the classes of issue 24's probes: each class, many variants, one property.

* **Symlinks in and under ``--out``**: a link placed at any staging name a writer uses is never
  written through (the file it points to is unchanged); an ``--out`` that is, or links into, the
  repository's sources is refused with one line; a link loop is one line too.
* **Relative paths in run files**: a run's ``sft_adapter``, however spelled (absolute, relative
  to the run folder, to a parent, to the folder it was trained from) and from whichever folder
  it is read, resolves to the adapter — or is a ``ValueError`` naming the run file, never a
  silent fall-back to the base model.
* **Tampered stage outputs**: any byte flipped, appended or cut in an evaluation cache, a fitted
  adapter, a report's tables or a bank file is refused by name when the stage is reused.
* **Prompt length**: a prompt whose tokens plus the answer budget exceed the model's context is
  refused before sampling, exactly at the boundary.

Derandomized with no example database, so CI runs the same examples every time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignpro_lite.atomic import (
    SOURCES,
    tmp_path,
    verify_sealed,
    write_sealed_json,
    write_text_atomic,
)
from alignpro_lite.config import repo_root

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

STAGING = [
    "run.json", "checkpoint.pt", "metrics.csv", "replicate.json", "eval/kindness/RLHF.csv",
    "eval/kindness/RLHF.json", "bank/kindness/rewrites.jsonl", "bank/kindness/manifest.json",
    "lam-sweep/fits/lam1/fit.json", "report/summary.csv",
]  # fmt: skip


# --------------------------------------------------------------------------- symlinks
def _train_save(out: Path, name: str) -> None:
    """train's own checkpoint + metrics save (the names it stages through)."""
    from alignpro_lite.learn.train import _save

    _save(out, {"step": 1, "weights": [1.0]}, [{"step": 1, "reward_mean": 0.5, "kl": 0.0}])


def _write_text(out: Path, name: str) -> None:
    write_text_atomic(out / name, "new")


def _write_csv(out: Path, name: str) -> None:
    path = out / name
    tmp = tmp_path(path)
    pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)
    os.replace(tmp, path)


WRITERS = {"text": _write_text, "csv": _write_csv, "train": _train_save}


@FUZZ
@given(name=st.sampled_from(STAGING), writer=st.sampled_from(sorted(WRITERS)),
       target_exists=st.booleans(), link_the_file_too=st.booleans())  # fmt: skip
def test_a_link_at_a_staging_name_is_never_written_through(
    tmp_path_factory, name, writer, target_exists, link_the_file_too
):
    root = tmp_path_factory.mktemp("links")
    out, victim = root / "out", root / "victim.txt"
    victim.write_text("precious")
    if writer == "train":  # train stages its own three names
        names = ["checkpoint.pt", "checkpoint.pt.sha256", "metrics.csv"]
    else:
        names = [name]
    for n in names:
        path = out / n
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / (path.name + ".tmp")).symlink_to(victim)
        if target_exists:
            path.write_text("old")
        elif link_the_file_too:
            path.symlink_to(victim)  # the file itself a link: replaced, its target kept
    WRITERS[writer](out, name)
    assert victim.read_text() == "precious"
    for n in names:
        assert (out / n).is_file() and not (out / n).is_symlink()
        assert not os.path.lexists(out / (n + ".tmp"))


@FUZZ
@given(source=st.sampled_from(SOURCES), deeper=st.sampled_from(["", "x", "x/y"]),
       via_link=st.booleans(), command=st.sampled_from(["sweep", "train", "replicate"]))  # fmt: skip
def test_an_out_in_the_sources_is_refused_with_one_line(
    tmp_path_factory, source, deeper, via_link, command
):
    target = repo_root() / source
    if via_link:
        link = tmp_path_factory.mktemp("out") / "L"
        link.symlink_to(target)
        out = link / deeper if deeper else link
    else:
        out = target / deeper if deeper else target
    before = sorted(p.name for p in target.iterdir()) if target.is_dir() else None
    argv = {"sweep": ["sweep"], "train": ["train", "--method", "rlhf", "--task", "kindness"],
            "replicate": ["replicate"]}[command]  # fmt: skip
    from alignpro_lite.cli import main

    assert main([*argv, "--out", str(out)]) == 2
    if target.is_dir():
        assert sorted(p.name for p in target.iterdir()) == before


def test_the_refusal_names_the_source_in_one_line(tmp_path, capsys):
    from alignpro_lite.cli import main

    link = tmp_path / "L"
    link.symlink_to(repo_root() / "notebooks")
    assert main(["sweep", "--out", str(link)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notebooks/" in err and "build/" in err


@pytest.mark.parametrize("shape", ["loop", "dangling-into-sources", "chain"])
def test_odd_links_as_out_are_one_line_or_land_outside(tmp_path, capsys, shape):
    from alignpro_lite.cli import main

    a, b = tmp_path / "a", tmp_path / "b"
    if shape == "loop":
        a.symlink_to(b)
        b.symlink_to(a)
        assert main(["sweep", "--out", str(a)]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    elif shape == "dangling-into-sources":
        a.symlink_to(repo_root() / "notebooks" / "not-yet")
        assert main(["sweep", "--out", str(a)]) == 2
        assert not (repo_root() / "notebooks" / "not-yet").exists()
    else:  # a chain of links to a plain folder outside the repository: allowed, lands there
        real = tmp_path / "real"
        real.mkdir()
        b.symlink_to(real)
        a.symlink_to(b)
        assert main(["sweep", "--out", str(a), "--lams", "0.1,1"]) == 0
        assert (real / "sweep.csv").is_file()


# --------------------------------------------------------------------------- relative paths
@FUZZ
@given(spelling=st.sampled_from(["absolute", "run", "parent", "cwd-at-train"]),
       read_from=st.sampled_from(["root", "run", "elsewhere"]), present=st.booleans())  # fmt: skip
def test_a_run_files_adapter_path_resolves_or_is_named(tmp_path_factory, spelling, read_from,
                                                       present):  # fmt: skip
    from alignpro_lite.experiment.runs import RunConfig, read_run, sft_reference_path

    root = tmp_path_factory.mktemp("repo")
    sft = root / "runs" / "sft"
    sft.mkdir(parents=True)
    (sft / "adapter_config.json").write_text("{}")
    run = root / "runs" / "route-a"
    run.mkdir()
    path = {"absolute": str(sft), "run": "../sft", "parent": "runs/sft",
            "cwd-at-train": "runs/sft"}[spelling]  # fmt: skip
    cfg = RunConfig(method="align-pro", task="kindness", sft_adapter=path)
    (run / "run.json").write_text(json.dumps(cfg.to_json()))
    if not present:
        shutil.rmtree(sft)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    decoy = elsewhere / "runs" / "sft"  # another replication's adapter where the reader stands
    decoy.mkdir(parents=True)
    (decoy / "adapter_config.json").write_text("{}")
    cwd = {"root": root, "run": run, "elsewhere": elsewhere}[read_from]
    old = Path.cwd()
    os.chdir(cwd)
    try:
        if present:
            got = sft_reference_path(run, read_run(run))
            assert got is not None and got.resolve() == sft.resolve()
        else:
            with pytest.raises(ValueError, match=r"run\.json: sft_adapter .* not found"):
                sft_reference_path(run, read_run(run))
    finally:
        os.chdir(old)


@FUZZ
@given(depth=st.integers(0, 3), adapter_depth=st.integers(0, 3))
def test_train_stores_the_adapter_path_relative_to_the_run_file(tmp_path_factory, depth,
                                                                adapter_depth):  # fmt: skip
    from alignpro_lite.experiment.runs import RunConfig, relative_to_run, sft_reference_path

    root = tmp_path_factory.mktemp("cwd")
    sft = root.joinpath(*["a"] * adapter_depth, "sft")
    sft.mkdir(parents=True)
    (sft / "adapter_config.json").write_text("{}")
    out = root.joinpath(*["r"] * depth, "run")
    old = Path.cwd()
    os.chdir(root)
    try:
        given = RunConfig(method="align-pro", task="kindness",
                          sft_adapter=str(sft.relative_to(root)))  # fmt: skip
        cfg = relative_to_run(given, out)
        assert relative_to_run(cfg, out) == cfg  # stable: a resumed run compares equal
    finally:
        os.chdir(old)
    out.mkdir(parents=True)
    os.chdir(tmp_path_factory.mktemp("reader"))
    try:
        assert sft_reference_path(out, cfg).resolve() == sft.resolve()
    finally:
        os.chdir(old)


# --------------------------------------------------------------------------- tampered outputs
TAMPER = st.sampled_from(["flip", "append", "truncate", "replace"])


def _tamper(path: Path, how: str, at: float) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip" and data:
        i = min(int(at * len(data)), len(data) - 1)
        data[i] ^= 0x01
    elif how == "append":
        data += b"\n1"
    elif how == "truncate":
        data = data[: int(at * len(data))]
    else:
        data = b"a,b\n1.0,1.0\n"
    path.write_bytes(bytes(data))


def _cache(root: Path) -> tuple[Path, callable]:
    from alignpro_lite.experiment.replicate import cache_is_fresh, write_cache_key

    path = root / "eval" / "kindness" / "RLHF.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"prompt": ["a", "b"], "reward": [0.25, 0.5]}).to_csv(path, index=False)
    made_from = {"adapter": "x", "n": 2}
    write_cache_key(path, made_from)
    return path, lambda: cache_is_fresh(path, made_from)


def _fit(root: Path) -> tuple[Path, callable]:
    from alignpro_lite.experiment.replicate import adapter_digest, verify_fit_adapter

    folder = root / "fit"
    (folder / "adapter").mkdir(parents=True)
    weights = folder / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(bytes(range(256)) * 8)
    info = {"adapter_sha256": adapter_digest(folder / "adapter")}
    return weights, lambda: verify_fit_adapter(folder, info)


def _saved_adapter(root: Path) -> tuple[Path, callable]:
    """Any saved adapter (rho_sft, a route (a) run, a fit): lora.load_lora checks its digest."""
    from alignpro_lite.llm.lora import DIGEST_FILE, verify_weights, weights_digest

    folder = root / "sft"
    folder.mkdir()
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(bytes(range(256)) * 8)
    (folder / DIGEST_FILE).write_text(weights_digest(folder) + "\n")
    return weights, lambda: verify_weights(folder)


def _report(root: Path) -> tuple[Path, callable]:
    folder = root / "report"
    folder.mkdir()
    for name in ("samples.csv", "summary.csv", "gap.csv"):
        pd.DataFrame({"task": ["kindness"], "reward": [0.3]}).to_csv(folder / name, index=False)
    write_sealed_json(folder, "report.json", {"seeds": [0]})
    return folder / "summary.csv", lambda: verify_sealed(folder)


def _shipped_report(root: Path) -> tuple[Path, callable]:
    from alignpro_lite.experiment.report import load_report

    folder = root / "report"
    shutil.copytree(repo_root() / "runs" / "report", folder)
    return folder / "samples.csv", lambda: load_report(folder)


def _round_report(root: Path) -> tuple[Path, callable]:
    from alignpro_lite.experiment.pooled import load_pooled

    folder = root / "report"
    shutil.copytree(repo_root() / "runs" / "round2" / "report", folder)
    return folder / "per_seed.csv", lambda: load_pooled(folder)


def _bank(root: Path) -> tuple[Path, callable]:
    from alignpro_lite.learn.bank import load_bank

    folder = root / "bank"
    shutil.copytree(repo_root() / "runs" / "bank" / "kindness", folder)
    return folder / "answers.jsonl", lambda: load_bank(folder)


STAGES = {"eval cache": _cache, "fit adapter": _fit, "saved adapter": _saved_adapter,
          "report": _report,
          "shipped report": _shipped_report, "round report": _round_report, "bank": _bank}  # fmt: skip


@FUZZ
@given(stage=st.sampled_from(sorted(STAGES)), how=TAMPER, at=st.floats(0.0, 0.999))
def test_a_tampered_stage_output_is_refused_by_name(tmp_path_factory, stage, how, at):
    root = tmp_path_factory.mktemp("stage")
    path, reuse = STAGES[stage](root)
    reuse()  # untouched: reused without a word
    before = path.read_bytes()
    _tamper(path, how, at)
    if path.read_bytes() == before:  # e.g. truncating nothing away
        return
    with pytest.raises(ValueError) as err:
        reuse()
    msg = str(err.value)  # names the file, or the adapter folder it belongs to
    assert path.name in msg or (path.name.startswith("adapter_model") and str(path.parent) in msg)


# --------------------------------------------------------------------------- prompt length
@pytest.fixture(scope="module")
def tiny(tiny_path):
    from alignpro_lite.llm import lm

    return lm.load_causal_lm(str(tiny_path), device="cpu")


@settings(derandomize=True, database=None, deadline=None, max_examples=12,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(words=st.integers(1, 600), budget=st.integers(1, 48), margin=st.integers(-2, 2))
def test_a_prompt_past_the_context_is_refused_exactly_at_the_boundary(tiny, words, budget,
                                                                        margin):  # fmt: skip
    from alignpro_lite.llm import lm

    model, tok = tiny
    limit = model.config.max_position_embeddings
    n_tok = len(tok("word " * words, add_special_tokens=False)["input_ids"])
    if abs(n_tok + budget - limit) > 60:  # most draws: move them near the boundary
        words = max(1, words + (limit - budget - n_tok) + margin)
        n_tok = len(tok("word " * words, add_special_tokens=False)["input_ids"])
    prompt = "word " * words
    if n_tok + budget > limit:
        with pytest.raises(ValueError, match=f"exceeds the model's context of {limit} tokens"):
            lm.sample_ids(model, tok, [prompt], n=1, max_new_tokens=budget, chat=False)
    else:
        out = lm.sample_ids(model, tok, [prompt], n=1, max_new_tokens=min(budget, 2), chat=False)
        assert len(out) == 1


def test_a_task_prompt_over_the_text_limit_is_named_before_any_model(tmp_path):
    from alignpro_lite.exact.schema import MAX_TEXT
    from alignpro_lite.llm.tasks import load_task_file

    line = {"id": "kind-train-001", "task": "kindness", "split": "train", "prompt": "x" * (MAX_TEXT + 1),
            "label": None, "reference": None,
            "candidates": [{"text": "x", "kind": "original"}, {"text": "y", "kind": "bad"}]}  # fmt: skip
    path = tmp_path / "kindness_train.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ValueError, match=rf"line 1 .*field 'prompt': is {MAX_TEXT + 1} characters"):
        load_task_file(path)


def test_the_cli_refuses_an_out_in_the_sources_in_a_fresh_process(tmp_path):
    res = subprocess.run([sys.executable, "-m", "alignpro_lite.cli", "sweep", "--out",
                          str(repo_root() / "docs" / "x")], capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert not (repo_root() / "docs" / "x").exists()
