"""The experiment driver (experiment.py) and the `train` / `report` commands."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from alignpro_lite import experiment as E
from alignpro_lite.cli import main
from alignpro_lite.experiment import evaluate as EV
from alignpro_lite.experiment import report as RP
from alignpro_lite.experiment import runs as RN
from alignpro_lite.learn.policies import one_thread
from alignpro_lite.learn.train import load_checkpoint
from alignpro_lite.llm.lm import load_causal_lm

XS = ["hello kind cat", "why is the sky blue", "tell my sister", "how do i help"]


def toy_reward_fn(batch, actions, rng):  # noqa: ARG001
    k = len(actions) // len(batch)
    target = {"kind", "nice", "good", "thanks", "please"}
    ys = actions.texts
    assert len(ys) == len(batch) * k
    return np.array([np.mean([w in target for w in y.split()]) if y.split() else 0.0 for y in ys])


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():
        yield


def _cfg(tiny_path, method="rlhf", **kw):
    base = dict(method=method, task="kindness", steps=4, batch_size=2, k=2, lr=0.05,
                rewrite_tokens=4, answer_tokens=4, sft_steps=2, lora_r=4,
                model=str(tiny_path), checkpoint_every=1)  # fmt: skip
    return E.RunConfig(**{**base, **kw})


def _run(cfg, out, **kw):
    model, tok = load_causal_lm(cfg.model, device="cpu")
    return E.train_run(
        cfg, out, model=model, tok=tok, data=XS, reward_fn=toy_reward_fn, progress=False, **kw
    )


# --------------------------------------------------------------------------- training runs
@pytest.mark.parametrize("method", ["rlhf", "align-pro"])
def test_resume_reproduces_uninterrupted_run(tiny_path, tmp_path, method):
    cfg = _cfg(tiny_path, method)
    full = _run(cfg, tmp_path / "full")
    _run(E.RunConfig(**{**cfg.to_json(), "steps": 2}), tmp_path / "cut")  # "interrupted" at 2
    assert load_checkpoint(tmp_path / "cut")["step"] == 2
    resumed = _run(cfg, tmp_path / "cut")
    assert resumed.resumed_from == 2
    cols = ["reward_mean", "kl", "objective", "grad_norm"]
    pd.testing.assert_frame_equal(full.metrics[cols], resumed.metrics[cols], rtol=1e-5)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["policy"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["policy"]
    assert a.keys() == b.keys() and all("lora_" in n for n in a)
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=1e-5, atol=1e-6)
    files = {p.name for p in (tmp_path / "full").iterdir()}
    assert {"run.json", "metrics.csv", "checkpoint.pt", "adapter"} <= files
    assert ("sft" in files) == (method == "align-pro")
    if method == "align-pro":
        assert len(pd.read_csv(tmp_path / "full" / "sft" / "loss.csv")) == 2


def test_train_run_refuses_a_different_run(tiny_path, tmp_path):
    cfg = _cfg(tiny_path, steps=1)
    _run(cfg, tmp_path / "r")
    with pytest.raises(ValueError, match="different run"):
        _run(E.RunConfig(**{**cfg.to_json(), "beta": 0.5}), tmp_path / "r")
    E.strip_checkpoint(tmp_path / "r")  # shipped form: adapter, no checkpoint
    assert not [p.name for p in (tmp_path / "r").iterdir() if p.name.startswith("checkpoint")]
    with pytest.raises(ValueError, match="finished run"):
        _run(cfg, tmp_path / "r")


@pytest.mark.parametrize("value", [0.1, np.float32(0.1), np.float64(0.1), np.array(0.1), 1])
def test_kl_weights_have_one_name_each_and_one_rule(value):
    ap = E.RunConfig(method="align-pro", task="kindness", lam=value)
    rl = E.RunConfig(method="rlhf", task="kindness", beta=value)
    assert ap.lam == rl.beta == pytest.approx(float(value)) and ap.beta is None and rl.lam is None
    assert isinstance(ap.lam, float) and ap.kl_weight == ap.lam and rl.kl_weight == rl.beta
    assert E.RunConfig(method="rlhf", task="kindness").beta == 0.05  # each method's default
    for bad in (True, float("nan"), float("inf"), -1.0, 0, "0.1"):
        with pytest.raises(ValueError, match="lam must be"):
            E.RunConfig(method="align-pro", task="kindness", lam=bad)
        with pytest.raises(ValueError, match="beta must be"):
            E.RunConfig(method="rlhf", task="kindness", beta=bad)
    with pytest.raises(ValueError, match="beta is not a setting of method 'align-pro'"):
        E.RunConfig(method="align-pro", task="kindness", beta=0.1)


def test_first_layout_run_json_migrates_to_lam_and_beta(tmp_path):
    """Old files stored β under "lam" and one temperature for policy and frozen model."""
    old = {
        k: v for k, v in _GOOD.items() if k not in ("beta", "answer_temperature", "answer_top_p")
    }
    old = {**old, "lam": 0.07, "temperature": 0.9}
    cfg = E.RunConfig.from_json(old)
    assert (cfg.lam, cfg.beta, cfg.temperature) == (None, 0.07, 0.9)
    assert (cfg.answer_temperature, cfg.answer_top_p) == (0.9, 1.0)
    ap = E.RunConfig.from_json({**old, "method": "align-pro"})
    assert (ap.lam, ap.beta) == (0.07, None)
    assert E.migrate_run_config(cfg.to_json()) == cfg.to_json()  # current files: unchanged
    import importlib.util

    from alignpro_lite.config import repo_root

    spec = importlib.util.spec_from_file_location("m", repo_root() / "scripts" / "migrate_runs.py")
    mig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mig)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text(json.dumps(old))
    (tmp_path / "r" / "config.json").write_text("{}")
    assert len(mig.migrate_folder(tmp_path)) == 2
    assert E.read_run(tmp_path / "r") == cfg and not (tmp_path / "r" / "config.json").exists()
    assert mig.migrate_folder(tmp_path) == []  # idempotent
    for run in (repo_root() / "runs").glob("*/run.json"):  # shipped runs: today's keys
        assert "beta" in json.loads(run.read_text())


def test_run_config_errors():
    with pytest.raises(ValueError, match="method"):
        E.RunConfig(method="dpo", task="kindness")
    with pytest.raises(ValueError, match="task"):
        E.RunConfig(method="rlhf", task="poetry")
    with pytest.raises(ValueError, match="beta must be > 0"):
        E.RunConfig(method="rlhf", task="kindness", beta=0)
    with pytest.raises(ValueError, match="k must"):
        E.RunConfig(method="rlhf", task="kindness", k=1)
    with pytest.raises(ValueError, match="sft_steps"):
        E.RunConfig(method="align-pro", task="kindness", sft_steps=-1)
    with pytest.raises(ValueError, match="not a run folder"):
        E.read_run("/nonexistent")


# --------------------------------------------------------------------------- tables
def _samples():
    rng = np.random.default_rng(0)
    rows = []
    for task in ("kindness", "helpfulness"):
        for method, mu, sd in (("NoFT", 0.0, 0.5), ("Align-Pro", 0.3, 0.2), ("RLHF", 0.4, 0.3)):
            for pid in range(30):
                for s in range(2):
                    r = mu + sd * rng.standard_normal()
                    rows.append(dict(task=task, method=method, prompt_id=pid, sample=s, x="x",
                                     x_prime="x", y="y", reward=r, gold=float(r > 0.2),
                                     preservation=1.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_gap_and_ci():
    s = E.summary_table(_samples())
    assert len(s) == 6 and set(s["method"]) == {"NoFT", "Align-Pro", "RLHF"}
    assert (s["ci_low"] < s["mean"]).all() and (s["mean"] < s["ci_high"]).all()
    assert (s["variance_ci_low"] < s["variance"]).all() and (s["var_within"] > 0).all()
    g = E.gap_closed(_samples()).set_index("task")
    row = s.set_index(["task", "method"])["mean"]
    want = (row["kindness", "Align-Pro"] - row["kindness", "NoFT"]) / (
        row["kindness", "RLHF"] - row["kindness", "NoFT"]
    )
    assert g.loc["kindness", "gap_closed"] == pytest.approx(want)
    assert g.loc["kindness", "gap_ci_low"] < want < g.loc["kindness", "gap_ci_high"]
    assert (
        g["ap_lower_var_within"].all() and g["ap_beats_noft"].all() and g["rlhf_beats_noft"].all()
    )
    # a t-interval over 30 per-prompt means: half-width = t_.975(29) sd / sqrt(30)
    k = _samples().query("task == 'kindness' and method == 'NoFT'")
    pm = k.groupby("prompt_id")["reward"].mean()
    half = 2.045229642 * pm.std(ddof=1) / np.sqrt(30)
    assert s.iloc[0]["ci_high"] - s.iloc[0]["mean"] == pytest.approx(half, rel=1e-6)
    # within-prompt variance with ddof = 1 (two samples: half the squared difference)
    v = k.groupby("prompt_id")["reward"].var(ddof=1).mean()
    assert s.iloc[0]["var_within"] == pytest.approx(v)
    p = E.evaluate.paired_table(_samples())
    assert set(p["measure"]) == {"reward", "gold"} and len(p) == 2 * 2 * 3  # 2 tasks, 3 pairs
    w = E.win_rates(_samples())
    assert len(w) == 2 * 3 and w["win_rate"].between(0, 1).all()


def test_gap_is_nan_when_rlhf_does_not_beat_noft():
    s = _samples().assign(reward=lambda d: np.where(d.method == "RLHF", -1.0, d.reward))
    g = E.gap_closed(s)
    assert g["gap_closed"].isna().all() and not g["rlhf_beats_noft"].any()


def test_gap_is_undefined_when_rlhf_is_not_detectably_above_noft():
    """RLHF a hair above NoFT (inside the noise) gave a ratio like 46.7 (4670 %) or 100 %:
    the preregistered rule prints it undefined."""
    base = _samples()
    noft = base[base.method == "NoFT"].set_index(["task", "prompt_id", "sample"])["reward"]
    s = base.copy()
    is_rlhf = s.method == "RLHF"
    key = list(
        zip(
            s.loc[is_rlhf, "task"],
            s.loc[is_rlhf, "prompt_id"],
            s.loc[is_rlhf, "sample"],
            strict=True,
        )
    )
    noise = np.random.default_rng(1).normal(0.0, 0.2, is_rlhf.sum())
    s.loc[is_rlhf, "reward"] = noft.loc[key].to_numpy() + 0.001 + noise - noise.mean()
    g = E.gap_closed(s)
    assert g["gap_closed"].isna().all() and g["gap_status"].str.startswith("undefined").all()


# --------------------------------------------------------------------------- report + CLI
def test_report_on_two_tiny_runs(tiny_path, tmp_path):
    for method in ("align-pro", "rlhf"):
        _run(_cfg(tiny_path, method, steps=1), tmp_path / method)
    model, tok = load_causal_lm(str(tiny_path), device="cpu")
    rep = tmp_path / "rep"
    rep.mkdir()
    (rep / "judgements.csv").write_text("left by an older report\n")
    tables = E.write_report([tmp_path / "align-pro", tmp_path / "rlhf"], rep, n_samples=2,
                      model=model, tok=tok, progress=False)  # fmt: skip
    s = tables["summary"]
    assert list(s["method"]) == ["NoFT", "Align-Pro", "RLHF"] and (s["n_prompts"] == 60).all()
    assert len(tables["gap"]) == 1 and len(tables["win_rates"]) == 3
    assert not (rep / "judgements.csv").exists()  # an older report's file goes with its set
    for name in (
        "samples.csv",
        "summary.csv",
        "paired.csv",
        "gap.csv",
        "win_rates.csv",
        "comparison.png",
        "report.json",
    ):
        assert (tmp_path / "rep" / name).is_file(), name
    again = E.load_report(tmp_path / "rep")
    pd.testing.assert_frame_equal(again["summary"], s, check_dtype=False, rtol=1e-9)
    meta = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert meta["n_samples"] == 2 and meta["pi_F_decoding"]["top_p"] == 1.0 and meta["machine"]

    # a report that fails while writing leaves the previous report byte-identical (one set)
    before = {p.name: p.read_bytes() for p in rep.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("failed while drawing")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RP, "plot_training", broken)
        with pytest.raises(RuntimeError):
            E.write_report([tmp_path / "align-pro", tmp_path / "rlhf"], rep, n_samples=2,
                     model=model, tok=tok, progress=False)  # fmt: skip
    assert {p.name: p.read_bytes() for p in rep.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--method", "dpo", "--task", "kindness", "--out", "X"], "invalid choice"),
        (["train", "--method", "rlhf", "--task", "poetry", "--out", "X"], "invalid choice"),
        (
            ["train", "--method", "align-pro", "--task", "kindness", "--beta", "0.1", "--out", "X"],
            "--beta",
        ),
        (["train", "--method", "rlhf", "--task", "kindness", "--k", "1", "--out", "X"], "--k"),
        (["train", "--method", "rlhf", "--task", "kindness", "--lam", "-1", "--out", "X"], "lam"),
        (
            ["train", "--method", "rlhf", "--task", "kindness", "--steps", "0", "--out", "X"],
            "--steps",
        ),
        (
            [
                "train",
                "--method",
                "align-pro",
                "--task",
                "kindness",
                "--sft-adapter",
                "/nope",
                "--out",
                "X",
            ],
            "sft-adapter",
        ),
        (["report", "/does/not/exist", "--out", "X"], "does not exist"),
    ],
)
def test_cli_errors_are_one_line_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "X").exists()


def test_cli_report_on_a_non_run_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- run folders (issue 9)
TRAIN = ["train", "--method", "rlhf", "--task", "kindness", "--no-progress"]


def _no_model(monkeypatch):
    """Fail the test if anything loads a model or starts the evaluation."""

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the arguments were checked")

    monkeypatch.setattr(RN, "load_model", boom)
    monkeypatch.setattr(RP, "load_model", boom)
    monkeypatch.setattr(RP, "evaluate_runs", boom)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _run_folder(path, run_json=None, metrics=None):
    """A finished-looking run folder by hand: run.json, adapter/, metrics.csv (no training)."""
    path.mkdir(parents=True, exist_ok=True)
    cfg = E.RunConfig(method="rlhf", task="kindness").to_json()
    text = run_json if run_json is not None else json.dumps(cfg)
    (path / "run.json").write_bytes(text if isinstance(text, bytes) else text.encode())
    (path / "adapter").mkdir(exist_ok=True)
    (path / "adapter" / "adapter_config.json").write_text("{}")
    if metrics is not None:
        data = metrics if isinstance(metrics, bytes) else metrics.encode()
        (path / "metrics.csv").write_bytes(data)
    return path


_GOOD = E.RunConfig(method="rlhf", task="kindness").to_json()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{}", r"run.json: missing keys 'method', 'task', 'lam'"),
        (
            json.dumps({k: v for k, v in _GOOD.items() if k != "lam"}),
            r"run.json: missing key 'lam'",
        ),
        ("{\n", r"run.json is not valid JSON \(Expecting .*line 2 column 1"),
        ("", r"run.json is not valid JSON \(Expecting value: line 1 column 1"),
        (b"\xff\xfe{}", r"run.json: not UTF-8 text"),
        ("[1, 2]", r"run.json: expected a JSON object of run settings, got list"),
        (
            json.dumps({**_GOOD, "steps": "ten"}),
            r"run.json: field 'steps': must be an integer, got 'ten'",
        ),
        (json.dumps({**_GOOD, "steps": True}), r"run.json: field 'steps': must be an integer"),
        (json.dumps({**_GOOD, "lr": "fast"}), r"run.json: field 'lr': must be a finite number"),
        (json.dumps({**_GOOD, "model": 3}), r"run.json: field 'model': must be a non-empty string"),
        (json.dumps({**_GOOD, "beta": -1}), r"run.json: beta must be > 0"),
        (json.dumps({**_GOOD, "lam": 0.1}), r"run.json: lam is not a setting of method 'rlhf'"),
        (json.dumps({**_GOOD, "method": "dpo"}), r"run.json: method must be one of"),
    ],
)
def test_broken_run_json_names_the_file_and_the_key(tmp_path, content, match):
    _run_folder(tmp_path / "r", run_json=content)
    with pytest.raises(ValueError, match=match) as err:
        E.read_run(tmp_path / "r")
    assert str(tmp_path / "r" / "run.json") in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_run_json_round_trip_and_integral_floats(tmp_path):
    cfg = E.RunConfig(method="align-pro", task="helpfulness", steps=7, sft_adapter="x/sft")
    _run_folder(tmp_path / "r", run_json=json.dumps(cfg.to_json()))
    assert E.read_run(tmp_path / "r") == cfg
    assert E.RunConfig.from_json({**cfg.to_json(), "steps": 7.0}) == cfg
    with pytest.raises(ValueError, match="unknown field 'extra'"):  # a typo is never ignored
        E.RunConfig.from_json({**cfg.to_json(), "extra": 1})
    for run in sorted((Path(__file__).parents[1] / "runs").glob("*/run.json")):
        assert E.check_run_dir(run.parent) == E.read_run(run.parent)  # shipped runs still pass
        assert len(E.read_metrics(run.parent)) == E.read_run(run.parent).steps


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        (b"step,reward_mean,kl\n1,\xff\xfe,0\n", "not UTF-8 text"),
        ("step,reward\n1,0.5\n", "has no columns 'reward_mean', 'kl'"),
        ("step,reward_mean,kl\n1,0.5,0.1,7,8\n", "is not a CSV table"),
        ("", "is not a CSV table"),
        (
            "step,reward_mean,kl\n1,0.5,0.1\n2,abc,0.2\n",
            "column 'reward_mean' is not numeric \\(row 2: 'abc'\\)",
        ),
    ],
)
def test_report_checks_metrics_csv_before_evaluating(tmp_path, monkeypatch, capsys, metrics, match):
    _no_model(monkeypatch)
    run = _run_folder(tmp_path / "r", metrics=metrics)
    with pytest.raises(ValueError, match=match) as err:
        E.write_report([run], tmp_path / "rep", progress=False)
    assert str(run / "metrics.csv") in str(err.value)
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 2
    line = _one_error_line(capsys)
    assert str(run / "metrics.csv") in line and "Traceback" not in line
    assert not (tmp_path / "rep").exists()


def test_cli_report_names_a_broken_run_json(tmp_path, monkeypatch, capsys):
    _no_model(monkeypatch)
    good = _run_folder(tmp_path / "good", metrics="step,reward_mean,kl\n1,0.5,0.1\n")
    bad = _run_folder(tmp_path / "bad", run_json="{\n")
    assert main(["report", str(good), str(bad), "--out", str(tmp_path / "rep")]) == 2
    line = _one_error_line(capsys)
    assert str(bad / "run.json") in line and "line 2 column 1" in line


def test_cli_train_out_is_a_file(tmp_path, monkeypatch, capsys):
    _no_model(monkeypatch)
    (tmp_path / "f").write_text("a file")
    assert main([*TRAIN, "--out", str(tmp_path / "f")]) == 2
    line = _one_error_line(capsys)
    assert "--out" in line and "not a folder" in line
    assert (tmp_path / "f").read_text() == "a file"


def test_cli_train_out_is_read_only(tmp_path, monkeypatch, capsys):
    _no_model(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root writes anyway: pretend the file system says no
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **k: Path(p) != ro and real(p, mode, **k))
    try:
        assert main([*TRAIN, "--out", str(ro)]) == 2
        line = _one_error_line(capsys)
        assert "--out" in line and "not writable" in line
        assert main([*TRAIN, "--out", str(ro / "new")]) == 2  # can not be created there
        assert "--out" in _one_error_line(capsys)
    finally:
        ro.chmod(0o755)
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize(
    ("files", "match"),
    [
        ({"run.json": "{\n"}, "run.json is not valid JSON"),
        ({"run.json": "{}"}, "run.json: missing keys"),
        (
            {"checkpoint.pt": "garbage"},
            "checkpoint.pt cannot be read by torch.*delete checkpoint.pt",
        ),
    ],
)
def test_cli_train_names_a_broken_file_in_out(tmp_path, monkeypatch, capsys, files, match):
    _no_model(monkeypatch)
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps(_GOOD))  # the CLI's default run: resumable
    for name, text in files.items():
        (out / name).write_text(text)
    assert main([*TRAIN, "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert re.search(match, line), line
    assert "PytorchStreamReader" not in line and "Traceback" not in line


def _fake_train_run(interrupt):
    """``train_run`` that trains a tabular prompter and is interrupted at step 7."""
    from alignpro_lite import teaching_problem
    from alignpro_lite.learn.policies import train_tabular

    def callback(step, row):
        if step == 7:
            interrupt()

    def fake(cfg, out, progress=True):
        return train_tabular(teaching_problem(), 0.3, steps=20, out_dir=out, progress=False,
                             checkpoint_every=5, callback=callback)  # fmt: skip

    return fake


def _sigterm():
    from alignpro_lite.learn.train import _StopSignals

    handler = signal.getsignal(signal.SIGTERM)  # only while train()'s handler is installed
    assert isinstance(getattr(handler, "__self__", None), _StopSignals), handler
    signal.raise_signal(signal.SIGTERM)


def _ctrl_c():
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("interrupt", "code", "how"), [(_sigterm, 143, "SIGTERM"), (_ctrl_c, 130, "interrupted")]
)
def test_cli_train_interrupted_saves_and_says_so(
    tmp_path, monkeypatch, capsys, interrupt, code, how
):
    monkeypatch.setattr(RN, "train_run", _fake_train_run(interrupt))
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out)]) == code
    line = _one_error_line(capsys)
    assert how in line and f"saved in {out} at step 7" in line and "resume" in line
    assert load_checkpoint(out)["step"] == 7


def test_cli_train_warns_in_one_line_and_resumes_from_the_previous_checkpoint(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(RN, "train_run", _fake_train_run(_ctrl_c))
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out)]) == 130  # checkpoints at 5 and 7
    capsys.readouterr()
    (out / "checkpoint.pt").write_bytes(b"")
    monkeypatch.setattr(RN, "train_run", _fake_train_run(lambda: None))
    assert main([*TRAIN, "--out", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alignpro-lite: warning: ")
    assert f"{out / 'checkpoint.pt'} is truncated (0 of" in err[0] and "(step 5)" in err[0]


def test_first_layout_samples_gain_kl_weight_columns():
    old = pd.DataFrame(
        {
            "task": ["kindness"] * 5,
            "method": ["NoFT", "Align-Pro", "Align-Pro λ=0.01", "Align-Pro λ=∞ (rho_sft)", "RLHF"],
            "reward": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    new = EV.migrate_samples(old, {"kindness": 0.05}, {"kindness": 0.07})
    assert new["lam"].tolist()[1:4] == [0.05, 0.01, np.inf] and np.isnan(new["lam"][0])
    assert new["beta"][4] == 0.07 and new["beta"][:4].isna().all()
    unknown = EV.migrate_samples(old)  # run folders unknown: NaN, never a guess
    assert np.isnan(unknown["lam"][1]) and np.isnan(unknown["beta"][4])
    assert EV.migrate_samples(new) is new  # current tables: unchanged
    from alignpro_lite.config import repo_root

    shipped = E.load_report(repo_root() / "runs" / "report")
    assert shipped["samples"]["lam"].dtype == float
    sweep = shipped["lam_sweep"]
    assert np.isinf(sweep["lam"]).any() and (sweep["route"] == "a").sum() == 1
    assert sweep["kl"].notna().all()


def test_the_reference_adapter_is_found_from_any_folder_or_named(tmp_path, monkeypatch):
    """`report` run from another folder silently evaluated the base model as rho_sft: the
    shipped run.json stores "runs/sft", relative to the repository (issue 24)."""
    from alignpro_lite.config import repo_root
    from alignpro_lite.experiment.runs import read_run, sft_reference_path

    run = repo_root() / "runs" / "route-a-kindness"
    monkeypatch.chdir(tmp_path)
    assert sft_reference_path(run, read_run(run)) == repo_root() / "runs" / "sft"
    cfg = read_run(run)
    import dataclasses

    gone = dataclasses.replace(cfg, sft_adapter="runs/no-such-sft")
    with pytest.raises(ValueError, match="not found"):
        sft_reference_path(run, gone)
    own = dataclasses.replace(cfg, sft_adapter=None, sft_steps=24)
    with pytest.raises(ValueError, match="SFT prompter"):
        sft_reference_path(tmp_path, own)
    assert sft_reference_path(tmp_path, dataclasses.replace(own, sft_steps=0)) is None


@pytest.mark.parametrize("where", ["adapter", "adapter/adapter_config.json", "sft"])
def test_train_never_writes_through_a_link_in_its_out(tiny_path, tmp_path, where):
    """A link at OUT/adapter, OUT/adapter/adapter_config.json or OUT/sft pointing outside --out
    had train write the adapter (or the SFT prompter) into the outside folder or file."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file").write_text("precious")
    out = tmp_path / "run"
    link = out / where
    link.parent.mkdir(parents=True)
    link.symlink_to(victim / "file" if where.endswith(".json") else victim)
    _run(_cfg(tiny_path, "align-pro", steps=1, sft_steps=1), out)
    assert sorted(p.name for p in victim.iterdir()) == ["file"]
    assert (victim / "file").read_text() == "precious"
    for sub in ("adapter", "sft"):
        assert (out / sub / "adapter_config.json").is_file() and not (out / sub).is_symlink()
