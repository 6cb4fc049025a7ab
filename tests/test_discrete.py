"""The exact mathematics of docs/design.md §1: identities, limits, numeric edges, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import instances

import alignpro_lite as apl
from alignpro_lite.exact import discrete

SETTINGS = settings(max_examples=60, deadline=None)


# --------------------------------------------------------------------------- strategies
lams = st.floats(1e-3, 1e3)


def naive_rho_star(rho_sft, R, lam):
    """Reference implementation straight from the formula (safe only for moderate R/λ)."""
    w = rho_sft * np.exp(R / lam)
    return w / w.sum(-1, keepdims=True)


# --------------------------------------------------------------------------- closed form
@SETTINGS
@given(instances(), lams)
def test_optimal_prompter_is_normalised_and_keeps_support(prob, lam):
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, lam)
    assert rho.shape == prob.rho_sft.shape
    np.testing.assert_allclose(rho.sum(-1), 1.0, atol=1e-12)
    assert (rho >= 0).all()
    assert (rho[prob.rho_sft == 0] == 0).all()


@SETTINGS
@given(instances(zero_candidates=False), st.floats(0.05, 50))
def test_matches_naive_formula_where_that_is_safe(prob, lam):
    R = prob.R / max(1.0, np.abs(prob.R).max())  # keep exp(R/λ) moderate for the naive one
    np.testing.assert_allclose(
        apl.optimal_prompter(prob.rho_sft, R, lam),
        naive_rho_star(prob.rho_sft, R, lam),
        rtol=1e-9,
        atol=1e-12,
    )


@SETTINGS
@given(instances(), lams, st.integers(0, 2**31 - 1))
def test_rho_star_maximises_the_objective(prob, lam, seed):
    rng = np.random.default_rng(seed)
    rho_star = apl.optimal_prompter(prob.rho_sft, prob.R, lam)
    best = apl.objective(rho_star, prob.rho_sft, prob.R, lam, prob.P)
    # random prompters on the support of rho_sft (elsewhere KL = inf), plus rho_sft itself
    for _ in range(5):
        rho = rng.dirichlet(np.ones(prob.n_c), size=prob.n_x) * (prob.rho_sft > 0)
        rho /= rho.sum(-1, keepdims=True)
        other = apl.objective(rho, prob.rho_sft, prob.R, lam, prob.P)
        assert best >= other - 1e-9 * (1 + abs(other))
    assert best >= apl.objective(prob.rho_sft, prob.rho_sft, prob.R, lam, prob.P) - 1e-9


@SETTINGS
@given(instances(), lams)
def test_value_identity_lam_log_Z(prob, lam):
    """E_rho*[R] - λ KL(rho*||rho_sft) = λ log Z(x), per prompt."""
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, lam)
    lhs = apl.expected_reward(rho, prob.R) - lam * apl.kl_divergence(rho, prob.rho_sft)
    rhs = apl.optimal_value(prob.rho_sft, prob.R, lam)
    scale = 1 + np.abs(prob.R).max()
    np.testing.assert_allclose(lhs, rhs, atol=1e-9 * scale)
    np.testing.assert_allclose(
        lam * apl.log_partition(prob.rho_sft, prob.R, lam), rhs, atol=1e-8 * scale
    )


@SETTINGS
@given(instances())
def test_large_lambda_limit_is_rho_sft(prob):
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, 1e12)
    np.testing.assert_allclose(rho, prob.rho_sft, atol=1e-8)


@SETTINGS
@given(instances())
def test_small_lambda_limit_is_rho_sft_on_the_argmax(prob):
    R = np.round(prob.R, 2)  # create ties on purpose
    rho = apl.optimal_prompter(prob.rho_sft, R, 1e-10)
    support = prob.rho_sft > 0
    Rmax = np.where(support, R, -np.inf).max(-1, keepdims=True)
    winners = support & (R == Rmax)
    expected = np.where(winners, prob.rho_sft, 0.0)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(rho, expected, atol=1e-9)


def test_lambda_sweep_adds_a_leading_axis():
    prob = apl.random_problem(5, 4, 3, seed=1)
    lams_ = np.array([0.01, 0.1, 1.0])
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, lams_)
    assert rho.shape == (3, 5, 4)
    for k, lam in enumerate(lams_):
        np.testing.assert_allclose(rho[k], apl.optimal_prompter(prob.rho_sft, prob.R, lam))
    assert apl.optimal_value(prob.rho_sft, prob.R, lams_).shape == (3, 5)
    assert apl.objective(rho, prob.rho_sft, prob.R, lams_, prob.P).shape == (3,)


# --------------------------------------------------------------------------- numeric edges
def test_tiny_lambda_huge_rewards_stay_finite_and_exact():
    rho_sft = np.array([[0.2, 0.3, 0.5], [0.5, 0.5, 0.0]])
    R = np.array([[1e4, 1e4 - 1e-3, -1e4], [3.0, 1e4, 2e4]])  # 2e4 sits on a zero candidate
    rho = apl.optimal_prompter(rho_sft, R, 1e-8)
    assert np.isfinite(rho).all()
    np.testing.assert_array_equal(rho, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    value = apl.optimal_value(rho_sft, R, 1e-8)
    np.testing.assert_allclose(
        value, [1e4 + 1e-8 * np.log(0.2), 1e4 + 1e-8 * np.log(0.5)], rtol=1e-15
    )
    assert np.isfinite(apl.log_partition(rho_sft, R, 1e-8)).all()
    # absurdly small λ: still no NaN
    assert np.isfinite(apl.optimal_prompter(rho_sft, R, 1e-320)).all()


def test_exp_would_overflow_but_log_space_does_not():
    rho_sft = np.full((1, 2), 0.5)
    R = np.array([[1000.0, 999.0]])
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(R / 0.1)).all()  # the naive route overflows
    rho = apl.optimal_prompter(rho_sft, R, 0.1)
    np.testing.assert_allclose(rho, [[1 / (1 + np.exp(-10)), np.exp(-10) / (1 + np.exp(-10))]])


def test_zero_probability_candidates_stay_zero_for_every_lambda():
    rho_sft = np.array([[0.0, 1.0, 0.0]])
    R = np.array([[100.0, 0.0, 50.0]])
    rho = apl.optimal_prompter(rho_sft, R, np.geomspace(1e-8, 1e8, 9))
    np.testing.assert_array_equal(rho, np.broadcast_to([0.0, 1.0, 0.0], rho.shape))


def test_ties_at_small_lambda_split_by_rho_sft():
    rho = apl.optimal_prompter(np.array([[0.1, 0.3, 0.6]]), np.array([[1.0, 1.0, 0.0]]), 1e-9)
    np.testing.assert_allclose(rho, [[0.25, 0.75, 0.0]])


# --------------------------------------------------------------------------- divergences
@SETTINGS
@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_kl_nonnegative_and_zero_iff_equal(n, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(n), size=2)
    assert apl.kl_divergence(p, q) >= 0
    assert apl.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-15)
    if not np.allclose(p, q):
        assert apl.kl_divergence(p, q) > 0
    assert 0 <= apl.total_variation(p, q) <= 1


def test_kl_zero_log_zero_and_infinite_when_support_missing():
    assert apl.kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(np.log(2))
    assert apl.kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf


# --------------------------------------------------------------------------- metrics
@SETTINGS
@given(instances(), lams)
def test_variance_split_matches_the_joint_distribution(prob, lam):
    """Law of total variance: compare with the variance of the joint (x', y) distribution."""
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, lam)
    split = apl.reward_variance(rho, prob.pi_F, prob.r)
    joint = rho[:, :, None] * prob.pi_F  # (n_x, n_c, n_y)
    r = prob.r[:, None, :]
    mean = (joint * r).sum((1, 2))
    var = (joint * (r - mean[:, None, None]) ** 2).sum((1, 2))
    scale = 1 + np.abs(prob.r).max() ** 2
    np.testing.assert_allclose(split.total, var, atol=1e-9 * scale)
    assert (split.noise >= -1e-12).all() and (split.choice >= -1e-12).all()
    # data-set level: add the between-prompt term
    ds = apl.dataset_reward_variance(rho, prob.pi_F, prob.r, prob.P)
    all_mean = prob.P @ mean
    all_var = prob.P @ (var + (mean - all_mean) ** 2)
    np.testing.assert_allclose(ds.total, all_var, atol=1e-9 * scale)


