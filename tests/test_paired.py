"""Paired statistics of the evaluation samples (experiment/paired.py): small synthetic frames."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from alignpro_lite.experiment import paired as P


def make_samples(scores: dict, task: str = "kindness", col: str = "reward") -> pd.DataFrame:
    """``scores[method]``: ``(n_prompts, K)`` array -> long frame, one row per answer."""
    frames = []
    for method, r in scores.items():
        r = np.asarray(r, dtype=float)
        n, k = r.shape
        frames.append(
            pd.DataFrame(
                {
                    "task": task,
                    "method": method,
                    "prompt_id": np.repeat(np.arange(n), k),
                    "sample": np.tile(np.arange(k), n),
                    col: r.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def dyadic(rng, shape, scale: int = 8) -> np.ndarray:
    """Random multiples of 1/scale: sums and halvings of them are exact in floating point."""
    return rng.integers(-2 * scale, 2 * scale + 1, size=shape) / scale


@pytest.fixture
def three_methods():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(12, 4))
    return make_samples(
        {
            "NoFT": base,
            "Align-Pro": base + 0.3 + rng.normal(scale=0.5, size=(12, 4)),
            "RLHF": base + 0.5 + rng.normal(scale=0.5, size=(12, 4)),
        }
    )


# --------------------------------------------------------------------------- prompt means
def test_prompt_means_shape_and_values(three_methods):
    m = P.prompt_means(three_methods)
    assert list(m.columns) == ["NoFT", "Align-Pro", "RLHF"]
    assert m.index.names == ["task", "prompt_id"] and m.shape == (12, 3)
    s = three_methods
    by_hand = s[(s.method == "RLHF") & (s.prompt_id == 7)]["reward"].to_numpy().mean()
    assert m.loc[("kindness", 7), "RLHF"] == pytest.approx(by_hand, rel=1e-14)


def test_pairing_broken_missing_prompt(three_methods):
    s = three_methods
    s = s[~((s.method == "RLHF") & (s.prompt_id == 3))]
    with pytest.raises(ValueError, match=r"pairing broken in task 'kindness'.*'RLHF'.*prompt_id=3"):
        P.prompt_means(s)
    with pytest.raises(ValueError, match="pairing broken"):
        P.paired_difference(s, "RLHF", "NoFT", n_boot=100)
    # the comparison that does not involve RLHF is still paired
    assert len(P.paired_difference(s, "Align-Pro", "NoFT", n_boot=100)) == 1


def test_pairing_broken_different_k(three_methods):
    s = three_methods
    s = s[~((s.method == "Align-Pro") & (s.prompt_id == 5) & (s["sample"] == 2))]
    with pytest.raises(ValueError, match=r"'Align-Pro' lacks 1 .*prompt_id=5, sample=2"):
        P.prompt_means(s)


def test_duplicate_key_refused(three_methods):
    s = pd.concat([three_methods, three_methods.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"appear once"):
        P.prompt_means(s)


def test_input_validation(three_methods):
    s = three_methods
    with pytest.raises(ValueError, match=r"a='PPO' is not a method.*available: \['NoFT'"):
        P.paired_difference(s, "PPO", "NoFT")
    with pytest.raises(ValueError, match=r"col.*\['gold'\]"):
        P.paired_difference(s, "RLHF", "NoFT", col="gold")
    with pytest.raises(ValueError, match="level"):
        P.paired_difference(s, "RLHF", "NoFT", level=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        P.paired_difference(s, "RLHF", "NoFT", n_boot=99)
    with pytest.raises(ValueError, match="rlhf='PPO'"):
        P.gap_closed(s, rlhf="PPO")
    bad = s.copy()
    bad.loc[3, "reward"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        P.variance_table(bad, n_boot=100)


# --------------------------------------------------------------------------- paired difference
def test_paired_t_equals_scipy(three_methods):
    out = P.paired_difference(three_methods, "Align-Pro", "NoFT", n_boot=500).iloc[0]
    m = three_methods.groupby(["method", "prompt_id"])["reward"].mean()
    ref = stats.ttest_rel(m["Align-Pro"].to_numpy(), m["NoFT"].to_numpy())
    assert out["t"] == pytest.approx(ref.statistic, rel=1e-10)
    assert out["p_t"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert out["n_prompts"] == 12
    assert out["diff"] == pytest.approx(out["mean_a"] - out["mean_b"], abs=1e-14)
    assert list(P.paired_difference(three_methods, "RLHF", "NoFT", n_boot=100).columns) == [
        "task", "a", "b", "n_prompts", "mean_a", "mean_b", "diff", "se", "t", "p_t",
        "ci_t_low", "ci_t_high", "ci_boot_low", "ci_boot_high", "significant",
    ]  # fmt: skip


def test_constant_shift_gives_degenerate_intervals():
    rng = np.random.default_rng(0)
    base = dyadic(rng, (9, 4))
    c = 0.375
    out = P.paired_difference(make_samples({"B": base, "A": base + c}), "A", "B", n_boot=1000).iloc[
        0
    ]
    assert out["diff"] == c and out["se"] == 0.0
    assert out["ci_boot_low"] == c and out["ci_boot_high"] == c
    assert out["ci_t_low"] == c and out["ci_t_high"] == c
    assert out["t"] == np.inf and out["p_t"] == 0.0
    assert bool(out["significant"])


def test_t_interval_known_answer():
    # per-prompt differences d = 1, 2, 3, 4 (one sample per prompt):
    # mean 2.5, sd = sqrt(5/3) = 1.2909944, se = 0.6454972, t_{3, 0.975} = 3.1824463
    b = np.zeros((4, 1))
    a = np.array([[1.0], [2.0], [3.0], [4.0]])
    out = P.paired_difference(make_samples({"A": a, "B": b}), "A", "B", n_boot=200).iloc[0]
    assert out["diff"] == 2.5
    assert out["se"] == pytest.approx(0.6454972243679028, rel=1e-12)
    assert out["t"] == pytest.approx(3.872983346207417, rel=1e-12)
    assert out["ci_t_low"] == pytest.approx(2.5 - 2.0542603, abs=1e-6)
    assert out["ci_t_high"] == pytest.approx(2.5 + 2.0542603, abs=1e-6)
    assert out["p_t"] == pytest.approx(0.030466, abs=1e-5)


def test_bootstrap_covers_true_difference():
    """Coverage of the 95% bootstrap interval over 200 seeded simulations, 60 prompts each."""
    covered, n_rep, delta = 0, 200, 0.2
    for rep in range(n_rep):
        rng = np.random.default_rng(1000 + rep)
        prompt = rng.normal(size=(60, 1))  # prompt difficulty shared by both methods (paired)
        noise = rng.normal(size=(60, 2))  # k-level noise with the same stream for both
        a = prompt + delta + noise + rng.normal(scale=0.7, size=(60, 2))
        b = prompt + noise + rng.normal(scale=0.7, size=(60, 2))
        out = P.paired_difference(make_samples({"A": a, "B": b}), "A", "B", n_boot=1000, seed=rep)
        covered += out["ci_boot_low"].iloc[0] <= delta <= out["ci_boot_high"].iloc[0]
    assert 0.9 <= covered / n_rep <= 0.99


def test_fewer_than_two_prompts_gives_nan():
    out = P.paired_difference(
        make_samples({"A": [[1.0, 2.0]], "B": [[0.0, 0.5]]}), "A", "B", n_boot=100
    ).iloc[0]
    assert out["diff"] == 1.25 and out["n_prompts"] == 1
    for c in ["se", "t", "p_t", "ci_t_low", "ci_t_high", "ci_boot_low", "ci_boot_high"]:
        assert math.isnan(out[c])
    assert not out["significant"]


def test_deterministic_given_seed(three_methods):
    kw = {"n_boot": 500}
    one = P.paired_difference(three_methods, "RLHF", "NoFT", seed=3, **kw)
    two = P.paired_difference(three_methods, "RLHF", "NoFT", seed=3, **kw)
    other = P.paired_difference(three_methods, "RLHF", "NoFT", seed=4, **kw)
    pd.testing.assert_frame_equal(one, two)
    assert one["ci_boot_low"].iloc[0] != other["ci_boot_low"].iloc[0]
    pd.testing.assert_frame_equal(
        P.gap_closed(three_methods, **kw), P.gap_closed(three_methods, **kw)
    )
    pd.testing.assert_frame_equal(
        P.variance_table(three_methods, **kw), P.variance_table(three_methods, **kw)
    )


def test_task_result_independent_of_other_tasks(three_methods):
    other = three_methods.assign(task="harmlessness", reward=three_methods["reward"] * 2)
    both = pd.concat([other, three_methods], ignore_index=True)
    alone = P.paired_difference(three_methods, "RLHF", "NoFT", n_boot=300)
    together = P.paired_difference(both, "RLHF", "NoFT", n_boot=300)
    assert list(together["task"]) == ["harmlessness", "kindness"]
    pd.testing.assert_frame_equal(together.iloc[[1]].reset_index(drop=True), alone)


# --------------------------------------------------------------------------- gap closed
def test_gap_closed_exact_half():
    rng = np.random.default_rng(2)
    base = dyadic(rng, (10, 4))
    lift = rng.integers(1, 9, size=(10, 1)) / 4  # RLHF beats the base on EVERY prompt
    s = make_samples({"NoFT": base, "RLHF": base + lift, "Align-Pro": base + lift / 2})
    out = P.gap_closed(s, n_boot=1000).iloc[0]
    assert out["gap"] == 0.5
    assert out["ci_low"] == 0.5 and out["ci_high"] == 0.5
    assert out["frac_denominator_nonpositive"] == 0.0 and out["note"] == ""


def test_gap_closed_matches_means_and_handles_no_gap(three_methods):
    out = P.gap_closed(three_methods, n_boot=500).iloc[0]
    J = three_methods.groupby("method")["reward"].mean()
    assert out["gap"] == pytest.approx((J["Align-Pro"] - J["NoFT"]) / (J["RLHF"] - J["NoFT"]))
    assert out["ci_low"] < out["gap"] < out["ci_high"]
    # swap the roles: RLHF below the base -> no gap
    flipped = P.gap_closed(three_methods, rlhf="NoFT", base="RLHF", n_boot=500).iloc[0]
    assert math.isnan(flipped["gap"]) and math.isnan(flipped["ci_low"])
    assert flipped["note"] == "RLHF does not beat the base"


def gap_frame(seed: int, shift: float = 0.2):
    """15 prompts, RLHF only a little above the base: some resamples have no gap."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(15, 2))
    return make_samples(
        {
            "NoFT": base,
            "RLHF": base + shift + rng.normal(size=(15, 2)),
            "Align-Pro": base + rng.normal(size=(15, 2)),
        }
    )


