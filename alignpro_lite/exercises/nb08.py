"""Exercises of notebook 08 (Align-Pro vs RLHF). The reference solutions are functions of the
report in ``runs/report/`` (``alignpro-lite report``), so they cannot go stale."""

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


def _sol_08_3():
    from scipy import stats

    m = _prompt_means("kindness")
    return float(stats.ttest_rel(m["RLHF"], m["NoFT"]).statistic)


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
        "Pairing pays: the paired t statistic of RLHF - NoFT on kindness, over the per-prompt "
        "mean rewards (both methods answered each prompt with the same random streams). "
        "Compare it with what two unpaired intervals would suggest. Answer: one number.",
        "Per method, average each prompt's samples; then scipy.stats.ttest_rel(rlhf, noft).",
        _sol_08_3,
        rtol=1e-9,
    ),
)
