"""Exercises of notebook 06 (Align-Pro vs RLHF). The reference solutions are functions of the
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


def _sol_06_1():
    s = _samples()
    k = s[s["task"] == "kindness"].groupby("method")["reward"].mean()
    return (k["Align-Pro"] - k["NoFT"]) / (k["RLHF"] - k["NoFT"])


def _sol_06_2():
    from scipy import stats

    s = _samples()
    g = s[(s["task"] == "helpfulness") & (s["method"] == "NoFT")]
    pm = g.groupby("prompt_id")["reward"].mean()
    return float(stats.t.ppf(0.975, len(pm) - 1) * pm.std(ddof=1) / np.sqrt(len(pm)))


def _sol_06_3():
    import pandas as pd

    j = pd.read_csv(_runs() / "report" / "judgements.csv")
    j = j[(j["task"] == "kindness") & (j["a"] == "Align-Pro") & (j["b"] == "NoFT")]
    return float((j["p_a"] > 0.5).mean())


register(
    Exercise(
        "06.1",
        "Recompute the fraction of the NoFT→RLHF gap that Align-Pro closes on kindness from "
        "runs/report/samples.csv (mean of the 'reward' column per method). Answer: one number.",
        "(J_AP - J_NoFT) / (J_RLHF - J_NoFT) with J the mean reward of method rows of the task.",
        _sol_06_1,
        rtol=1e-9,
    ),
    Exercise(
        "06.2",
        "The half-width of NoFT's 95% confidence interval on helpfulness: a t-interval over the "
        "30 per-prompt mean rewards. Answer: one number.",
        "Average the samples of each prompt first; then t_{0.975, n-1} * sd(ddof=1) / sqrt(n) "
        "(scipy.stats.t.ppf).",
        _sol_06_2,
        rtol=1e-9,
    ),
    Exercise(
        "06.3",
        "How much do ties matter? From runs/report/judgements.csv, recompute the win rate of "
        "Align-Pro over NoFT on kindness counting a pair as a win only if p_a > 0.5 strictly "
        "(ties as losses). Answer: one number.",
        "Filter task == 'kindness', a == 'Align-Pro', b == 'NoFT'; mean of (p_a > 0.5).",
        _sol_06_3,
        rtol=1e-9,
    ),
)
