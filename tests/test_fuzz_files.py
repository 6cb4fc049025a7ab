"""Fuzz the data-file loaders: mutated problem files, tables and samples never crash.

Hypothesis mutates valid files (drop / rename keys, wrong types, NaN/inf, negatives, huge
numbers, empty lists, booleans, nulls, nested garbage, broken bytes), writes them to a temp
file and loads them with :func:`alignpro_lite.load_problem`, with ``alignpro-lite sweep`` and
(tables) with :func:`alignpro_lite.llm.tables.load_task_table`. The property: either a one-line
``ValueError`` that names the file (CLI: exit code 2 and exactly one line on stderr) or a valid
result with no NaN/inf in it (CLI: in any CSV it wrote); never another exception.

Derandomized with no example database, so CI runs the same examples every time.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alignpro_lite as apl
from alignpro_lite.cli import main
from alignpro_lite.llm import tables

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _small_table() -> dict:
    spec = json.loads((apl.data_dir() / "tables" / "kindness_test.json").read_text("utf-8"))
    spec["prompts"] = spec["prompts"][:3]
    return spec


BASES = {
    "full": json.loads((apl.data_dir() / "teaching.json").read_text("utf-8")),
    "estimated": _small_table(),
}

# --------------------------------------------------------------------------- mutations
GARBAGE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 0.5, -0.5, 1e300, -1e300, 1e-320, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["", " ", "NaN", "0.5", "text", "\u2028", "é"]),
)
GARBAGE = st.recursive(
    GARBAGE_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
EDGE_NUMBERS = st.sampled_from(
    [0, 0.0, 1, 5e-324, 1e-300, 1e-12, 0.999999, 1.0000001, 1e12, -1e12, 1e12 + 1, -0.0]
)
TYPO_KEYS = st.sampled_from(
    [
        "Rho_sft",
        "rho",
        "pi_f",
        "Prompts",
        "prompt",
        "candidate",
        "reward_Range",
        "R ",
        "v",
        "Weight",
    ]
)


def _paths(node, prefix=()):
    """Every path into the JSON tree (the root included)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(node, path):
    for key in path:
        node = node[key]
    return node


def mutate(spec, data) -> object:
    """Apply 1-3 random structural mutations to a copy of ``spec``."""
    spec = copy.deepcopy(spec)
    for _ in range(data.draw(st.integers(1, 3), label="n_mutations")):
        paths = list(_paths(spec))
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(
            st.sampled_from(
                ["replace", "drop", "rename", "add", "empty", "negate", "grow", "dup", "edge"]
            ),
            label="op",
        )
        if not path:
            if op == "replace":
                spec = data.draw(GARBAGE, label="root")
            continue
        parent, key = _get(spec, path[:-1]), path[-1]
        value = parent[key]
        if op == "replace":
            parent[key] = data.draw(GARBAGE, label="value")
        elif op == "drop":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            new = data.draw(st.one_of(TYPO_KEYS, st.just(key.upper()), st.text(max_size=6)))
            parent[new] = parent.pop(key)
        elif op == "add" and isinstance(value, dict):
            value[data.draw(st.one_of(TYPO_KEYS, st.text(max_size=6)))] = data.draw(GARBAGE)
        elif op == "empty" and isinstance(value, list | dict | str):
            parent[key] = type(value)()
        elif op == "negate" and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = -value if value else -1
        elif op == "grow" and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = value * data.draw(st.sampled_from([1e6, 1e15, 1e308, 2, 0.999]))
        elif op == "edge" and isinstance(value, int | float) and not isinstance(value, bool):
            parent[key] = data.draw(EDGE_NUMBERS, label="edge")  # valid type, extreme value
        elif op == "dup" and isinstance(value, list) and value:
            value.append(copy.deepcopy(value[-1]))
    return spec


def write(spec, path: Path, data) -> None:
    """Write ``spec`` as JSON (NaN/Infinity literals allowed), sometimes with broken bytes."""
    raw = json.dumps(spec, allow_nan=True).encode("utf-8")
    how = data.draw(st.sampled_from(["plain"] * 8 + ["truncate", "bad-byte", "bom"]), label="io")
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "bad-byte":
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xff\xfe" + raw[at:]
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    path.write_bytes(raw)


