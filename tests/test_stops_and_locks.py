"""How long commands stop, share and resume an output folder (issue 24's probes).

* One SIGTERM behaviour for every command: exit 143 and one line on stderr that says finished
  work is kept (before: ``train`` 143, route (a) inside ``replicate`` 130 "interrupted", the
  bank stage killed silently with -15).
* A lock per ``--out`` for ``train`` and ``lam-sweep`` too (``replicate`` had one); stale
  staging folders of a killed run are swept when the lock is taken, never a live one.
* A refusal to resume names what changed (an edited rho_sft adapter, a changed setting).
* A broken task file or ``$ALIGNPRO_CACHE`` is named before the model load and before any
  settings file is written.
* ``sweep_metrics`` with rewards near the float limit stays finite (no NaN, no warning).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alignpro_lite as apl
from alignpro_lite.atomic import out_lock
from alignpro_lite.cli import main
from alignpro_lite.config import repo_root
from alignpro_lite.experiment import runs as RN

TRAIN = ["train", "--method", "rlhf", "--task", "kindness", "--no-progress"]


# --------------------------------------------------------------------------- one SIGTERM behaviour
def _run_patched(patch: str, argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``alignpro-lite ARGV`` in a fresh interpreter after ``patch`` (Python) replaced a stage."""
    code = (
        "import signal, sys\n"
        "import alignpro_lite.cli as cli\n"
        f"{patch}\n"
        f"sys.exit(cli.main({argv!r}))\n"
    )
    env = {**os.environ, "ALIGNPRO_FAST": "1"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=env)  # fmt: skip


def _kill_self() -> str:
    return "lambda *a, **k: signal.raise_signal(signal.SIGTERM)"


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("cmd_sweep", ["sweep", "--out", "o"]),
        ("cmd_estimate", ["estimate", "--task", "kindness", "--out", "o"]),
        ("cmd_report", ["report", "r", "--out", "o"]),
        ("cmd_replicate", ["replicate", "--out", "o"]),
        ("cmd_lam_sweep", ["lam-sweep", "--out", "o"]),
        ("cmd_pool", ["pool", "--runs", "r"]),
    ],
)
def test_every_command_stops_on_sigterm_with_exit_143_and_one_line(tmp_path, command, argv):
    res = _run_patched(f"cli.{command} = {_kill_self()}", argv, tmp_path)
    assert res.returncode == 143, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("alignpro-lite: stopped by SIGTERM")
    assert "run the same command again" in lines[0]


def test_the_bank_stage_stops_like_every_other_stage(tmp_path):
    """Before: the bank stage had no handler and the process died silently (-15)."""
    patch = (
        "import alignpro_lite.experiment.replicate as R\n"
        f"R.replicate = {_kill_self()}"  # the library call under `replicate`, bank stage included
    )
    res = _run_patched(patch, ["replicate", "--out", "o", "--no-progress"], tmp_path)
    assert res.returncode == 143 and "stopped by SIGTERM" in res.stderr, res.stderr[-2000:]


def test_route_a_inside_replicate_stops_with_143_not_130(tmp_path):
    """Route (a) trains through train(), whose own handler raises TrainingInterrupted."""
    patch = (
        "import alignpro_lite.experiment.replicate as R\n"
        "from alignpro_lite.learn.train import TrainingInterrupted\n"
        "def stopped(*a, **k):\n    raise TrainingInterrupted()\n"
        "R.replicate = stopped"
    )
    res = _run_patched(patch, ["replicate", "--out", "o", "--no-progress"], tmp_path)
    assert res.returncode == 143, res.stderr[-2000:]
    assert "stopped by SIGTERM" in res.stderr and "interrupted" not in res.stderr


def test_ctrl_c_is_one_line_with_exit_130(tmp_path):
    patch = "def stop(*a, **k):\n    raise KeyboardInterrupt\ncli.cmd_sweep = stop"
    res = _run_patched(patch, ["sweep", "--out", "o"], tmp_path)
    assert res.returncode == 130
    (line,) = res.stderr.strip().splitlines()
    assert "interrupted (Ctrl-C)" in line and "run the same command again" in line


