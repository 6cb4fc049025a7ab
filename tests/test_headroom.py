"""Headroom of a task before training (issue 12, item 1): rewrite-type gains, cross-fitted
rho*, best-of-n, and the KL-calibration rule for λ and β."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from alignpro_lite.llm import headroom as H


def test_best_of_n_u_statistic_equals_brute_force():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(5, 7))
    for n in (1, 2, 3, 7):
        brute = np.array(
            [np.mean([max(row[list(c)]) for c in itertools.combinations(range(7), n)]) for row in r]
        )
        np.testing.assert_allclose(H.best_of_n_mean(r, n), brute, rtol=1e-12)
    np.testing.assert_allclose(H.best_of_n_mean(r, 1), r.mean(axis=1))
    with pytest.raises(ValueError, match="n must be"):
        H.best_of_n_mean(r, 8)


def test_best_of_n_is_unbiased_for_the_expected_maximum():
    # Bernoulli(p) rewards: E[max of n] = 1 - (1 - p)^n exactly
    rng = np.random.default_rng(1)
    r = (rng.random((20_000, 8)) < 0.1).astype(float)
    assert H.best_of_n_mean(r, 4).mean() == pytest.approx(1 - 0.9**4, abs=0.01)


def test_type_gains_and_crossfit_on_a_known_table():
    # 40 prompts, 3 candidates (original, good, bad), 4 answers; the good rewrite adds +0.3
    rng = np.random.default_rng(2)
    base = rng.normal(size=(40, 1, 1))
    r = base + np.array([0.0, 0.3, 1.0])[None, :, None] + 0.05 * rng.normal(size=(40, 3, 4))
    types = [["original", "good", "bad"]] * 40
    g = H.type_gains(r, types).set_index("type")
    assert g.loc["good", "gain"] == pytest.approx(0.3, abs=0.03) and g.loc["good", "z"] > 10
    assert g.loc["original", "gain"] == 0
    allowed = np.array([[True, True, False]] * 40)  # the bad rewrite is not allowed
    d = H.crossfit_rho_star_gain(r, allowed, lam=0.0)
    assert d.mean() == pytest.approx(0.3, abs=0.03)
    # with pure noise, cross-fitting reports no gain; choosing on the same answers would
    noise = rng.normal(size=(400, 6, 4))
    allowed = np.ones((400, 6), dtype=bool)
    d = H.crossfit_rho_star_gain(noise, allowed, lam=0.0)
    assert abs(d.mean()) < 3 * d.std(ddof=1) / math.sqrt(400)
    R = noise.mean(axis=2)
    in_sample = (R.max(axis=1) - R[:, 0]).mean()
    assert in_sample > 0.5  # the winner's curse the cross-fit avoids


def test_rho_star_rows_limits():
    R = np.array([[0.0, 1.0, 0.5]])
    allowed = np.array([[True, True, False]])
    np.testing.assert_allclose(H.rho_star_rows(R, allowed, 0.0), [[0, 1, 0]])
    np.testing.assert_allclose(H.rho_star_rows(R, allowed, 1e9), [[0.5, 0.5, 0]], atol=1e-8)
    # at λ = 0 the original wins a tie; other ties are split
    ties = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    np.testing.assert_allclose(H.rho_star_rows(ties, np.ones((2, 3), bool), 0.0),
                               [[1, 0, 0], [0, 0.5, 0.5]])  # fmt: skip
    p = H.rho_star_rows(R, allowed, 0.5)
    np.testing.assert_allclose(p[0, :2], np.exp([0, 2]) / np.exp([0, 2]).sum())


def test_kl_calibration_hits_the_target_and_falls_back():
    rng = np.random.default_rng(3)
    R = rng.normal(size=(30, 6))
    allowed = np.ones_like(R, dtype=bool)
    w, kl, limit = H.kl_calibrated_weight(R, allowed, target=1.0)
    assert kl == pytest.approx(1.0, abs=1e-6) and limit == pytest.approx(math.log(6))
    assert H.mean_kl_of_tilt(R, allowed, w * 2) < 1.0 < H.mean_kl_of_tilt(R, allowed, w / 2)
    # ties everywhere but one prompt: the limit is below 1 nat, the target becomes half of it
    R2 = np.zeros((10, 4))
    R2[0, 0] = 1.0
    w2, kl2, limit2 = H.kl_calibrated_weight(R2, np.ones_like(R2, dtype=bool))
    assert limit2 == pytest.approx(math.log(4) / 10) and kl2 == pytest.approx(limit2 / 2, rel=1e-6)
    assert H.kl_calibrated_weight(np.zeros((3, 3)), np.ones((3, 3), dtype=bool))[0] == math.inf


def test_headroom_table_columns():
    rng = np.random.default_rng(4)
    r = rng.normal(size=(12, 3, 4))
    t = H.headroom_table(r, [["original", "a", "b"]] * 12, np.ones((12, 3), dtype=bool),
                         lams=(0.0, 0.1), best_of=(2, 4), task="t")  # fmt: skip
    assert list(t["what"]) == ["type: a", "type: b", "rho* (λ→0: best rewrite)", "rho* (λ=0.1)",
                               "best-of-2", "best-of-4"]  # fmt: skip
    assert t.loc[t["what"] == "best-of-4", "kl"].item() == pytest.approx(math.log(4) - 0.75)
    assert (t["task"] == "t").all()


# --------------------------------------------------------------------------- the shipped tables
def _shipped(task):
    import pandas as pd

    from alignpro_lite.config import data_dir

    return pd.read_csv(data_dir() / "headroom" / f"{task}.csv")


@pytest.mark.parametrize("task", ["kindness", "harmlessness", "helpfulness"])
def test_shipped_headroom_is_reproducible_and_has_room(task):
    import importlib.util

    import pandas as pd

    from alignpro_lite.config import repo_root

    spec = importlib.util.spec_from_file_location(
        "headroom_script", repo_root() / "scripts" / "headroom.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    w = script.weights(task)
    r, types, allowed, _, _ = H.table_arrays(task, "train")
    again = H.headroom_table(r, types, allowed, lams=(0.0, w["lam"]), best_of=(2, 4, 8), task=task)
    shipped = _shipped(task)
    pd.testing.assert_frame_equal(again, shipped, check_exact=False, rtol=1e-4, atol=1e-6)
    assert w["kl_rho_star"] == pytest.approx(1.0, abs=1e-6)
    # the design criterion of the task data: headroom above 2 SE for both methods (train)
    row = shipped.set_index("what")
    assert row.loc["rho* (λ→0: best rewrite)", "z"] > 2
    assert row.loc["best-of-4", "z"] > 2


def test_rho_star_rows_report_their_kl():
    rng = np.random.default_rng(5)
    r = rng.normal(size=(10, 4, 4))
    allowed = np.ones((10, 4), dtype=bool)
    t = H.headroom_table(
        r, [["original", "a", "b", "c"]] * 10, allowed, lams=(0.0, 0.3), best_of=(4,)
    )
    kl = dict(zip(t["what"], t["kl"], strict=True))
    assert kl["rho* (λ→0: best rewrite)"] == pytest.approx(math.log(4))  # a point mass
    assert kl["rho* (λ=0.3)"] == pytest.approx(H.mean_kl_of_tilt(r.mean(axis=2), allowed, 0.3))
    assert math.isnan(kl["type: a"])
