"""Exercises of notebook 08 (Align-Pro vs RLHF). 08.1 and 08.2 read round 1's report in
``runs/report/`` (their references are functions of it, so they cannot go stale); 08.3 asks for a
function, a paired power calculation, checked on random designs."""

from __future__ import annotations

import numpy as np

from alignpro_lite.config import repo_root
from alignpro_lite.exercises.registry import Exercise, register


def _runs():
    return repo_root() / "runs"


def _samples():
    import pandas as pd

    return pd.read_csv(_runs() / "report" / "samples.csv", keep_default_na=False)


def _prompt_means(task: str):
    s = _samples()
    s = s[s["task"] == task]
    return s.groupby(["method", "prompt_id"])["reward"].mean().unstack("method")


def _sol_08_1():
    k = _prompt_means("kindness").mean()
    return (k["Align-Pro"] - k["NoFT"]) / (k["RLHF"] - k["NoFT"])


def _sol_08_2():
    from scipy import stats

    s = _samples()
    g = s[(s["task"] == "helpfulness") & (s["method"] == "NoFT")]
    pm = g.groupby("prompt_id")["reward"].mean()
    return float(stats.t.ppf(0.975, len(pm) - 1) * pm.std(ddof=1) / np.sqrt(len(pm)))


def _power_truth(delta, sd, n, alpha=0.05):
    from scipy import stats

    z = stats.norm.ppf(1 - alpha / 2)
    shift = delta * np.sqrt(n) / sd
    return stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z)


def _verify_08_3(power) -> tuple[bool, str]:
    from alignpro_lite.exercises.registry import returned

    rng = np.random.default_rng(808)
    n_ok = 0
    for _ in range(12):
        delta = float(rng.uniform(-0.2, 0.2))
        sd = float(rng.uniform(0.05, 0.5))
        n = int(rng.integers(5, 400))
        got = float(returned(power(delta, sd, n)))
        want = float(_power_truth(delta, sd, n))
        if not np.isclose(got, want, rtol=1e-4, atol=1e-6):
            return False, (f"power({delta:.3f}, {sd:.3f}, {n}) returned {got:.4f}, expected "
                           f"{want:.4f} ({n_ok} cases passed before)")  # fmt: skip
        n_ok += 1
    if not np.isclose(float(returned(power(0.0, 0.2, 60))), 0.05, atol=1e-6):
        return False, "at delta = 0 the power must be alpha = 0.05 (a two-sided test)"
    return True, f"matches the normal approximation on {n_ok} random designs and at delta = 0"


register(
    Exercise(
        "08.1",
        "Recompute the fraction of the NoFT→RLHF gap that Align-Pro closes on kindness from "
        "runs/report/samples.csv. Answer: one number.",
        "(J_AP - J_NoFT) / (J_RLHF - J_NoFT) with J the mean over prompts of each prompt's mean "
        "'reward' (every method answers every prompt equally often, so it is also the plain mean).",
        _sol_08_1,
        rtol=1e-9,
    ),
    Exercise(
        "08.2",
        "The half-width of NoFT's 95% confidence interval on helpfulness: a t-interval over the "
        "per-prompt mean rewards (one per test prompt). Answer: one number.",
        "Average the samples of each prompt first; then t_{0.975, n-1} * sd(ddof=1) / sqrt(n) "
        "(scipy.stats.t.ppf).",
        _sol_08_2,
        rtol=1e-9,
    ),
    Exercise(
        "08.3",
        "Plan before you measure: write power(delta, sd, n) -> the probability that a paired "
        "comparison of n prompts, whose per-prompt differences have standard deviation sd and "
        "mean delta, gives a two-sided 95% interval that excludes 0 (normal approximation: the "
        "estimate is N(delta, sd^2/n)). Then use it on round 2's numbers. Answer: your function.",
        "The interval excludes 0 when |mean| > z_{0.975} sd/sqrt(n). With s = delta sqrt(n)/sd "
        "that happens with probability Phi(s - z) + Phi(-s - z) (scipy.stats.norm).",
        verify=_verify_08_3,
    ),
)