def test_induced_policy_and_mean_reward_agree():
    prob = apl.random_problem(6, 5, 4, seed=3)
    rho = apl.optimal_prompter(prob.rho_sft, prob.R, 0.3)
    pi = apl.induced_policy(rho, prob.pi_F)
    np.testing.assert_allclose(pi.sum(-1), 1.0)
    J = (pi * prob.r).sum(-1) @ prob.P
    assert apl.mean_reward(rho, prob.R, prob.P) == pytest.approx(J)


def test_rlhf_policy_is_gibbs_over_responses():
    prob = apl.random_problem(4, 3, 5, seed=2)
    pi = apl.rlhf_optimal_policy(prob.pi_ref, prob.r, 0.5)
    np.testing.assert_allclose(pi, naive_rho_star(prob.pi_ref, prob.r, 0.5), rtol=1e-10)


# --------------------------------------------------------------------------- the bound
@SETTINGS
@given(instances(), lams, st.floats(1e-3, 1e3))
def test_suboptimality_bound_holds(prob, lam, beta):
    t = apl.suboptimality_bound(
        prob.rho_sft, prob.pi_F, prob.r, lam, beta, prob.P, r_range=prob.r_range
    )
    scale = 1 + np.abs(prob.r).max()
    assert t.gap <= t.bound + 1e-9 * scale
    assert t.tv_term <= t.tv_target + t.tv_prompter + 1e-12 * scale  # triangle inequality
    assert t.kl_term >= 0


