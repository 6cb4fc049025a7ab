"""Exercises of notebook 05 (the generative prompter). The reference solutions are functions
of the shipped run folders under ``runs/``, so they cannot go stale."""

from __future__ import annotations

from alignpro_lite.config import repo_root
from alignpro_lite.exercises.registry import Exercise, register


def _runs():
    return repo_root() / "runs"


def _sol_05_1():
    import torch

    from alignpro_lite.learn.train import rloo_advantages

    s = torch.tensor([[0.2, 0.5, 0.8, 0.1]], dtype=torch.float64)
    return rloo_advantages(s).numpy()[0]


def _sol_05_2():
    import pandas as pd

    m = pd.read_csv(_runs() / "alignpro-kindness" / "metrics.csv")
    from alignpro_lite.experiment.runs import read_run

    lam = read_run(_runs() / "alignpro-kindness").lam
    return (m["task_reward"] - 0.5 * (1 - m["preservation"]) - lam * m["kl"]).to_numpy()


register(
    Exercise(
        "05.1",
        "Leave-one-out advantages by hand: one prompt, k = 4 sampled (penalised) rewards "
        "s = [0.2, 0.5, 0.8, 0.1]. Compute A_i = s_i - mean of the OTHER three, without "
        "apl.learn.train.rloo_advantages. Answer: an array of 4 numbers (they sum to 0).",
        "Baseline of sample i: (s.sum() - s[i]) / (k - 1).",
        _sol_05_1,
    ),
    Exercise(
        "05.2",
        "The batch objective of every step of the shipped kindness run, recomputed from "
        "runs/alignpro-kindness/metrics.csv: task reward minus the preservation penalty "
        "mu (1 - sim) with mu = 0.5, minus λ times the KL column. Answer: an array, one per step.",
        "m.task_reward - 0.5 * (1 - m.preservation) - lam * m.kl, with lam from "
        "apl.experiment.read_run('runs/alignpro-kindness').lam (it equals the 'objective' "
        "column up to float rounding: why?).",
        _sol_05_2,
        rtol=1e-6,
    ),
)
