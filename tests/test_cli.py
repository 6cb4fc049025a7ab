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
    assert len(df) == 2 * 60 and df.mean_reward.notna().all()  # 2 λ x 60 test prompts


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


# --------------------------------------------------------------------------- issue 9: nothing
# half-written, nothing silently wrong. Every error: exit 2, one line naming the argument or
# file, and the outputs already in --out byte-identical afterwards.
def _snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_line_exit_2(argv, capsys, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    return err


@pytest.fixture
def old_sweep(tmp_path):
    """A folder holding a finished sweep (the outputs a failed command must not touch)."""
    out = tmp_path / "sweep"
    assert main(["sweep", "--lams", "0.1,1", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--lams", "nan:1:3"], "--lams"),
        (["--lams", "1:inf:3"], "--lams"),
        (["--lams", "0.1,nan"], "--lams"),
        (["--lams", "0.1,-1"], "--lams"),
        (["--lams", "1e-3:1e2:1000000"], "--lams"),
        (["--lams", "1:2:3:4"], "--lams"),
        (["--lams", ","], "--lams"),
        (["--seed", "-1", "--problem", "random"], "--seed"),
        (["--seed", "x", "--problem", "random"], "--seed"),
        (["--n-x", "0", "--problem", "random"], "--n-x"),
        (["--n-x", "100000", "--n-c", "1000", "--problem", "random"], "--n-x"),
        (
            ["--problem", "random", "--n-x", "2000", "--n-c", "1000", "--lams", "1e-3:1:20"],
            "--lams",
        ),
    ],
)
def test_sweep_bad_values_leave_old_outputs_byte_identical(old_sweep, capsys, args, match):
    before = _snapshot(old_sweep)
    capsys.readouterr()
    _one_line_exit_2(["sweep", *args, "--out", str(old_sweep)], capsys, match)
    assert _snapshot(old_sweep) == before


def test_sweep_is_atomic_as_a_set(old_sweep, capsys, monkeypatch):
    """A failure while writing the 4th file keeps all 4 old files, not 3 new + 1 old."""
    from alignpro_lite.ui import plots

    before = _snapshot(old_sweep)

    def broken(*a, **k):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(plots, "plot_rho_vs_lam", broken)
    with pytest.raises(RuntimeError):
        main(["sweep", "--lams", "0.5,2,3", "--out", str(old_sweep)])
    assert _snapshot(old_sweep) == before
    assert not [p for p in old_sweep.parent.iterdir() if ".tmp-" in p.name]


def test_sweep_where_an_output_is_a_folder_fails_up_front(old_sweep, capsys):
    (old_sweep / "sweep.png").unlink()
    (old_sweep / "sweep.png").mkdir()
    before = _snapshot(old_sweep)
    capsys.readouterr()
    _one_line_exit_2(["sweep", "--lams", "0.5", "--out", str(old_sweep)], capsys, "sweep.png")
    assert _snapshot(old_sweep) == before


def test_out_that_is_a_file_or_empty(tmp_path, capsys):
    f = tmp_path / "f.csv"
    f.write_text("precious")
    _one_line_exit_2(["sweep", "--out", str(f)], capsys, "--out")
    assert f.read_text() == "precious"
    _one_line_exit_2(["sweep", "--out", ""], capsys, "--out is empty")
    _one_line_exit_2(
        ["estimate", "--task", "kindness", "--out", str(f)], capsys, "--out"
    )  # before the model is loaded
    from alignpro_lite.config import repo_root

    run = str(repo_root() / "runs" / "route-a-kindness")
    _one_line_exit_2(["report", run, "--out", str(f)], capsys, "--out")  # before evaluating
    assert f.read_text() == "precious"


def test_a_second_sweep_replaces_the_whole_set_and_keeps_other_files(old_sweep):
    (old_sweep / "my_notes.txt").write_text("mine")
    assert main(["sweep", "--lams", "0.5,2,3", "--out", str(old_sweep)]) == 0
    assert len(pd.read_csv(old_sweep / "sweep_summary.csv")) == 3
    assert (old_sweep / "my_notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--temperature", "nan"], "--temperature"),
        (["--temperature", "inf"], "--temperature"),
        (["--temperature", "-1"], "--temperature"),
        (["--top-p", "nan"], "--top-p"),
        (["--top-p", "1.5"], "--top-p"),
        (["--max-prompts", "-29"], "--max-prompts"),
        (["--max-prompts", "0"], "--max-prompts"),
        (["--seed", "-1"], "--seed"),
        (["--samples", "100000"], "--samples"),
        (["--batch-size", "0"], "--batch-size"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
    ],
)
def test_estimate_rejects_bad_values_before_any_work(tmp_path, capsys, args, match):
    _one_line_exit_2(["estimate", "--task", "kindness", *args, "--out", str(tmp_path / "o")],
                     capsys, match)  # fmt: skip
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--lam", "nan"], "--lam"),
        (["--lam", "inf"], "--lam"),
        (["--lr", "nan"], "--lr"),
        (["--mu", "nan"], "--mu"),
        (["--seed", "-3"], "--seed"),
        (["--sft-steps", "-1"], "--sft-steps"),
    ],
)
def test_train_rejects_non_finite_values(tmp_path, capsys, args, match):
    argv = ["train", "--method", "align-pro", "--task", "kindness", *args]
    _one_line_exit_2([*argv, "--out", str(tmp_path / "o")], capsys, match)
    assert not (tmp_path / "o").exists()


