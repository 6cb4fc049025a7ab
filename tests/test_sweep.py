"""The fused sweep gives the same numbers as the one-equation functions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alignpro_lite as apl


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([0.0, 0.4]), st.sampled_from([1.0, 1e3]))
def test_sweep_metrics_match_the_reference_functions(seed, zero, scale):
    prob = apl.random_problem(5, 6, 4, seed=seed, zero_candidates=zero, reward_scale=scale)
    lams = np.geomspace(1e-4, 1e3, 7)
    m = apl.sweep_metrics(prob.rho_sft, prob.R, lams, prob.V, prob.P)
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, lams)
    tol = dict(rtol=1e-7, atol=1e-9 * scale**2)
    np.testing.assert_allclose(m["rho"], rho, **tol)
    np.testing.assert_allclose(m["reward"], apl.expected_reward(rho, prob.R), **tol)
    split = apl.reward_variance(rho, prob.pi_F, prob.r)
    np.testing.assert_allclose(m["noise"], split.noise, **tol)
    np.testing.assert_allclose(m["choice"], split.choice, rtol=1e-6, atol=1e-7 * scale**2)
    np.testing.assert_allclose(m["kl"], apl.kl_divergence(rho, prob.rho_sft), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        m["mean_objective"],
        apl.objective(rho, prob.rho_sft, prob.R, lams, prob.P),
        rtol=1e-7,
        atol=1e-8 * scale,
    )
    np.testing.assert_allclose(m["value"], apl.optimal_value(prob.rho_sft, prob.R, lams), **tol)
    ds = apl.dataset_reward_variance(rho, prob.pi_F, prob.r, prob.P)
    np.testing.assert_allclose(m["mean_variance"], ds.total, rtol=1e-6, atol=1e-7 * scale**2)


def test_lam_grid():
    np.testing.assert_allclose(apl.lam_grid("1e-2:1e2:5"), [1e-2, 1e-1, 1, 10, 100])
    np.testing.assert_allclose(apl.lam_grid("0.1, 1,10"), [0.1, 1, 10])
    for bad in ["abc", "1:2", "0:1:5", "1:10:0", "-1,2", ""]:
        with pytest.raises(ValueError):
            apl.lam_grid(bad)
