"""The experiment driver (experiment.py) and the `train` / `report` commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from alignpro_lite import experiment as E
from alignpro_lite.cli import main
from alignpro_lite.lm import load_causal_lm
from alignpro_lite.policies import one_thread
from alignpro_lite.train import load_checkpoint

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
        _run(E.RunConfig(**{**cfg.to_json(), "lam": 0.5}), tmp_path / "r")
    E.strip_checkpoint(tmp_path / "r")  # shipped form: adapter, no checkpoint
    with pytest.raises(ValueError, match="finished run"):
        _run(cfg, tmp_path / "r")


def test_run_config_errors():
    with pytest.raises(ValueError, match="method"):
        E.RunConfig(method="dpo", task="kindness")
    with pytest.raises(ValueError, match="task"):
        E.RunConfig(method="rlhf", task="poetry")
    with pytest.raises(ValueError, match="lam"):
        E.RunConfig(method="rlhf", task="kindness", lam=0)
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
                    rows.append(dict(task=task, method=method, prompt_id=pid, sample=s, x="x",
                                     x_prime="x", y="y", reward=mu + sd * rng.standard_normal(),
                                     preservation=1.0))  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_gap_and_ci():
    s = E.summary_table(_samples())
    assert len(s) == 6 and set(s["method"]) == {"NoFT", "Align-Pro", "RLHF"}
    assert (s["ci_low"] < s["mean"]).all() and (s["mean"] < s["ci_high"]).all()
    g = E.gap_closed(s).set_index("task")
    row = s.set_index(["task", "method"])["mean"]
    want = (row["kindness", "Align-Pro"] - row["kindness", "NoFT"]) / (
        row["kindness", "RLHF"] - row["kindness", "NoFT"]
    )
    assert g.loc["kindness", "gap_closed"] == pytest.approx(want)
    assert g["ap_lower_variance"].all()
    # a t-interval over 30 per-prompt means: half-width = t_.975(29) sd / sqrt(30)
    k = _samples().query("task == 'kindness' and method == 'NoFT'")
    pm = k.groupby("prompt_id")["reward"].mean()
    half = 2.045229642 * pm.std(ddof=1) / np.sqrt(30)
    assert s.iloc[0]["ci_high"] - s.iloc[0]["mean"] == pytest.approx(half, rel=1e-6)


def test_gap_is_nan_when_rlhf_does_not_beat_noft():
    s = E.summary_table(
        _samples().assign(reward=lambda d: np.where(d.method == "RLHF", -1.0, d.reward))
    )
    assert E.gap_closed(s)["gap_closed"].isna().all()


def test_wilson_interval():
    lo, hi = E._wilson(0.5, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)


# --------------------------------------------------------------------------- report + CLI
def test_report_on_two_tiny_runs(tiny_path, tmp_path):
    for method in ("align-pro", "rlhf"):
        _run(_cfg(tiny_path, method, steps=1), tmp_path / method)
    model, tok = load_causal_lm(str(tiny_path), device="cpu")
    tables = E.report([tmp_path / "align-pro", tmp_path / "rlhf"], tmp_path / "rep", n_samples=1,
                      model=model, tok=tok, progress=False)  # fmt: skip
    s = tables["summary"]
    assert list(s["method"]) == ["NoFT", "Align-Pro", "RLHF"] and (s["n_prompts"] == 30).all()
    assert len(tables["gap"]) == 1 and len(tables["win_rates"]) == 2
    assert ((tables["win_rates"]["win_rate"] >= 0) & (tables["win_rates"]["win_rate"] <= 1)).all()
    for name in (
        "samples.csv",
        "summary.csv",
        "gap.csv",
        "win_rates.csv",
        "comparison.png",
        "report.json",
    ):
        assert (tmp_path / "rep" / name).is_file(), name
    again = E.load_report(tmp_path / "rep")
    pd.testing.assert_frame_equal(again["summary"], s, check_dtype=False, rtol=1e-9)
    assert json.loads((tmp_path / "rep" / "report.json").read_text())["n_samples"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--method", "dpo", "--task", "kindness", "--out", "X"], "invalid choice"),
        (["train", "--method", "rlhf", "--task", "poetry", "--out", "X"], "invalid choice"),
        (
            ["train", "--method", "align-pro", "--task", "kindness", "--beta", "0.1", "--out", "X"],
            "--beta",
        ),
        (["train", "--method", "rlhf", "--task", "kindness", "--k", "1", "--out", "X"], "k must"),
        (["train", "--method", "rlhf", "--task", "kindness", "--lam", "-1", "--out", "X"], "lam"),
        (
            ["train", "--method", "rlhf", "--task", "kindness", "--steps", "0", "--out", "X"],
            "must be >= 1",
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
