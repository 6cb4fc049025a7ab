"""The `alignpro-lite` command: sweep outputs, help, and one-line errors with exit code 2."""

import subprocess
import sys

import pandas as pd
import pytest

from alignpro_lite.cli import main


def test_sweep_teaching_writes_csv_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sweep", "--problem", "teaching", "--lams", "1e-3:1e2:20", "--out", str(out)]) == 0
    df = pd.read_csv(out / "sweep.csv")
    assert len(df) == 20 * 4
    assert {"lam", "prompt_id", "mean_reward", "var_noise", "var_choice", "kl", "objective"} <= set(
        df
    )
    # objective = reward - λ KL on every row
    assert ((df.mean_reward - df.lam * df.kl - df.objective).abs() < 1e-9).all()
    # small λ: higher reward than large λ (the prompter moves towards better rewrites)
    first, last = df[df.lam == df.lam.min()], df[df.lam == df.lam.max()]
    assert first.mean_reward.mean() > last.mean_reward.mean()
    summary = pd.read_csv(out / "sweep_summary.csv")
    assert len(summary) == 20
    for png in ("sweep.png", "rho_vs_lam.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.tmp")]


def test_sweep_random_and_a_file(tmp_path):
    assert (
        main(
            [
                "sweep",
                "--problem",
                "random",
                "--n-x",
                "7",
                "--lams",
                "0.1,1",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert len(pd.read_csv(tmp_path / "r" / "sweep.csv")) == 14
    from alignpro_lite.config import data_dir

    assert (
        main(
            [
                "sweep",
                "--problem",
                str(data_dir() / "teaching.json"),
                "--lams",
                "1",
                "--out",
                str(tmp_path / "f"),
            ]
        )
        == 0
    )


@pytest.mark.parametrize(
    "args, match",
    [
        (["sweep", "--out", "X", "--lams", "0:1:3"], "--lams"),
        (["sweep", "--out", "X", "--lams", "a:b"], "--lams"),
        (["sweep", "--out", "X", "--problem", "missing.json"], "no such file"),
        (["sweep"], "--out"),
        (["nope"], "invalid choice"),
    ],
)
def test_bad_arguments_one_line_exit_2(tmp_path, capsys, args, match):
    args = [a.replace("X", str(tmp_path / "o")) for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_corrupt_problem_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["sweep", "--problem", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_console_script_help():
    res = subprocess.run(
        [sys.executable, "-m", "alignpro_lite.cli", "sweep", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for opt in ("--problem", "--lams", "--out", "LO:HI:N"):
        assert opt in res.stdout


def test_sweep_accepts_a_shipped_estimated_table(tmp_path):
    assert (
        main(
            [
                "sweep",
                "--problem",
                "kindness_test",
                "--lams",
                "0.01,1",
                "--out",
                str(tmp_path / "k"),
            ]
        )
        == 0
    )
    df = pd.read_csv(tmp_path / "k" / "sweep.csv")
    assert len(df) == 2 * 30 and df.mean_reward.notna().all()


@pytest.mark.parametrize(
    "args, match",
    [
        (["estimate", "--task", "poetry", "--out", "X"], "--task"),
        (["estimate", "--split", "dev", "--out", "X"], "--split"),
        (["estimate", "--samples", "1", "--out", "X"], "--samples"),
        (["estimate", "--temperature", "0", "--out", "X"], "--temperature"),
    ],
)
def test_estimate_bad_arguments(tmp_path, capsys, args, match):
    args = [a.replace("X", str(tmp_path / "o")) for a in args]
    assert main(args) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