def test_bound_terms_vectorise_over_lambda():
    prob = apl.random_problem(5, 4, 3, seed=7)
    grid = np.geomspace(1e-3, 1e2, 11)
    t = apl.suboptimality_bound(prob.rho_sft, prob.pi_F, prob.r, grid, 0.2, prob.P)
    assert t.gap.shape == t.bound.shape == t.tv_term.shape == (11,)
    assert (t.slack >= -1e-12).all()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("lam", [0.0, -1.0, np.nan, np.inf, [0.1, -0.1], [[0.1]], []])
def test_bad_lambda(lam):
    with pytest.raises(ValueError, match="lam"):
        apl.optimal_prompter(np.full((1, 2), 0.5), np.zeros((1, 2)), lam)


@pytest.mark.parametrize(
    "rho_sft, match",
    [
        ([[0.5, 0.6]], "sum to 1"),
        ([[1.5, -0.5]], "negative"),
        ([[np.nan, 1.0]], "NaN"),
        ([0.5, 0.5], "2-D"),
    ],
)
def test_bad_rho_sft(rho_sft, match):
    with pytest.raises(ValueError, match=match):
        apl.optimal_prompter(rho_sft, np.zeros((1, 2)), 1.0)


def test_tolerance_accepts_float_noise():
    rho_sft = np.array([[1 / 3, 1 / 3, 1 / 3 + 1e-9]])
    apl.optimal_prompter(rho_sft, np.zeros((1, 3)), 1.0)


def test_nan_rewards_and_shape_mismatch():
    with pytest.raises(ValueError, match="R has 1 NaN"):
        apl.optimal_prompter(np.full((1, 2), 0.5), [[np.nan, 0.0]], 1.0)
    with pytest.raises(ValueError, match="shape"):
        apl.optimal_prompter(np.full((1, 2), 0.5), np.zeros((1, 3)), 1.0)
    pi_F = np.full((2, 3, 4), 0.25)
    with pytest.raises(ValueError, match="r has shape"):
        apl.prompt_values(pi_F, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="r has 0 NaN and 1 infinite"):
        apl.prompt_values(pi_F, [[0, 0, 0, np.inf], [0, 0, 0, 0]])
    with pytest.raises(ValueError, match="rho has shape"):
        apl.induced_policy(np.full((2, 4), 0.25), pi_F)
    with pytest.raises(ValueError, match="beta"):
        apl.rlhf_optimal_policy(np.full((1, 2), 0.5), np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="P has 3 entries"):
        apl.mean_reward(np.full((2, 2), 0.5), np.zeros((2, 2)), [0.2, 0.3, 0.5])


def test_bound_rejects_a_range_that_misses_rewards():
    prob = apl.random_problem(3, 3, 3, seed=0)
    with pytest.raises(ValueError, match="r_range"):
        discrete.suboptimality_bound(prob.rho_sft, prob.pi_F, prob.r, 1.0, 1.0, r_range=(0.5, 0.6))


def test_objective_refuses_a_lam_that_does_not_match_the_sweep_axis():
    prob = apl.random_problem(3, 4, 2, seed=0)
    rho = prob.optimal_prompter(np.array([0.1, 1.0]))  # (2, n_x, n_c)
    assert apl.objective(rho, prob.rho_sft, prob.R, np.array([0.1, 1.0])).shape == (2,)
    for lam in (np.array([0.1, 1.0, 2.0]), np.array([0.1, 1.0])[:1]):
        with pytest.raises(ValueError, match="lam has"):
            apl.objective(rho, prob.rho_sft, prob.R, lam)
    with pytest.raises(ValueError, match="lam has"):
        apl.objective(rho[0], prob.rho_sft, prob.R, np.array([0.1, 1.0]))
