"""Exercises of notebook 05 (a real LLM in the loop); reference solutions are functions of the shipped data."""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _sol_05_1():
    from alignpro_lite.llm.tables import load_task_table

    tab = load_task_table("kindness", "train")
    pid = tab.samples[0]["prompt_id"]
    s = next(e for e in tab.samples if e["prompt_id"] == pid and e["c"] == 1)
    r = np.asarray(s["rewards"], dtype=float)
    return np.array([r.mean(), r.std(ddof=1) / np.sqrt(r.size)])


def _sol_05_2():
    from alignpro_lite.llm.tables import load_task_table

    tab = load_task_table("kindness", "train")
    p = tab.problem
    rho = p.optimal_prompter(0.02)
    bad = np.array([[k == "bad" for k in kinds] for kinds in tab.kinds])
    return float(((rho * bad).sum(1) > 0.5) @ p.P)


register(
    Exercise(
        "05.1",
        "From the shipped answers (apl.llm.tables.load_task_table('kindness', 'train').samples), "
        "recompute R-hat and its standard error for prompt 0, candidate 1. Answer: "
        "np.array([R_hat, se]).",
        "Find the sample with the first prompt_id and c == 1; R_hat = mean of its rewards, "
        "se = sample standard deviation (ddof=1) / sqrt(n).",
        _sol_05_1,
    ),
    Exercise(
        "05.2",
        "On kindness/train at λ = 0.02, what fraction of prompts (P-weighted) does rho* send "
        "mostly (probability > 0.5) to the 'bad' rewrite? Answer: one number in [0, 1].",
        "tab.kinds[i][j] == 'bad' marks the bad rewrite; sum rho* over it per prompt, compare "
        "with 0.5, weight by P.",
        _sol_05_2,
    ),
)