def test_replicate_estimate_and_bad_arguments(tmp_path, capsys):
    assert main(["replicate", "--estimate", "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    for stage in ("sft", "bank", "fits", "route_a", "evaluation", "total"):
        assert stage in out
    assert not (tmp_path / "rep").exists()  # an estimate writes nothing
    _one_line_exit_2(["replicate", "--tasks", "poetry", "--out", str(tmp_path)], capsys, "--tasks")
    f = tmp_path / "f.csv"
    f.write_text("precious")
    _one_line_exit_2(["replicate", "--out", str(f)], capsys, "--out")
    assert f.read_text() == "precious"


def test_lam_sweep_bad_arguments_are_one_line_errors(tmp_path, capsys):
    _one_line_exit_2(
        ["lam-sweep", "--factors", "0", "--out", str(tmp_path / "o")], capsys, "--factors"
    )
    _one_line_exit_2(
        ["lam-sweep", "--factors", "abc", "--out", str(tmp_path / "o")], capsys, "--factors"
    )
    _one_line_exit_2(
        ["lam-sweep", "--task", "poetry", "--out", str(tmp_path / "o")], capsys, "--task"
    )
    _one_line_exit_2(
        ["lam-sweep", "--runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")], capsys,
        "no replication",
    )  # fmt: skip
    f = tmp_path / "f.csv"
    f.write_text("precious")
    _one_line_exit_2(["lam-sweep", "--out", str(f)], capsys, "--out")
    assert f.read_text() == "precious"
    _one_line_exit_2(["replicate", "--fit", "adam", "--out", str(tmp_path / "r")], capsys, "--fit")


def test_bad_device_and_symlink_loop_are_one_line_errors(tmp_path, capsys):
    """`--device tpu` failed with a RuntimeError after replicate.json was written; a symlink loop
    as --out gave a RuntimeError traceback (issue 24)."""
    from alignpro_lite.cli import main

    out = tmp_path / "rep"
    assert main(["replicate", "--device", "tpu", "--out", str(out)]) == 2
    assert "--device" in capsys.readouterr().err and not out.exists()
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert main(["replicate", "--estimate", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic-link loop" in err


def test_setup_refuses_truthy_strings_bad_devices_and_seeds():
    import alignpro_lite as apl

    for kw, word in (
        ({"fast": "no"}, "fast"),
        ({"device": "tpu"}, "device"),
        ({"seed": "x"}, "seed"),
    ):
        with pytest.raises(ValueError, match=word):
            apl.setup(**kw)
