"""Every notebook executes top to bottom in fast mode (ALIGNPRO_FAST=1), and is committed clean."""

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from alignpro_lite.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT = {"default": 300, "07": 400, "08": 400}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_fast_mode(path, monkeypatch, tmp_path):
    """Runs clean, and every exercise of the notebook is checked and passes (the worked
    solutions between the nbgrader markers are right)."""
    log = tmp_path / "exercises.jsonl"
    monkeypatch.setenv("ALIGNPRO_EXERCISE_LOG", str(log))
    monkeypatch.setenv("ALIGNPRO_FAST", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(path, as_version=4)
    timeout = TIMEOUT.get(path.name[:2], TIMEOUT["default"])
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    t0 = time.time()
    client.execute()
    print(f"{path.name}: {time.time() - t0:.1f} s")
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    results = exercise_results(log)
    expected = {k for k in EXERCISES if k.startswith(path.name[:2] + ".")}
    assert set(results) == expected, "every registered exercise of the notebook is checked in it"
    assert all(results.values()), f"failed exercise checks: {results}"


def exercise_results(log: Path) -> dict[str, bool]:
    """The last result of each exercise check logged by apl.exercises (key -> passed)."""
    out: dict[str, bool] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            out[rec["key"]] = rec["passed"]
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean_and_has_a_kernelspec(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"  # no "Select Kernel" dialog
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell["outputs"] and cell["execution_count"] is None, "commit without outputs"
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "apl.setup(" in "".join(first_code["source"])  # one setup cell per notebook


def test_fast_mode_is_one_switch():
    from alignpro_lite.config import fast_mode

    old = os.environ.get("ALIGNPRO_FAST")
    try:
        os.environ["ALIGNPRO_FAST"] = "1"
        assert fast_mode()
        os.environ["ALIGNPRO_FAST"] = "0"
        assert not fast_mode()
    finally:
        if old is None:
            os.environ.pop("ALIGNPRO_FAST", None)
        else:
            os.environ["ALIGNPRO_FAST"] = old
