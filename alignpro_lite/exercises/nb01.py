"""Exercises of notebook 01 (the closed form); reference solutions are functions of the shipped data."""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _teach():
    from alignpro_lite.exact.problems import teaching_problem

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


register(
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
)


# --------------------------------------------------------------------------- a derivation
def _verify_01_4(dreward_dlam) -> tuple[bool, str]:
    from alignpro_lite.exact.discrete import expected_reward, optimal_prompter
    from alignpro_lite.exercises.verify import check_lam_derivative

    def reward(rho_sft, R, lam):
        return expected_reward(optimal_prompter(rho_sft, R, lam), R)

    return check_lam_derivative(dreward_dlam, reward, "dE[R]/dλ", seed=7)


register(
    Exercise(
        "01.4",
        "Derive d/dλ of E_{x'~rho*_λ(.|x)} R(x, x') for each prompt and write it as a function "
        "dreward_dlam(rho_sft, R, lam) -> array (n_x,). Differentiate log rho* = log rho_sft + "
        "R/λ − log Z(λ) first. The checker compares your function with finite differences on "
        "random instances (some with rho_sft = 0 candidates).",
        "d log rho*(x')/dλ = −R(x')/λ² + E_rho*[R]/λ², so dE[R]/dλ = Σ R·rho*·d log rho*/dλ = "
        "−Var_rho*(R)/λ². Compute rho* with apl.optimal_prompter, then the variance per row.",
        verify=_verify_01_4,
        kind="derive",
    ),
)
