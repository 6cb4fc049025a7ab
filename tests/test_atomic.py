"""Outputs as a set: a command's files change together or not at all (alignpro_lite.atomic)."""

from __future__ import annotations

import os

import pytest

from alignpro_lite import atomic
from alignpro_lite.atomic import check_out_dir, staged_dir


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(parent):
    return [p.name for p in parent.iterdir() if ".tmp-" in p.name]


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_swap_replaces_the_set_keeps_other_files_drops_stale_ones(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(atomic, "_rename_exchange", lambda a, b: False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old a")
    (out / "b.csv").write_text("old b")  # of this command's set, not written this time
    (out / "notes.txt").write_text("mine")  # not of this command's set
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("kept")
    with staged_dir(out, owned=("a.csv", "b.csv")) as tmp:
        (tmp / "a.csv").write_text("new a")
    assert _snapshot(out) == {
        out.joinpath("a.csv").relative_to(out): b"new a",
        out.joinpath("notes.txt").relative_to(out): b"mine",
        out.joinpath("sub", "x").relative_to(out): b"kept",
    }
    assert _leftovers(tmp_path) == []


def test_an_error_before_the_swap_leaves_the_folder_byte_identical(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.csv").write_text("old a")
    (out / "b.png").write_bytes(b"old b")
    before = _snapshot(out)
    with pytest.raises(RuntimeError), staged_dir(out, owned=("a.csv", "b.png")) as tmp:
        (tmp / "a.csv").write_text("new a")
        raise RuntimeError("the second file failed")
    assert _snapshot(out) == before
    assert _leftovers(tmp_path) == []


def test_a_new_folder_is_created_with_its_parents(tmp_path):
    out = tmp_path / "deep" / "er" / "out"
    with staged_dir(out) as tmp:
        (tmp / "f").write_text("1")
    assert (out / "f").read_text() == "1"
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: str(p / "file.txt"), "existing file"),
        (lambda p: "", "empty"),
        (lambda p: "   ", "empty"),
        (lambda p: str(p / "out"), "is a folder"),  # a file of the set is a folder there
    ],
)
def test_check_out_dir_errors_name_the_flag(tmp_path, make, match):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "out" / "sweep.png").mkdir(parents=True)
    with pytest.raises(ValueError, match=match) as err:
        check_out_dir(make(tmp_path), names=("sweep.png",))
    assert str(err.value).startswith("--out")


def test_check_out_dir_refuses_a_read_only_folder(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere: pretend the permission bits bind
        real = os.access
        monkeypatch.setattr(
            atomic.os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode)
        )
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_out_dir(ro)
        with pytest.raises(ValueError, match="cannot write in"):
            check_out_dir(ro / "new")
    finally:
        ro.chmod(0o755)


def test_the_current_folder_and_its_parents_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for out in (".", "..", str(tmp_path), "./"):
        with pytest.raises(ValueError, match="current folder"):
            check_out_dir(out)


def test_a_symlinked_folder_gets_the_set_where_it_points_and_modes_are_kept(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    real.chmod(0o751)
    (real / "old.txt").write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    with staged_dir(link, owned=("a.csv",)) as tmp:
        (tmp / "a.csv").write_text("new")
    assert link.is_symlink() and (real / "a.csv").read_text() == "new"
    assert (real / "old.txt").read_text() == "kept"
    assert real.stat().st_mode & 0o777 == 0o751
    assert _leftovers(tmp_path) == []


def test_a_symlink_at_the_staging_name_is_never_written_through(tmp_path):
    """OUT/run.json.tmp -> a file outside: the write replaced the outside file (issue 24)."""
    from alignpro_lite.atomic import tmp_path as staging
    from alignpro_lite.atomic import write_text_atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json.tmp").symlink_to(victim)
    write_text_atomic(out / "run.json", '{"ok": true}')
    assert victim.read_text() == "precious"
    assert (out / "run.json").read_text() == '{"ok": true}' and not (out / "run.json").is_symlink()
    # a link AT the destination is replaced, its target untouched
    (out / "key.json").symlink_to(victim)
    write_text_atomic(out / "key.json", "{}")
    assert victim.read_text() == "precious" and not (out / "key.json").is_symlink()
    # a stale staging folder of an interrupted run is cleared
    (out / "sft.tmp").mkdir()
    (out / "sft.tmp" / "half.bin").write_bytes(b"x")
    t = staging(out / "sft")
    assert t == out / "sft.tmp" and not t.exists()


def test_writers_stage_through_the_safe_name(tmp_path):
    """The pandas writers of the evaluation caches go through tmp_path too."""
    import pandas as pd

    from alignpro_lite.atomic import tmp_path as staging

    victim = tmp_path / "victim.csv"
    victim.write_text("precious")
    path = tmp_path / "RLHF.csv"
    path.with_name("RLHF.csv.tmp").symlink_to(victim)
    tmp = staging(path)
    pd.DataFrame({"a": [1]}).to_csv(tmp, index=False)
    tmp.replace(path)
    assert victim.read_text() == "precious" and path.read_text().startswith("a")


def test_out_lock_stops_a_second_process_at_once(tmp_path):
    """Two replicate on one --out had no lock; one failed late and left sft.tmp behind."""
    import subprocess
    import sys
    import time

    from alignpro_lite.atomic import out_lock

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from alignpro_lite.atomic import out_lock\n"
        f"with out_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match="in use by another alignpro-lite process"):
            with out_lock(out):
                pass
        assert time.perf_counter() - t0 < 2
    finally:
        holder.kill()
        holder.wait()
    with out_lock(out), out_lock(out):  # free again once the holder is gone; re-entrant
        pass