def test_gap_closed_undefined_interval_when_denominator_often_nonpositive():
    out = P.gap_closed(gap_frame(seed=1), n_boot=2000).iloc[0]
    assert out["mean_rlhf"] > out["mean_base"] and np.isfinite(out["gap"])
    assert out["frac_denominator_nonpositive"] > 0.025  # more than the (1 - level)/2 tail
    assert math.isnan(out["ci_low"]) and math.isnan(out["ci_high"])
    assert "not defined" in out["note"]


def test_gap_closed_counts_nonpositive_resamples_conservatively():
    """A few resamples without a gap: they sit at -inf for the lower end and +inf for the upper
    end, so the interval contains the one computed on the defined resamples alone."""
    s, n_boot, q = gap_frame(seed=0), 2000, 0.025
    out = P.gap_closed(s, n_boot=n_boot).iloc[0]
    m = P.prompt_means(s)
    idx = np.random.default_rng(0).integers(0, 15, size=(n_boot, 15))  # the documented draw
    num = (m["Align-Pro"] - m["NoFT"]).to_numpy()[idx].mean(axis=1)
    den = (m["RLHF"] - m["NoFT"]).to_numpy()[idx].mean(axis=1)
    ok = den > 0
    assert 0 < (~ok).sum() <= math.floor(q * (n_boot - 1))
    assert out["frac_denominator_nonpositive"] == (~ok).sum() / n_boot and out["note"] == ""
    ratio = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
    low = np.sort(np.where(ok, ratio, -np.inf))
    high = np.sort(np.where(ok, ratio, np.inf))
    h = q * (n_boot - 1)  # numpy's linear interpolation, by hand
    i, f = int(math.floor(h)), h - math.floor(h)
    assert out["ci_low"] == pytest.approx(low[i] + f * (low[i + 1] - low[i]), rel=1e-12)
    i = n_boot - 1 - i - 1
    assert out["ci_high"] == pytest.approx(high[i] + (1 - f) * (high[i + 1] - high[i]), rel=1e-12)
    dropped = np.nanquantile(ratio, [q, 1 - q])
    assert out["ci_low"] < dropped[0] and out["ci_high"] > dropped[1]


