"""Shipped prompt-value tables: they load, agree with their samples, and regenerate."""

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite import tables

SHIPPED = [(t, s) for t in apl.TASKS for s in ("train", "test")]


@pytest.mark.parametrize("task, split", SHIPPED)
def test_shipped_table_is_consistent_with_its_samples(task, split):
    tab = tables.load_task_table(task, split)
    p = tab.problem
    assert p.n_x == len(apl.load_task(task, split)) and p.n_c >= 6
    r_min, r_max = p.r_range
    assert r_min <= p.R.min() and p.R.max() <= r_max
    assert (tab.sim[:, 0] > 0.99).all()  # candidate 0 is the original prompt
    by = {(s["prompt_id"], s["c"]): np.asarray(s["rewards"]) for s in tab.samples}
    ids = [t.id for t in apl.load_task(task, split)]
    for i in (0, p.n_x - 1):
        for j in range(p.n_c):
            r = by[(ids[i], j)]
            assert p.R[i, j] == pytest.approx(r.mean(), abs=1e-4)
            assert p.V[i, j] == pytest.approx(r.var(ddof=1), abs=1e-4)
    assert all(len(k) == p.n_c for k in tab.kinds) and tab.kinds[0][0] == "original"


def test_missing_table_says_how_to_make_it(tmp_path):
    with pytest.raises(ValueError, match="alignpro-lite estimate"):
        tables.load_task_table("kindness", "test", folder=tmp_path)


@pytest.mark.slow
def test_estimate_task_table_end_to_end(smol, tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNPRO_CACHE", str(tmp_path / "cache"))
    model, tok = smol
    tab = tables.estimate_task_table(
        "kindness", "test", model, tok, n=2, max_prompts=1, max_new_tokens=4, progress=False
    )
    paths = tables.save_task_table(tab, tmp_path / "out")
    back = tables.load_task_table("kindness", "test", folder=tmp_path / "out")
    np.testing.assert_allclose(back.problem.R, tab.problem.R, atol=1e-6)
    assert len(back.samples) == tab.problem.n_c and all(p.exists() for p in paths)
