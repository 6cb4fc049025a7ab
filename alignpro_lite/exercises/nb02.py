"""Exercises of notebook 02 (trade-offs and the bound); reference solutions are functions of the shipped data."""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _teach():
    from alignpro_lite.exact.problems import teaching_problem

    return teaching_problem()


def _sol_02_1():
    from alignpro_lite.exact.discrete import dataset_reward_variance

    p = _teach()
    return dataset_reward_variance(p.rho_sft, p.pi_F, p.r, p.P).total


def _sol_02_2():
    from alignpro_lite.exact.discrete import suboptimality_bound

    p = _teach()
    grid = np.geomspace(1e-3, 1e2, 501)
    t = suboptimality_bound(p.rho_sft, p.pi_F, p.r, grid, 0.1, p.P, r_range=p.r_range)
    return grid[np.argmin(t.bound)]


def _sol_02_3():
    from alignpro_lite.exact.discrete import induced_policy, rlhf_optimal_policy, total_variation

    p = _teach()
    pi_star = rlhf_optimal_policy(p.pi_ref, p.r, 0.1)
    return total_variation(pi_star, induced_policy(p.rho_sft, p.pi_F)) @ p.P


register(
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
)


# --------------------------------------------------------------------------- a derivation
def _verify_02_4(dkl_dlam) -> tuple[bool, str]:
    from alignpro_lite.exact.discrete import kl_divergence, optimal_prompter
    from alignpro_lite.exercises.verify import check_lam_derivative

    def kl(rho_sft, R, lam):
        return kl_divergence(optimal_prompter(rho_sft, R, lam), rho_sft)

    return check_lam_derivative(dkl_dlam, kl, "dKL/dλ", seed=11)


register(
    Exercise(
        "02.4",
        "Derive d/dλ KL(rho*_λ(.|x) || rho_sft(.|x)) for each prompt and write it as a function "
        "dkl_dlam(rho_sft, R, lam) -> array (n_x,). Then divide exercise 01.4's dE[R]/dλ by it: "
        "the slope of the reward–KL frontier. The checker compares your function with finite "
        "differences on random instances.",
        "KL(rho*||rho_sft) = E_rho*[R]/λ − log Z. Differentiate, using d log Z/dλ = −E_rho*[R]/λ² "
        "and 01.4: dKL/dλ = −Var_rho*(R)/λ³. The slope dE[R]/dKL is therefore λ.",
        verify=_verify_02_4,
        kind="derive",
    ),
)