# --------------------------------------------------------------------------- variances
def test_variance_table_ddof1_by_hand(three_methods):
    out = P.variance_table(three_methods, n_boot=500).set_index("method")
    r = three_methods[three_methods.method == "Align-Pro"]
    y = r.sort_values(["prompt_id", "sample"])["reward"].to_numpy().reshape(12, 4)
    v = out.loc["Align-Pro"]
    assert v["variance"] == pytest.approx(np.var(y.ravel(), ddof=1), rel=1e-12)
    assert v["var_within"] == pytest.approx(np.var(y, axis=1, ddof=1).mean(), rel=1e-12)
    # ddof=0 would be visibly different
    assert abs(v["var_within"] - np.var(y, axis=1, ddof=0).mean()) > 1e-3
    assert v["variance_ci_low"] < v["variance"] < v["variance_ci_high"]
    assert v["n_samples"] == 48 and v["n_prompts"] == 12


def test_variance_needs_two_samples():
    s = make_samples({"A": [[1.0], [2.0], [4.0]], "B": [[0.0], [1.0], [3.0]]})
    with pytest.raises(ValueError, match=">= 2 samples per prompt"):
        P.variance_table(s, n_boot=100)
    with pytest.raises(ValueError, match=">= 2 samples per prompt"):
        P.variance_difference(s, "A", "B", n_boot=100)


