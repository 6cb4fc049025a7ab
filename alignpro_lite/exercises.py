"""Exercises with a checker (Spinning Up habit): each notebook ends with a few.

In a notebook::

    answer = ...            # your computation
    apl.exercises.check("01.1", answer)

``check`` compares with the reference solution (``np.allclose``) and prints ✓ / ✗ and a hint;
an ``answer`` of ``None`` or ``...`` means "not attempted yet" and prints the task again.
The reference solutions are functions of the shipped data, so they cannot go stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Exercise:
    key: str
    task: str
    hint: str
    solution: Callable[[], object]
    rtol: float = 1e-6
    atol: float = 1e-8


def _teach():
    from alignpro_lite.problems import teaching_problem

    return teaching_problem()


def _sol_01_1():
    p = _teach()
    return p.optimal_prompter(0.05)[1]


def _sol_01_2():
    p = _teach()
    R = p.R[0]
    # rho*(c1) = rho*(c0)  <=>  log rho_sft(c1) + R1/λ = log rho_sft(c0) + R0/λ
    return (R[1] - R[0]) / np.log(p.rho_sft[0, 0] / p.rho_sft[0, 1])


def _sol_01_3():
    p = _teach()
    winner = np.where(p.rho_sft > 0, p.R, -np.inf).argmax(-1)
    return -np.log(p.rho_sft[np.arange(p.n_x), winner])


def _sol_02_1():
    from alignpro_lite.discrete import dataset_reward_variance

    p = _teach()
    return dataset_reward_variance(p.rho_sft, p.pi_F, p.r, p.P).total


def _sol_02_2():
    from alignpro_lite.discrete import suboptimality_bound

    p = _teach()
    grid = np.geomspace(1e-3, 1e2, 501)
    t = suboptimality_bound(p.rho_sft, p.pi_F, p.r, grid, 0.1, p.P, r_range=p.r_range)
    return grid[np.argmin(t.bound)]


def _sol_02_3():
    from alignpro_lite.discrete import induced_policy, rlhf_optimal_policy, total_variation

    p = _teach()
    pi_star = rlhf_optimal_policy(p.pi_ref, p.r, 0.1)
    return total_variation(pi_star, induced_policy(p.rho_sft, p.pi_F)) @ p.P


def _sol_03_1():
    from alignpro_lite.tables import load_task_table

    tab = load_task_table("kindness", "test")
    pid = tab.samples[0]["prompt_id"]
    s = next(e for e in tab.samples if e["prompt_id"] == pid and e["c"] == 1)
    r = np.asarray(s["rewards"], dtype=float)
    return np.array([r.mean(), r.std(ddof=1) / np.sqrt(r.size)])


def _sol_03_2():
    from alignpro_lite.tables import load_task_table

    tab = load_task_table("kindness", "test")
    p = tab.problem
    rho = p.optimal_prompter(0.02)
    bad = np.array([[k == "bad" for k in kinds] for kinds in tab.kinds])
    return float(((rho * bad).sum(1) > 0.5) @ p.P)


EXERCISES = {
    e.key: e
    for e in [
        Exercise(
            "01.1",
            "Compute rho*(.|x1) for prompt x1 of the teaching instance at λ = 0.05 *by hand* "
            "with numpy (log rho_sft + R/λ, then a log-softmax), without apl.optimal_prompter. "
            "Answer: an array of 5 probabilities.",
            "w = log(rho_sft[1]) + R[1]/lam; subtract w.max(); exponentiate; normalise. "
            "np.log(0) = -inf is fine: exp(-inf) = 0.",
            _sol_01_1,
        ),
        Exercise(
            "01.2",
            "For prompt x0, at which λ does rewrite c1 become exactly as likely as the original "
            "c0 under rho*? Answer: one number (derive it, then check with the dashboard).",
            "Set log rho_sft(c1) + R(c1)/λ = log rho_sft(c0) + R(c0)/λ and solve for λ.",
            _sol_01_2,
        ),
        Exercise(
            "01.3",
            "As λ → 0, what does KL(rho* || rho_sft) tend to for each prompt? Answer: an array "
            "of 4 numbers (one per prompt), computed from rho_sft and R, not by evaluating tiny λ.",
            "rho* becomes a point mass on the best rewrite in the support of rho_sft; the KL of a "
            "point mass at j to q is -log q_j.",
            _sol_01_3,
            rtol=1e-6,
        ),
        Exercise(
            "03.1",
            "From the shipped answers (apl.tables.load_task_table('kindness', 'test').samples), "
            "recompute R-hat and its standard error for prompt 0, candidate 1. Answer: "
            "np.array([R_hat, se]).",
            "Find the sample with the first prompt_id and c == 1; R_hat = mean of its rewards, "
            "se = sample standard deviation (ddof=1) / sqrt(n).",
            _sol_03_1,
        ),
        Exercise(
            "03.2",
            "On kindness/test at λ = 0.02, what fraction of prompts (P-weighted) does rho* send "
            "mostly (probability > 0.5) to the 'bad' rewrite? Answer: one number in [0, 1].",
            "tab.kinds[i][j] == 'bad' marks the bad rewrite; sum rho* over it per prompt, compare "
            "with 0.5, weight by P.",
            _sol_03_2,
        ),
        Exercise(
            "02.1",
            "Compute the data-set reward variance of the *reference* prompter rho_sft on the "
            "teaching instance (x ~ P, x' ~ rho_sft, y ~ pi_F), i.e. noise + choice + between. "
            "Answer: one number; compare it with the variance of rho* at small λ.",
            "apl.dataset_reward_variance(rho, pi_F, r, P).total — or build the joint "
            "distribution of (x, x', y) and compute E[r²] − E[r]².",
            _sol_02_1,
        ),
        Exercise(
            "02.2",
            "With β = 0.1, at which λ is the *bound* (TV term − KL term) smallest on the teaching "
            "instance? Search the grid np.geomspace(1e-3, 1e2, 501). Answer: that λ.",
            "apl.suboptimality_bound(...) accepts the whole grid as lam; np.argmin(t.bound).",
            _sol_02_2,
            rtol=1e-9,
        ),
        Exercise(
            "02.3",
            "With β = 0.1, compute E_x TV(π*, π_ρsft), the total-variation distance between the "
            "RLHF optimum and the policy of the reference prompter, P-weighted. Answer: one number.",
            "apl.rlhf_optimal_policy(pi_ref, r, beta), apl.induced_policy(rho_sft, pi_F), "
            "apl.total_variation(p, q) @ P.",
            _sol_02_3,
        ),
    ]
}


from alignpro_lite.exercises_04 import EXERCISES_04  # noqa: E402
from alignpro_lite.exercises_06 import EXERCISES_0506  # noqa: E402

EXERCISES.update({e.key: e for e in EXERCISES_04})
EXERCISES.update({e.key: e for e in EXERCISES_0506})

def _say(text: str) -> None:
    """Markdown in a notebook (wraps, renders *emphasis*), plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)


