"""Route (b): self-normalised importance weights and the weighted-MLE projection of rho*."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignpro_lite.exact import discrete
from alignpro_lite.exact.distill import effective_sample_size, snis_weights, tabular_projection


def test_weights_are_a_softmax_of_r_over_lambda():
    R = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    w = snis_weights(R, 0.5)
    np.testing.assert_allclose(w[0], np.exp([0, 2, 4]) / np.exp([0, 2, 4]).sum())
    np.testing.assert_allclose(w[1], 1 / 3)
    # stable in log space: huge R / λ does not overflow
    w = snis_weights(np.array([[1e6, 1e6 - 1.0]]), 1e-3)
    assert np.isfinite(w).all() and w[0, 0] == pytest.approx(1.0)
    # padding (NaN) gets weight 0
    np.testing.assert_allclose(snis_weights(np.array([[0.0, np.nan]]), 1.0), [[1.0, 0.0]])
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError):
            snis_weights(R, bad)
    with pytest.raises(ValueError, match="at least one sample"):
        snis_weights(np.array([[np.nan, np.nan]]), 1.0)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=12),
    st.floats(1e-3, 1e3),
)
def test_ess_between_one_and_n_and_falls_with_lambda(values, lam):
    R = np.array([values])
    n = len(values)
    ess = effective_sample_size(snis_weights(R, lam))[0]
    assert 1 - 1e-9 <= ess <= n + 1e-9
    # smaller λ, weights more concentrated (ESS never rises)
    assert effective_sample_size(snis_weights(R, lam / 10))[0] <= ess + 1e-9


def test_ess_limits():
    R = np.array([[0.0, 0.5, 1.0, 0.2]])
    assert effective_sample_size(snis_weights(R, 1e6))[0] == pytest.approx(4.0)
    assert effective_sample_size(snis_weights(R, 1e-4))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        effective_sample_size(np.array([[-1.0, 2.0]]))


def test_projection_converges_to_the_closed_form():
    rng = np.random.default_rng(0)
    n_x, n_c, N, lam = 4, 5, 200_000, 0.3
    rho_sft = rng.dirichlet(np.ones(n_c), size=n_x)
    R = rng.normal(size=(n_x, n_c))
    samples = np.stack([rng.choice(n_c, size=N, p=rho_sft[i]) for i in range(n_x)])
    w = snis_weights(R[np.arange(n_x)[:, None], samples], lam)
    rho_b = tabular_projection(samples, w, n_c)
    rho_star = discrete.optimal_prompter(rho_sft, R, lam)
    assert discrete.total_variation(rho_b, rho_star).max() < 0.01
    # with few samples and tiny λ the weights degenerate: ESS near 1
    few = samples[:, :20]
    ess = effective_sample_size(
        snis_weights(R[np.arange(n_x)[:, None], few] + 0.3 * rng.normal(size=few.shape), 1e-3)
    )
    assert (ess < 1.5).all()


def test_projection_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        tabular_projection(np.array([[0, 1]]), np.array([[0.5, 0.6]]), 2)
    with pytest.raises(ValueError, match="indices"):
        tabular_projection(np.array([[0, 2]]), np.array([[0.5, 0.5]]), 2)
    np.testing.assert_allclose(
        tabular_projection(np.array([[1, 1, 0]]), np.array([[0.25, 0.25, 0.5]]), 3), [[0.5, 0.5, 0]]
    )
