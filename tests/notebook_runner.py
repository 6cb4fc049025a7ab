"""Run one notebook top to bottom in fast mode and read back what its exercise checks logged.

Shared by tests/test_notebooks.py (the source notebooks: every check passes) and
tests/test_student_release.py (the student release: every check fails).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from alignpro_lite.exercises import EXERCISES

TIMEOUT = {"default": 300, "07": 400, "08": 400}  # seconds per cell, by notebook number


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*\w*(Error|Exception): ", re.M)


def _text(o) -> str:
    if o.get("output_type") == "stream":
        return str(o.get("text", ""))
    data = o.get("data", {})
    return "\n".join(str(data.get(k, "")) for k in ("text/plain", "text/html"))


def error_outputs(nb) -> list:
    """Every error output of the executed notebook ``nb``, and every other output (stderr and
    stdout streams, displayed text) that carries a traceback or an ``…Error: …`` line — e.g. an
    exception raised while a figure is drawn after its cell, which Jupyter prints, not raises."""
    out = []
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.outputs:
            if o.output_type == "error" or TRACEBACK.search(_text(o)):
                out.append(o)
    return out


def run_fast(nb_path: Path, run_in: Path, monkeypatch, tmp_path: Path, label: str = "",
             fast: bool = True):  # fmt: skip
    """Execute ``nb_path`` (kernel cwd ``run_in``) with ``ALIGNPRO_FAST=1`` (``fast=False``: in
    full mode, ``ALIGNPRO_FAST=0``), offline.

    Returns ``(errors, results, expected)``: the error outputs, the last logged result of each
    exercise check (key -> passed), and the keys registered for the notebook's number.
    """
    log = tmp_path / "exercises.jsonl"
    for key, value in {
        "ALIGNPRO_EXERCISE_LOG": str(log),
        "ALIGNPRO_FAST": "1" if fast else "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "MPLBACKEND": "agg",
    }.items():
        monkeypatch.setenv(key, value)
    number = nb_path.name[:2]
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT.get(number, TIMEOUT["default"]),
        kernel_name="python3",
        resources={"metadata": {"path": str(run_in)}},
    )
    t0 = time.time()
    client.execute()
    print(f"{label}{nb_path.name}: {time.time() - t0:.1f} s")
    errors = error_outputs(nb)
    results: dict[str, bool] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            results[rec["key"]] = rec["passed"]
    expected = {k for k in EXERCISES if k.startswith(number + ".")}
    return errors, results, expected