def task(key: str) -> str:
    """The text of exercise ``key``."""
    return EXERCISES[key].task


def solution(key: str):
    """The reference answer of exercise ``key`` (for instructors and tests)."""
    return EXERCISES[key].solution()


def check(key: str, answer) -> None:
    """Compare ``answer`` with the reference and print ✓ / ✗ with a hint."""
    is_correct(key, answer, verbose=True)


def is_correct(key: str, answer, verbose: bool = False) -> bool:
    """True when ``answer`` matches the reference solution of exercise ``key``."""
    say = _say if verbose else (lambda *a, **k: None)
    if key not in EXERCISES:
        raise ValueError(f"unknown exercise {key!r}; choose from {sorted(EXERCISES)}.")
    ex = EXERCISES[key]
    if answer is None or answer is Ellipsis:
        say(f"Exercise {key} (not attempted yet): {ex.task}")
        return False
    expected = np.asarray(ex.solution(), dtype=float)
    try:
        got = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        say(f"✗ {key}: the answer must be a number or an array of numbers, got {type(answer)}.")
        return False
    if got.shape != expected.shape:
        say(f"✗ {key}: expected shape {expected.shape}, got {got.shape}. Hint: {ex.hint}")
        return False
    if np.allclose(got, expected, rtol=ex.rtol, atol=ex.atol):
        say(f"✓ {key}: correct.")
        return True
    say(f"✗ {key}: not quite. Hint: {ex.hint}")
    return False