def _assert_clean_error(err: ValueError, path: Path) -> None:
    """A plain one-line ``ValueError`` that names ``path`` (a file, or the folder it is in)."""
    assert type(err) is ValueError, type(err)
    message = str(err)
    assert str(path) in message, message
    assert "\n" not in message, message


def _assert_finite_problem(problem) -> None:
    for arr in (problem.rho_sft, problem.P, problem.R, problem.V):
        assert np.isfinite(arr).all()
    for lam in (0.1, 1.0):
        assert np.isfinite(problem.optimal_prompter(lam)).all()


# --------------------------------------------------------------------------- API
@settings(FUZZ, max_examples=150)
@given(form=st.sampled_from(sorted(BASES)), data=st.data())
def test_load_problem_never_crashes(form, data):
    spec = mutate(BASES[form], data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "problem.json"
        write(spec, path, data)
        try:
            problem = apl.load_problem(path)
        except ValueError as err:
            _assert_clean_error(err, path)
            return
        _assert_finite_problem(problem)


# --------------------------------------------------------------------------- CLI
def _assert_csvs_finite(out: Path) -> None:
    csvs = sorted(out.glob("*.csv"))
    assert csvs, f"the sweep wrote no CSV in {out}"
    for csv in csvs:
        df = pd.read_csv(csv, keep_default_na=False)
        for col in df.columns:
            if col == "prompt":  # free text
                continue
            values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            assert np.isfinite(values).all(), f"{csv.name}: column {col!r} has NaN/inf"


@settings(FUZZ, max_examples=20)
@given(form=st.sampled_from(sorted(BASES)), data=st.data())
def test_cli_sweep_never_crashes(form, data):
    spec = mutate(BASES[form], data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "problem.json"
        write(spec, path, data)
        out = Path(tmp) / "out"
        stderr, stdout = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            rc = main(["sweep", "--problem", str(path), "--out", str(out), "--lams", "0.1,1"])
        err = stderr.getvalue()
        if rc == 2:
            assert len(err.strip().splitlines()) == 1, err
            assert str(path) in err, err
            return
        assert rc == 0, (rc, err)
        _assert_csvs_finite(out)


# --------------------------------------------------------------------------- tables + samples
TABLE_FILES = ("kindness_test.json", "kindness_test_samples.jsonl")


@settings(FUZZ, max_examples=80)
@given(which=st.sampled_from(["table", "samples"]), data=st.data())
def test_load_task_table_never_crashes(which, data):
    src = apl.data_dir() / "tables"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in TABLE_FILES:
            shutil.copy(src / name, folder / name)
        if which == "table":
            spec = json.loads((folder / TABLE_FILES[0]).read_text("utf-8"))
            write(mutate(spec, data), folder / TABLE_FILES[0], data)
            target = folder / TABLE_FILES[0]
        else:
            target = folder / TABLE_FILES[1]
            lines = target.read_text("utf-8").split("\n")
            k = data.draw(st.integers(0, len(lines) - 2), label="line")
            op = data.draw(st.sampled_from(["mutate", "drop", "dup", "swap", "blank", "bytes"]))
            if op == "mutate":
                lines[k] = json.dumps(mutate(json.loads(lines[k]), data), allow_nan=True)
            elif op == "drop":
                del lines[k]
            elif op == "dup":
                lines.insert(k, lines[k])
            elif op == "swap":
                lines[k], lines[k + 1] = lines[k + 1], lines[k]
            elif op == "blank":
                lines.insert(k, " ")
            raw = "\n".join(lines).encode("utf-8")
            if op == "bytes":
                raw = raw[:100] + b"\xff" + raw[100:]
            target.write_bytes(raw)
        try:
            tab = tables.load_task_table("kindness", "test", folder=folder)
        except ValueError as err:
            _assert_clean_error(err, folder)  # the table or its samples file
            return
        _assert_finite_problem(tab.problem)
        assert np.isfinite(tab.sim).all() and (np.abs(tab.sim) <= 1).all()
        assert len(tab.samples) == sum(len(k) for k in tab.kinds)
        assert all(math.isfinite(r) for s in tab.samples for r in s["rewards"])
