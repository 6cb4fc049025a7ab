"""The fused sweep gives the same numbers as the one-equation functions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alignpro_lite as apl
from alignpro_lite.exact.sweep import lam_grid, sweep_metrics


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


# --------------------------------------------------------------------------- bad input (issue 9)
@pytest.mark.parametrize(
    "spec", ["nan:1:3", "1:inf:3", "-1:1:3", "1:2:0", "1:2:-5", "1:2", "0.1,nan", "0.1,inf",
             "0.1,-2", "", ",", "a,b", "1e-3:1e2:1000000", "1:2:3:4"]
)  # fmt: skip
def test_lam_grid_refuses_non_finite_non_positive_and_huge(spec):
    with pytest.raises(ValueError, match="λ"):
        lam_grid(spec)


def test_lam_grid_bound_is_a_parameter():
    assert len(lam_grid("1:2:10000")) == 10000
    with pytest.raises(ValueError, match="at most 3"):
        lam_grid("1,2,3,4", max_n=3)


def test_sweep_metrics_refuses_a_negative_variance():
    rho_sft = np.full((2, 3), 1 / 3)
    R = np.zeros((2, 3))
    V = np.zeros((2, 3))
    V[1, 2] = -1.0
    with pytest.raises(ValueError, match="V .*>= 0"):
        sweep_metrics(rho_sft, R, 0.1, V)


def test_choice_variance_survives_a_large_reward_offset():
    """Var_rho R is computed from centred values: adding 1e8 to every reward changes nothing."""
    import numpy as np

    from alignpro_lite.exact.problems import random_problem
    from alignpro_lite.exact.sweep import sweep_metrics

    p = random_problem(4, 5, 3, seed=3, zero_candidates=0.3)
    lams = np.geomspace(1e-2, 10, 7)
    base = sweep_metrics(p.rho_sft, p.R, lams, p.V, p.P)
    shifted = sweep_metrics(p.rho_sft, p.R + 1e8, lams, p.V, p.P)
    assert np.allclose(shifted["choice"], base["choice"], rtol=1e-6, atol=1e-12)
    assert (base["choice"] > 1e-4).any()  # the comparison is not between zeros
