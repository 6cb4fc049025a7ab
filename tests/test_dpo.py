"""DPO on tables: the implicit reward, preference data, the loss, and the exact fit recovering
the closed-form ``rho*`` (and at which KL weight)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alignpro_lite as apl
from alignpro_lite.exact import dpo
from alignpro_lite.exact.dpo import fit_dpo, preference_table, sample_preferences

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def instances(draw, concentrations=(0.1, 0.5, 1.0, 5.0)):
    """Random tables with rewards in [0, 1], some zero-probability and single-support rows."""
    n_x = draw(st.integers(1, 5))
    n_c = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    conc = draw(st.sampled_from(concentrations))
    zero = draw(st.sampled_from([0.0, 0.4]))
    return apl.random_problem(n_x, n_c, 3, seed=seed, concentration=conc, zero_candidates=zero)


def _two_candidates():
    rho_sft = np.array([[0.3, 0.7, 0.0], [1.0, 0.0, 0.0]])
    R = np.array([[0.2, 0.9, 0.5], [0.4, 0.1, 0.3]])
    return rho_sft, R


# --------------------------------------------------------------------------- implicit reward
@SETTINGS
@given(instances(concentrations=(0.5, 1.0, 5.0)), st.floats(0.05, 50))
def test_implicit_reward_of_rho_star_is_R_minus_lam_log_Z(prob, lam):
    rho = prob.optimal_prompter(lam)
    got = dpo.implicit_reward(rho, prob.rho_sft, lam)
    on = prob.rho_sft > 0
    want = prob.R - apl.optimal_value(prob.rho_sft, prob.R, lam)[:, None]  # R - λ log Z
    np.testing.assert_allclose(got[on], want[on], atol=1e-8)
    assert np.isnan(got[~on]).all()


@SETTINGS
@given(instances(), st.floats(0.05, 50))
def test_implicit_reward_of_the_rlhf_optimum_is_r_up_to_a_constant(prob, beta):
    pi = apl.rlhf_optimal_policy(prob.pi_ref, prob.r, beta)
    got = dpo.implicit_reward(pi, prob.pi_ref, beta)
    on = (prob.pi_ref > 1e-250) & (pi > 1e-250)
    shift = np.where(on, got - prob.r, np.nan)
    spread = np.nanmax(shift, axis=1) - np.nanmin(shift, axis=1)
    assert np.nanmax(spread) < 1e-8


def test_implicit_reward_shapes_nan_and_sweep_axis():
    rho_sft, R = _two_candidates()
    lams = np.array([0.1, 1.0, 10.0])
    rho = apl.optimal_prompter(rho_sft, R, lams)  # (3, n_x, n_c)
    got = dpo.implicit_reward(rho, rho_sft, lams)
    assert got.shape == (3, 2, 3)
    assert np.isnan(got[:, 0, 2]).all() and np.isnan(got[:, 1, 1:]).all()
    # R(0) - R(1) is recovered at every λ: the implicit reward is R up to a constant
    np.testing.assert_allclose(got[:, 0, 0] - got[:, 0, 1], R[0, 0] - R[0, 1], atol=1e-12)
    policy = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert dpo.implicit_reward(policy, rho_sft, 1.0)[0, 0] == -np.inf


@pytest.mark.parametrize(
    ("policy", "ref", "temp", "match"),
    [
        (np.full((2, 3), 1 / 3), np.full((2, 3), 1 / 3), 0.0, "temp"),
        (np.full((2, 3), 1 / 3), np.full((2, 3), 1 / 3), [1.0, 2.0], "temp"),
        (np.full((2, 3), 1 / 3), np.full((2, 4), 1 / 4), 1.0, "broadcast"),
        (np.full((2, 3), 0.5), np.full((2, 3), 1 / 3), 1.0, "policy"),
    ],
)
def test_implicit_reward_rejects_bad_input(policy, ref, temp, match):
    with pytest.raises(ValueError, match=match):
        dpo.implicit_reward(policy, ref, temp)


# --------------------------------------------------------------------------- preference data
@SETTINGS
@given(instances(), st.floats(0.01, 100))
def test_preference_table_pairs_sum_to_the_pair_probability(prob, temp):
    W = dpo.preference_table(prob.rho_sft, prob.R, temp)
    s = prob.rho_sft
    n_c = s.shape[1]
    off = ~np.eye(n_c, dtype=bool)
    np.testing.assert_allclose((W + W.transpose(0, 2, 1))[:, off], (s[:, :, None] * s[:, None, :])[:, off], atol=1e-15)  # fmt: skip
    assert (np.diagonal(W, axis1=1, axis2=2) == 0).all() and (W >= 0).all()
    zero = s == 0
    assert (W[zero[:, :, None] | zero[:, None, :]] == 0).all()
    # the better rewrite of every pair is preferred more often
    better = prob.R[:, :, None] > prob.R[:, None, :]
    assert (W[better] >= W.transpose(0, 2, 1)[better]).all()


def test_preference_table_by_hand_and_stable_for_huge_reward_gaps():
    rho_sft = np.array([[0.5, 0.5]])
    W = dpo.preference_table(rho_sft, np.array([[1.0, 0.0]]), temp=0.5)
    p = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(W[0], [[0.0, 0.25 * p], [0.25 * (1 - p), 0.0]], rtol=1e-14)
    W = dpo.preference_table(rho_sft, np.array([[1e6, -1e6]]))
    assert np.isfinite(W).all()
    np.testing.assert_allclose(W[0], [[0.0, 0.25], [0.0, 0.0]])


def test_sample_preferences_matches_the_table_in_expectation():
    prob = apl.random_problem(3, 4, 3, seed=5, zero_candidates=0.3)
    prob.rho_sft[2] = [1.0, 0.0, 0.0, 0.0]  # a single-support prompt: no pairs at all
    n = 200_000
    counts = dpo.sample_preferences(prob.rho_sft, prob.R, n, seed=1)
    W = dpo.preference_table(prob.rho_sft, prob.R)
    assert counts.shape == W.shape and (counts[2] == 0).all()
    assert (np.diagonal(counts, axis1=1, axis2=2) == 0).all()
    assert (counts[W == 0] == 0).all()  # zero-probability candidates are never drawn
    mean = 2 * n * W
    se = np.sqrt(np.maximum(mean, 1.0))
    assert (np.abs(counts - mean) < 5 * se).all()
    np.testing.assert_array_equal(counts, dpo.sample_preferences(prob.rho_sft, prob.R, n, seed=1))
    assert not np.array_equal(counts, dpo.sample_preferences(prob.rho_sft, prob.R, n, seed=2))


@pytest.mark.parametrize("n_pairs", [0, -3, 2.5, True])
def test_sample_preferences_rejects_bad_n_pairs(n_pairs):
    rho_sft, R = _two_candidates()
    with pytest.raises(ValueError, match="n_pairs"):
        dpo.sample_preferences(rho_sft, R, n_pairs, seed=0)


# --------------------------------------------------------------------------- loss and gradient
def _naive_loss(theta, W, lam):
    total = 0.0
    for x, i, j in np.argwhere(W > 0):
        total -= W[x, i, j] * np.log(1 / (1 + np.exp(-lam * (theta[x, i] - theta[x, j]))))
    return total / W.sum()


@SETTINGS
@given(instances(), st.floats(0.05, 5), st.integers(0, 2**31 - 1))
def test_dpo_grad_matches_finite_differences(prob, lam, seed):
    W = dpo.preference_table(prob.rho_sft, prob.R)
    if W.sum() == 0:
        return
    theta = np.random.default_rng(seed).normal(size=prob.rho_sft.shape)
    g = dpo.dpo_grad(theta, prob.rho_sft, W, lam)
    h = 1e-6
    fd = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        up = dpo.dpo_loss(theta + e, prob.rho_sft, W, lam)
        down = dpo.dpo_loss(theta - e, prob.rho_sft, W, lam)
        fd[idx] = (up - down) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-7)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-12)
    assert dpo.dpo_loss(theta, prob.rho_sft, W, lam) == pytest.approx(
        _naive_loss(theta, W, lam), rel=1e-9
    )
    shifted = theta + np.arange(theta.shape[0])[:, None]  # a constant per prompt changes nothing
    assert dpo.dpo_loss(shifted, prob.rho_sft, W, lam) == pytest.approx(dpo.dpo_loss(theta, prob.rho_sft, W, lam), rel=1e-12)  # fmt: skip


def test_dpo_loss_is_smallest_at_R_over_lam():
    prob = apl.random_problem(4, 5, 3, seed=2)
    lam = 0.3
    W = dpo.preference_table(prob.rho_sft, prob.R)
    best = dpo.dpo_loss(prob.R / lam, prob.rho_sft, W, lam)
    np.testing.assert_allclose(dpo.dpo_grad(prob.R / lam, prob.rho_sft, W, lam), 0.0, atol=1e-14)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = prob.R / lam + rng.normal(scale=0.5, size=prob.R.shape)
        assert dpo.dpo_loss(other, prob.rho_sft, W, lam) > best


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda W: -W, "negative"),
        (lambda W: W + np.eye(3), "diagonal"),
        (lambda W: W[:, :2, :2], "shape"),
        (lambda W: 0 * W, "all zeros"),
        (lambda W: W + np.array([[0, 0, 1.0], [0, 0, 0], [0, 0, 0]]), "support"),
        (lambda W: W * np.nan, "NaN"),
    ],
)
def test_dpo_loss_rejects_bad_W(edit, match):
    rho_sft, R = _two_candidates()
    W = dpo.preference_table(rho_sft, R)
    with pytest.raises(ValueError, match=match):
        dpo.dpo_loss(np.zeros_like(R), rho_sft, edit(W), 1.0)


def test_dpo_loss_rejects_bad_theta_and_lam():
    rho_sft, R = _two_candidates()
    W = dpo.preference_table(rho_sft, R)
    with pytest.raises(ValueError, match="theta"):
        dpo.dpo_loss(np.zeros((2, 2)), rho_sft, W, 1.0)
    with pytest.raises(ValueError, match="lam"):
        dpo.dpo_grad(np.zeros_like(R), rho_sft, W, -1.0)
    with pytest.raises(ValueError, match="steps"):
        dpo.fit_dpo(rho_sft, W, 1.0, steps=0)


# --------------------------------------------------------------------------- the exact fit
@SETTINGS
@given(instances(), st.floats(0.05, 5))
def test_fit_dpo_on_bt_labels_recovers_rho_star_at_lam(prob, lam):
    W = dpo.preference_table(prob.rho_sft, prob.R, temp=1.0)
    rho = dpo.fit_dpo(prob.rho_sft, W, lam)
    star = apl.optimal_prompter(prob.rho_sft, prob.R, lam)
    assert apl.total_variation(rho, star).max() < 1e-9  # exact to round-off
    assert (rho[prob.rho_sft == 0] == 0).all()
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, atol=1e-12)


@SETTINGS
@given(instances(concentrations=(0.5, 1.0)), st.floats(0.05, 5), st.floats(0.2, 5))
def test_bt_scale_times_dpo_temperature_is_the_kl_weight(prob, lam, temp):
    W = dpo.preference_table(prob.rho_sft, prob.R, temp=temp)
    rho = dpo.fit_dpo(prob.rho_sft, W, lam)
    star = apl.optimal_prompter(prob.rho_sft, prob.R, temp * lam)
    assert apl.total_variation(rho, star).max() < 1e-9


def test_matching_bt_scale_and_lam_does_not_give_rho_star_at_lam():
    """temp = λ = 2 gives rho*_4: the recovered KL weight is the product, not λ."""
    prob = apl.teaching_problem()
    W = dpo.preference_table(prob.rho_sft, prob.R, temp=2.0)
    rho = dpo.fit_dpo(prob.rho_sft, W, 2.0)
    assert apl.total_variation(rho, prob.optimal_prompter(4.0)).max() < 1e-9
    assert apl.total_variation(rho, prob.optimal_prompter(2.0)).max() > 1e-3


@pytest.mark.parametrize("lam", [1e-3, 1e-2, 1e2, 1e3])
def test_fit_dpo_at_extreme_lam(lam):
    prob = apl.random_problem(5, 6, 4, seed=11, concentration=0.3, zero_candidates=0.3)
    W = dpo.preference_table(prob.rho_sft, prob.R)
    rho = dpo.fit_dpo(prob.rho_sft, W, lam)
    assert apl.total_variation(rho, prob.optimal_prompter(lam)).max() < 1e-9
    on = prob.rho_sft > 0
    rel = dpo.implicit_reward(rho, prob.rho_sft, lam) - prob.R
    with np.errstate(invalid="ignore"):
        finite = on & np.isfinite(rel)
    spread = [np.ptp(rel[x, finite[x]]) for x in range(prob.n_x) if finite[x].any()]
    if lam >= 1:  # no underflow of rho: the implicit reward is R up to a constant per prompt
        assert max(spread) < 1e-8


def test_fit_dpo_single_support_zero_candidates_and_unpaired_prompts():
    rho_sft = np.array([[1.0, 0.0, 0.0], [0.2, 0.0, 0.8], [0.5, 0.5, 0.0]])
    R = np.array([[0.1, 0.9, 0.5], [0.0, 1.0, 0.7], [0.3, 0.6, 0.0]])
    W = dpo.preference_table(rho_sft, R)
    W[2] = 0.0  # a prompt whose pairs were never drawn: nothing to learn, rho_sft stays
    rho = dpo.fit_dpo(rho_sft, W, 0.1)
    np.testing.assert_array_equal(rho[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(rho[1], apl.optimal_prompter(rho_sft, R, 0.1)[1], atol=1e-14)
    assert rho[1, 1] == 0.0
    np.testing.assert_allclose(rho[2], rho_sft[2], atol=1e-15)
    np.testing.assert_array_equal(dpo.fit_dpo(rho_sft[:1], W[:1], 0.1), rho_sft[:1])


def test_fit_dpo_on_sampled_pairs_approaches_rho_star():
    prob = apl.random_problem(3, 4, 3, seed=7)
    lam = 0.5
    star = prob.optimal_prompter(lam)
    tv = []
    for n in (2_000, 200_000):
        counts = dpo.sample_preferences(prob.rho_sft, prob.R, n, seed=3)
        tv.append(apl.total_variation(dpo.fit_dpo(prob.rho_sft, counts, lam), star).max())
    assert tv[1] < 0.01 and tv[1] < tv[0]


def test_fit_dpo_without_a_finite_optimum_warns_and_drives_the_loser_to_zero():
    rho_sft = np.array([[0.5, 0.5]])
    W = np.array([[[0.0, 3.0], [0.0, 0.0]]])  # candidate 0 won every comparison
    with pytest.warns(RuntimeWarning, match=r"prompt\(s\) \[0\]"):
        rho = dpo.fit_dpo(rho_sft, W, 1.0, steps=30)
    assert rho[0, 1] < 1e-6 and rho[0, 0] == pytest.approx(1.0)


def test_fit_dpo_is_exact_for_tiny_reference_probabilities():
    """A candidate with rho_sft ~ 1e-20 beside two likely ones still gets its implicit reward
    right: its Hessian entries are 1e-20 of the others' (the Jacobi scaling keeps that exact)."""
    for eps in (1e-12, 1e-20, 1e-40):
        rho_sft = np.array([[0.5, 0.5 - eps, eps]])
        R = np.array([[0.0, 1.0, 0.9]])
        lam = 0.05
        rho = dpo.fit_dpo(rho_sft, dpo.preference_table(rho_sft, R), lam)
        got = dpo.implicit_reward(rho, rho_sft, lam)[0]
        np.testing.assert_allclose(got - got[0], R[0], atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_dpo_is_exact_for_reward_gaps_up_to_30_temperatures(seed):
    """The documented range: BT probabilities down to about 1e-13 are still fitted exactly."""
    prob = apl.random_problem(3, 7, 4, seed=seed, concentration=0.3, zero_candidates=0.3)
    R = (prob.R - prob.R.min()) / np.ptp(prob.R) * 30.0
    W = dpo.preference_table(prob.rho_sft, R)
    for lam in (1e-3, 1.0, 1e3):
        rho = dpo.fit_dpo(prob.rho_sft, W, lam)
        star = apl.optimal_prompter(prob.rho_sft, R, lam)
        assert apl.total_variation(rho, star).max() < 1e-10


def test_groups_never_compared_keep_their_rho_sft_mass():
    """The loss is blind to the split between groups of candidates never compared with each
    other; the fit keeps rho_sft's split (a review found it did not)."""
    rho_sft = np.array([[0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.2, 0.5]])
    W = np.zeros((2, 4, 4))
    W[0, 0, 1], W[0, 1, 0], W[0, 2, 3], W[0, 3, 2] = 3.0, 1.0, 1.0, 2.0  # {0,1} and {2,3}
    W[1, 0, 1], W[1, 1, 0], W[1, 1, 2], W[1, 2, 1] = 1.0, 2.0, 2.0, 1.0  # candidate 3 in no pair
    rho = fit_dpo(rho_sft, W, 0.5)
    assert np.isclose(rho[0, :2].sum(), 0.3) and np.isclose(rho[0, 2:].sum(), 0.7)
    assert np.isclose(rho[1, 3], 0.5)
    assert np.isclose(rho[0, 0] / rho[0, 1], (0.1 / 0.2) * 3.0 ** (1 / 0.5))  # within a group: DPO


@pytest.mark.parametrize("bad", [0, -1, 1.5, float("nan"), float("inf"), "3", None, True])
def test_counts_and_steps_are_checked(bad):
    rho_sft = np.array([[0.5, 0.5]])
    R = np.array([[0.0, 1.0]])
    with pytest.raises(ValueError, match="n_pairs"):
        sample_preferences(rho_sft, R, bad, seed=0)
    with pytest.raises(ValueError, match="steps"):
        fit_dpo(rho_sft, preference_table(rho_sft, R), 1.0, steps=bad)


@pytest.mark.parametrize("bad", [None, 1.5, "0", True])
def test_seed_must_be_an_integer(bad):
    with pytest.raises(ValueError, match="seed"):
        sample_preferences(np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]]), 10, seed=bad)


@pytest.mark.parametrize("bad", [0.0, -1e-3, float("nan"), float("inf"), "x", None])
def test_tol_is_checked(bad):
    rho_sft = np.array([[0.5, 0.5]])
    with pytest.raises(ValueError, match="tol"):
        fit_dpo(rho_sft, preference_table(rho_sft, np.array([[0.0, 1.0]])), 1.0, tol=bad)
