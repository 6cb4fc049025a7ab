"""Exercises of notebook 04 (RLHF, Align-Pro and DPO)."""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _sol_04_1():
    from alignpro_lite.exact.discrete import log_partition
    from alignpro_lite.exact.problems import teaching_problem

    p = teaching_problem()
    return -0.1 * log_partition(p.rho_sft, p.R, 0.1)


def _verify_04_2(dpo_fit) -> tuple[bool, str]:
    from alignpro_lite.exact.discrete import optimal_prompter, total_variation
    from alignpro_lite.exact.dpo import preference_table
    from alignpro_lite.exercises.verify import as_array, random_instances

    rng = np.random.default_rng(5)
    n = 0
    for p in random_instances(n=5, seed=99):
        lam = float(10 ** rng.uniform(-1, 0.5))
        W = preference_table(p.rho_sft, p.R)
        rho = as_array(dpo_fit(p.rho_sft, W, lam), p.rho_sft.shape, "your fitted prompter")
        if not np.allclose(rho.sum(-1), 1, atol=1e-6) or (rho < -1e-12).any():
            return False, "each row of the fitted prompter must be a probability distribution"
        tv = float(total_variation(rho, optimal_prompter(p.rho_sft, p.R, lam)).max())
        if tv > 2e-3:
            return (
                False,
                f"TV(your fit, rho*) = {tv:.3g} at λ = {lam:.3g} ({n} instances passed before)",
            )
        n += 1
    return True, f"recovers rho* on {n} random instances (TV < 2e-3)"


register(
    Exercise(
        "04.1",
        "On the teaching instance at λ = 0.1 the implicit reward λ·log(rho*/rho_sft) differs from "
        "R(x, x') by a constant on each prompt (on rho_sft's support). Derive the constant "
        "implicit − R from the closed form and compute it for every prompt (not by reading off "
        "the gap array). Answer: an array of 4 numbers.",
        "rho* = rho_sft·exp(R/λ)/Z(x), so λ log(rho*/rho_sft) = R − λ log Z(x); "
        "apl.exact.discrete.log_partition(rho_sft, R, lam) gives log Z.",
        _sol_04_1,
    ),
    Exercise(
        "04.2",
        "DPO over rewrites: write dpo_fit(rho_sft, W, lam) -> rho (n_x, n_c) that fits a tabular "
        "prompter rho_θ ∝ rho_sft·exp(θ) by minimising the DPO loss "
        "−Σ W[x,i,j] log σ(λ log(rho_θ(i)/rho_sft(i)) − λ log(rho_θ(j)/rho_sft(j))) "
        "on preference weights W[x,i,j] (how often rewrite i was preferred to j; here the expected "
        "counts of apl.exact.dpo.preference_table). The checker draws random instances, builds W "
        "from a reward R you never see, and checks that your fit recovers rho* ∝ rho_sft·exp(R/λ).",
        "Per prompt the loss is a logistic regression in the differences d_ij = λ(θ_i − θ_j): gradient "
        "descent on θ (start at 0) with the gradient −λ Σ_j (W_ij (1−σ(d_ij)) − W_ji (1−σ(d_ji))) "
        "works; several thousand full-batch steps, or scipy.optimize.minimize. Keep θ = −inf "
        "(rho = 0) where rho_sft = 0.",
        verify=_verify_04_2,
        kind="derive",
    ),
)