def test_main_restores_the_previous_sigterm_handler():
    import signal

    before = signal.getsignal(signal.SIGTERM)
    assert main(["sweep", "--out", ""]) == 2
    assert signal.getsignal(signal.SIGTERM) is before


# --------------------------------------------------------------------------- locks
@pytest.fixture
def held(tmp_path):
    """``tmp_path/out`` locked by another process for the test's duration."""
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import time; from alignpro_lite.atomic import out_lock\n"
        f"with out_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        yield out
    finally:
        holder.kill()
        holder.wait()


def _no_model(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(RN, "load_model", boom)
    monkeypatch.setattr("alignpro_lite.llm.lm.load_causal_lm", boom)


def test_train_on_a_folder_in_use_stops_at_once(held, monkeypatch, capsys):
    _no_model(monkeypatch)
    assert main([*TRAIN, "--out", str(held)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "in use by another alignpro-lite process" in err
    assert not (held / "run.json").exists()


def test_lam_sweep_on_a_folder_in_use_stops_at_once(held, monkeypatch, capsys):
    _no_model(monkeypatch)
    assert main(["lam-sweep", "--runs", str(repo_root() / "runs"), "--out", str(held),
                 "--no-progress"]) == 2  # fmt: skip
    assert "in use by another alignpro-lite process" in capsys.readouterr().err


def test_taking_the_lock_sweeps_stale_staging_but_not_a_live_one(tmp_path):
    from alignpro_lite.atomic import _hold, sweep_stale

    out = tmp_path / "out"
    (out / "sft.tmp").mkdir(parents=True)  # a stage folder of a killed run
    (out / "sft.tmp" / "adapter_model.safetensors").write_bytes(b"half")
    (out / "eval" / "kindness").mkdir(parents=True)
    (out / "eval" / "kindness" / "RLHF.csv.tmp").write_text("half")
    (out / ".report.tmp-dead").mkdir()  # a staged report of a killed run
    live = out / ".report.tmp-live"
    live.mkdir()
    fd = _hold(live)  # another writer still works in this one
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "link.tmp").symlink_to(victim)  # a link is removed, never followed
    keep = out / "eval" / "kindness" / "RLHF.csv"
    keep.write_text("done")
    try:
        with out_lock(out):
            pass
        assert not (out / "sft.tmp").exists() and not (out / ".report.tmp-dead").exists()
        assert not (out / "eval" / "kindness" / "RLHF.csv.tmp").exists()
        assert live.is_dir() and keep.read_text() == "done"
        assert victim.read_text() == "precious" and not os.path.lexists(out / "link.tmp")
    finally:
        os.close(fd)
    assert sweep_stale(out) == [live]


def test_a_report_sweeps_the_staging_folder_a_killed_report_left(tmp_path):
    from alignpro_lite.atomic import staged_dir

    out = tmp_path / "report"
    stale = tmp_path / ".report.tmp-killed"
    stale.mkdir()
    with staged_dir(out) as tmp:
        (tmp / "a.csv").write_text("1")
    assert not stale.exists() and (out / "a.csv").read_text() == "1"


# --------------------------------------------------------------------------- what changed
def test_a_bank_refusal_names_the_edited_rho_sft_adapter(tmp_path):
    from alignpro_lite.learn import bank as B
    from alignpro_lite.llm.frozen import PI_F_DECODING

    spec = B.BankSpec(task="kindness", n_prompts=2)
    folder = tmp_path / "bank"
    folder.mkdir()
    manifest = {"spec": asdict(spec), "model": "fp", "reference": "a" * 64,
                "pi_F_decoding": PI_F_DECODING.kwargs(), "stages": {}}  # fmt: skip
    (folder / B.MANIFEST).write_text(json.dumps(manifest))

    class Model:
        alignpro_fingerprint = "fp"

    with pytest.raises(ValueError) as err:
        B.build_bank(spec, folder, Model(), None, reference="b" * 64, progress=False)
    msg = str(err.value)
    assert "rho_sft adapter" in msg and "'aaaa" in msg and "'bbbb" in msg
    assert "n_rewrites" not in msg  # unchanged settings are not listed
    spec2 = B.BankSpec(task="kindness", n_prompts=2, temperature=0.9)
    with pytest.raises(ValueError, match=r"spec\.temperature \(saved 0\.7, now 0\.9\)"):
        B.build_bank(spec2, folder, Model(), None, reference="a" * 64, progress=False)


def test_what_changed_lists_only_the_differences():
    from alignpro_lite.exact.validate import what_changed

    saved = {"a": 1, "b": {"c": 2, "d": 3}, "gone": 1}
    now = {"a": 1, "b": {"c": 2, "d": 4}, "new": 5}
    text = what_changed(saved, now, {"b": "setting"})
    assert text == (
        "setting: b.d (saved 3, now 4); gone (saved 1, now None); new (saved None, now 5)"
    )
    assert what_changed({"a": 1}, {"a": 1}) == "nothing named"


def test_train_names_the_setting_that_changed(tmp_path, monkeypatch, capsys):
    _no_model(monkeypatch)
    out = tmp_path / "run"
    out.mkdir()
    cfg = RN.RunConfig(method="rlhf", task="kindness", steps=2)
    (out / "run.json").write_text(json.dumps(cfg.to_json()))
    assert main([*TRAIN, "--steps", "2", "--lr", "0.5", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lr (saved" in err and "now 0.5)" in err


# --------------------------------------------------------------------------- early errors
def _broken_tasks(tmp_path, monkeypatch) -> Path:
    data = tmp_path / "data"
    (data / "tasks").mkdir(parents=True)
    src = apl.data_dir() / "tasks"
    for f in src.glob("*.jsonl"):
        (data / "tasks" / f.name).write_bytes(f.read_bytes())
    bad = data / "tasks" / "kindness_train.jsonl"
    bad.write_text('{"id": "kind-train-001", "task": "kindness"\n', encoding="utf-8")
    monkeypatch.setenv("ALIGNPRO_DATA", str(data))
    return bad


def test_train_names_a_broken_task_file_before_loading_the_model(tmp_path, monkeypatch, capsys):
    bad = _broken_tasks(tmp_path, monkeypatch)
    _no_model(monkeypatch)
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and not (out / "run.json").exists()


def test_estimate_names_a_broken_task_file_before_loading_the_model(tmp_path, monkeypatch, capsys):
    bad = _broken_tasks(tmp_path, monkeypatch)
    _no_model(monkeypatch)
    rc = main(["estimate", "--task", "kindness", "--split", "train", "--out",
               str(tmp_path / "t")])  # fmt: skip
    assert rc == 2 and str(bad) in capsys.readouterr().err


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_a_bad_cache_is_named_before_run_json_is_written(tmp_path, monkeypatch, capsys, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("ALIGNPRO_CACHE", str(blocker if where == "a file" else blocker / "c"))
    _no_model(monkeypatch)
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ALIGNPRO_CACHE" in err and not (out / "run.json").exists()


def test_estimate_blames_a_bad_cache_not_the_model(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv("ALIGNPRO_CACHE", str(blocker))
    _no_model(monkeypatch)
    rc = main(["estimate", "--task", "kindness", "--split", "train", "--out",
               str(tmp_path / "t")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "ALIGNPRO_CACHE" in err and "--model" not in err


# --------------------------------------------------------------------------- numeric edge
def test_sweep_metrics_with_rewards_near_the_float_limit_stay_finite():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = apl.sweep_metrics([[0.5, 0.5]], [[1e308, -1e308]], [0.5, 1e307, 1e308])
    assert not np.isnan(m["mean_variance"]).any()
    assert m["mean_reward"][0] == 1e308 and m["mean_variance"][0] == 0.0
    np.testing.assert_allclose(m["mean_reward"][2], 1e308 * np.tanh(1.0), rtol=1e-12)
    assert np.isinf(m["mean_variance"][2])  # the true variance (~4e615) is past the float limit
    np.testing.assert_allclose(m["rho"][2, 0], [1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))])
    # the same problem in units of 1e150: the same rho* and KL, variances times 1e300
    a = apl.sweep_metrics([[0.25, 0.75]], [[1.0, -2.0]], [0.1, 1.0])
    b = apl.sweep_metrics([[0.25, 0.75]], [[1e150, -2e150]], [1e149, 1e150])
    np.testing.assert_allclose(a["rho"], b["rho"], rtol=1e-12)
    np.testing.assert_allclose(a["mean_kl"], b["mean_kl"], rtol=1e-12)
    np.testing.assert_allclose(b["mean_variance"] / 1e300, a["mean_variance"], rtol=1e-9)


def test_an_edited_saved_adapter_is_refused_when_loaded(tiny_path, tmp_path):
    """Every adapter save_lora writes carries its weights' SHA-256; load_lora checks it."""
    from alignpro_lite.llm import lm, lora

    model, _ = lm.load_causal_lm(str(tiny_path), device="cpu")
    model = lora.add_lora(model, "p", lora.LoRASpec(r=2))
    folder = lora.save_lora(model, "p", tmp_path / "adapter")
    assert (folder / lora.DIGEST_FILE).is_file()
    lora.load_lora(model, folder, "q")  # untouched: loads
    weights = folder / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one bit of one weight: the file is still valid safetensors
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="weights were changed after they were saved"):
        lora.load_lora(model, folder, "r")


# --------------------------------------------------------------------------- the review's probes
def test_an_edited_adapter_config_is_refused_when_loaded(tiny_path, tmp_path):
    """lora_alpha 16 -> 160 scales every update ten times; the weights alone did not notice."""
    from alignpro_lite.llm import lm, lora

    model, _ = lm.load_causal_lm(str(tiny_path), device="cpu")
    model = lora.add_lora(model, "p", lora.LoRASpec(r=2))
    folder = lora.save_lora(model, "p", tmp_path / "adapter")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    cfg["lora_alpha"] = 10 * cfg["lora_alpha"]
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="adapter_config.json was changed"):
        lora.load_lora(model, folder, "q")


@pytest.mark.parametrize("how", ["strip the digests", "delete report.json"])
def test_a_report_cannot_dodge_its_check_by_dropping_its_digests(tmp_path, how):
    import shutil

    from alignpro_lite.experiment.report import load_report

    folder = tmp_path / "report"
    shutil.copytree(repo_root() / "runs" / "report", folder)
    samples = folder / "samples.csv"
    samples.write_text(samples.read_text().replace(",RLHF,", ",RLHF,"))  # unchanged so far
    load_report(folder)
    meta = json.loads((folder / "report.json").read_text())
    if how == "delete report.json":
        (folder / "report.json").unlink()
    else:
        meta.pop("outputs_sha256")
        (folder / "report.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no SHA-256 of its files is recorded"):
        load_report(folder)


def test_a_leftover_sft_folder_without_its_adapter_is_replaced_not_a_dead_end(tmp_path):
    """replicate's SFT stage failed on every rerun with 'sft.tmp: Directory not empty'."""
    from alignpro_lite.atomic import replace_folder

    out = tmp_path / "out"
    (out / "sft").mkdir(parents=True)
    (out / "sft" / "loss.csv").write_text("old")
    new = out / "sft.tmp"
    new.mkdir()
    (new / "adapter_config.json").write_text("{}")
    replace_folder(new, out / "sft")
    assert (out / "sft" / "adapter_config.json").is_file() and not (
        out / "sft" / "loss.csv"
    ).exists()
    assert not new.exists()
    victim = tmp_path / "victim"
    victim.mkdir()
    (out / "adapter").symlink_to(victim)  # a link where the adapter goes: replaced, not entered
    again = out / "adapter.tmp"
    again.mkdir()
    (again / "adapter_config.json").write_text("{}")
    replace_folder(again, out / "adapter")
    assert not (out / "adapter").is_symlink() and list(victim.iterdir()) == []


def test_sft_refuses_a_pair_longer_than_the_context_before_any_step(tiny_path):
    """One SFT step on a 9,000-token prompt ran 142 s at 15.9 GB before anything said no."""
    import time

    from alignpro_lite.learn import generative as G
    from alignpro_lite.llm import lm, lora

    model, tok = lm.load_causal_lm(str(tiny_path), device="cpu")  # context 512 tokens
    model = lora.add_lora(model, "sft", lora.LoRASpec(r=2))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"rewrite pair 1 .* the model's context is 512 tokens"):
        G.sft_prompter(model, tok, [("hello", "hello kind"), ("word " * 600, "be kind")],
                       steps=1, batch_size=1, progress=False)  # fmt: skip
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("command", [["sweep"], ["report", "runs/route-a-kindness"],
                                     ["estimate", "--task", "kindness"]])  # fmt: skip
def test_a_link_loop_below_out_is_one_line_at_once(tmp_path, monkeypatch, capsys, command):
    _no_model(monkeypatch)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main([*command, "--out", str(tmp_path / "a" / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "loop" in err


def test_a_dangling_link_as_out_creates_nothing_where_it_points(tmp_path, capsys):
    (tmp_path / "dang").symlink_to(tmp_path / "nowhere" / "x")
    assert main(["sweep", "--out", str(tmp_path / "dang")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


def test_the_folder_that_holds_the_sources_is_refused_as_out(capsys, monkeypatch):
    monkeypatch.chdir(repo_root())
    assert main(["sweep", "--out", "data", "--lams", "1,2"]) == 2
    assert "data/" in capsys.readouterr().err
    assert not (repo_root() / "data" / "sweep.csv").exists()


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.__setitem__("n_sample", d.pop("n_samples")), "unknown field 'n_sample'. Did you mean 'n_samples'"),
    (lambda d: d.__setitem__("extra_key", 1), "unknown field 'extra_key'"),
])  # fmt: skip
def test_replicate_json_names_an_unknown_key(tmp_path, edit, match):
    from alignpro_lite.experiment.replicate import read_saved_config

    d = json.loads((repo_root() / "runs" / "round2" / "seed0" / "replicate.json").read_text())
    edit(d)
    (tmp_path / "replicate.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match):
        read_saved_config(tmp_path / "replicate.json")


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.__setitem__("stesp", d.pop("steps")), "unknown field 'stesp'. Did you mean 'steps'"),
    (lambda d: d.__setitem__("bogus", 1), "unknown field 'bogus'"),
])  # fmt: skip
def test_run_json_names_an_unknown_key(tmp_path, edit, match):
    from alignpro_lite.experiment.runs import read_run

    d = json.loads((repo_root() / "runs" / "route-a-kindness" / "run.json").read_text())
    edit(d)
    (tmp_path / "run.json").write_text(json.dumps(d))
    with pytest.raises(ValueError, match=match):
        read_run(tmp_path)


def test_an_eval_cache_whose_key_lost_its_digest_is_recomputed_not_trusted(tmp_path):
    from alignpro_lite.experiment.replicate import cache_is_fresh, write_cache_key

    path = tmp_path / "RLHF.csv"
    pd.DataFrame({"reward": [0.1, 0.2]}).to_csv(path, index=False)
    write_cache_key(path, {"n": 2})
    assert cache_is_fresh(path, {"n": 2})
    pd.DataFrame({"reward": [1.0, 1.0]}).to_csv(path, index=False)
    key = json.loads(path.with_suffix(".json").read_text())
    key.pop("csv_sha256")
    path.with_suffix(".json").write_text(json.dumps(key))
    assert not cache_is_fresh(path, {"n": 2})
