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


def _verify_05_3(estimate) -> tuple[bool, str]:
    """Against the average of the maximum over every subset of size n (small pools), with ties."""
    from itertools import combinations

    from alignpro_lite.exercises.registry import returned

    rng = np.random.default_rng(505)
    done = 0
    for _ in range(10):
        m = int(rng.integers(2, 9))
        n = int(rng.integers(1, m + 1))
        r = np.round(rng.normal(size=m), 1)  # rounded: ties happen, as with real rewards
        want = float(np.mean([max(c) for c in combinations(r, n)]))
        got = float(returned(estimate(r.copy(), n)))
        if not np.isclose(got, want, rtol=1e-9, atol=1e-12):
            return False, (f"estimate({r.tolist()}, n={n}) returned {got:.6f}, the average of the "
                           f"maximum over all {n}-subsets is {want:.6f} ({done} pools passed before)")  # fmt: skip
        done += 1
    return True, f"unbiased on {done} random pools (every subset averaged), ties included"


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
    Exercise(
        "05.3",
        "Best-of-n from a pool without waste: given m >= n sampled rewards r of one prompt, "
        "write estimate(r, n) -> the average, over ALL C(m, n) subsets of size n, of the subset's "
        "maximum (an unbiased estimate of E max of n fresh answers), in O(m log m), without "
        "enumerating subsets. Derive the weight of the j-th smallest reward first. "
        "Answer: your function.",
        "Sort r ascending. r_(j) is a subset's maximum when the subset holds r_(j) and n-1 of "
        "the j-1 smaller ones: C(j-1, n-1) of the C(m, n) subsets (math.comb).",
        verify=_verify_05_3,
    ),
)