def test_variance_difference_paired(three_methods):
    table = P.variance_table(three_methods, n_boot=500).set_index("method")
    out = P.variance_difference(three_methods, "RLHF", "NoFT", n_boot=500).iloc[0]
    assert out["variance_diff"] == pytest.approx(
        table.loc["RLHF", "variance"] - table.loc["NoFT", "variance"], rel=1e-12
    )
    assert out["var_within_a"] == pytest.approx(table.loc["RLHF", "var_within"], rel=1e-12)
    assert out["variance_diff_ci_low"] < out["variance_diff"] < out["variance_diff_ci_high"]
    # a method minus a copy of itself, shifted: variances identical on every resample
    s = make_samples({"A": np.arange(12.0).reshape(4, 3) ** 1.5})
    s = pd.concat([s, s.assign(method="B", reward=s["reward"] + 2.0)], ignore_index=True)
    d = P.variance_difference(s, "A", "B", n_boot=200).iloc[0]
    assert d["variance_diff_ci_low"] == pytest.approx(0, abs=1e-9)
    assert d["var_within_diff_ci_high"] == pytest.approx(0, abs=1e-9)


# --------------------------------------------------------------------------- win rates
def test_wilson_known_values():
    z = 1.959963984540054
    # k = 0, n = 10: [0, z^2 / (n + z^2)]
    lo, hi = P.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z**2 / (10 + z**2), rel=1e-12)
    assert hi == pytest.approx(0.2775, abs=1e-4)
    # k = 5, n = 10: symmetric around 1/2, half width z sqrt(n/4 + z^2/4) / (n + z^2)
    lo, hi = P.wilson(5, 10)
    half = z * math.sqrt(10 / 4 + z**2 / 4) / (10 + z**2)
    assert lo == pytest.approx(0.5 - half, rel=1e-12) and hi == pytest.approx(0.5 + half, rel=1e-12)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    assert all(math.isnan(x) for x in P.wilson(0, 0))
    with pytest.raises(ValueError, match="k must lie"):
        P.wilson(11, 10)


def test_win_rates_counts():
    a = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0]])
    b = np.array([[1.0, 1.0, 3.0], [0.0, 2.0, 0.0]])
    s = make_samples({"A": a, "B": b}, col="gold")
    out = P.win_rates(s, "A", "B").iloc[0]
    assert (out["wins"], out["losses"], out["ties"], out["n_pairs"]) == (2, 2, 2, 6)
    assert out["win_rate"] == 0.5 and out["tie_rate"] == pytest.approx(1 / 3)
    assert (out["ci_low"], out["ci_high"]) == P.wilson(2, 4)
    flipped = P.win_rates(make_samples({"A": a + 5, "B": b}, col="gold"), "A", "B").iloc[0]
    assert flipped["win_rate"] == 1.0 and flipped["ties"] == 0


# --------------------------------------------------------------------------- compare_all
def test_compare_all_pairs(three_methods):
    out = P.compare_all(three_methods, n_boot=200)
    assert list(zip(out["a"], out["b"])) == [("Align-Pro", "NoFT"), ("RLHF", "NoFT")]
    allp = P.compare_all(three_methods, all_pairs=True, n_boot=200)
    assert list(zip(allp["a"], allp["b"]))[-1] == ("Align-Pro", "RLHF")
    one = P.paired_difference(three_methods, "Align-Pro", "RLHF", n_boot=200)
    pd.testing.assert_frame_equal(allp.iloc[[2]].reset_index(drop=True), one)


def test_import_is_torch_free():
    code = (
        "import sys, alignpro_lite.experiment.paired as p; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_pairing_checks_prompt_and_stream_columns_when_present():
    s = make_samples({"A": np.zeros((4, 2)), "B": np.ones((4, 2))})
    s["x"] = "q" + s["prompt_id"].astype(str)
    s["stream"] = s["prompt_id"] * 10 + s["sample"]
    P.paired_difference(s, "B", "A", n_boot=200)  # consistent: fine
    bad = s.copy()
    bad.loc[(bad.method == "B") & (bad.prompt_id == bad.prompt_id.iloc[0]), "x"] = "another prompt"
    with pytest.raises(ValueError, match="disagree on 'x'"):
        P.paired_difference(bad, "B", "A", n_boot=200)
    bad = s.copy()
    bad.loc[bad.method == "B", "stream"] += 1
    with pytest.raises(ValueError, match="disagree on 'stream'"):
        P.paired_difference(bad, "B", "A", n_boot=200)
