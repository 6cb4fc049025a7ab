"""The reward–KL frontier: Align-Pro, RLHF and exact best-of-n, and the slope λ."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import instances as shared_instances

import alignpro_lite as apl
from alignpro_lite.exact import frontier as fr

SETTINGS = settings(max_examples=25, deadline=None)


def instances():
    return shared_instances(max_x=5, max_c=6, concentrations=(0.3, 1.0, 5.0), scales=(1.0,))


LAMS = np.geomspace(1e-2, 1e2, 25)


# --------------------------------------------------------------------------- Align-Pro, RLHF
def test_alignpro_frontier_matches_the_closed_form_functions():
    prob = apl.teaching_problem()
    df = fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS, P=prob.P, pi_F=prob.pi_F)
    assert list(df.columns) == ["lam", "kl", "reward", "kl_response", "kl_response_sft"]
    rho = prob.optimal_prompter(LAMS)
    np.testing.assert_allclose(df["kl"], apl.kl_divergence(rho, prob.rho_sft) @ prob.P, atol=1e-12)
    np.testing.assert_allclose(df["reward"], apl.mean_reward(rho, prob.R, prob.P), atol=1e-12)
    pi = apl.induced_policy(rho, prob.pi_F)
    np.testing.assert_allclose(df["kl_response"], apl.kl_divergence(pi, prob.pi_ref) @ prob.P, atol=1e-12)  # fmt: skip
    plain = fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS)
    assert list(plain.columns) == ["lam", "kl", "reward"]


@SETTINGS
@given(instances())
def test_frontiers_are_monotone_and_data_processing_holds(prob):
    df = fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS, P=prob.P, pi_F=prob.pi_F)
    # λ grows down the frame: KL and reward both fall (dKL/dλ, dE[R]/dλ <= 0)
    assert (np.diff(df["kl"]) <= 1e-12).all()
    assert (np.diff(df["reward"]) <= 1e-12 * max(1.0, prob.r.max())).all()
    # the same channel pi_F applied to rho* and rho_sft cannot increase the KL
    assert (df["kl_response_sft"] <= df["kl"] + 1e-10).all()
    rl = fr.rlhf_frontier(prob.pi_ref, prob.r, LAMS, P=prob.P)
    assert (np.diff(rl["kl"]) <= 1e-12).all()
    assert (np.diff(rl["reward"]) <= 1e-12 * max(1.0, prob.r.max())).all()


def test_kl_response_is_not_bounded_by_the_prompt_kl():
    """pi_ref (the original prompt) is not pi_{rho_sft}: as λ → ∞ Align-Pro's prompt KL → 0 but
    its response KL to pi_ref tends to KL(pi_{rho_sft} ‖ pi_ref) > 0."""
    prob = apl.teaching_problem()
    df = fr.alignpro_frontier(prob.rho_sft, prob.R, [1e6], P=prob.P, pi_F=prob.pi_F)
    pi_sft = apl.induced_policy(prob.rho_sft, prob.pi_F)
    floor = apl.kl_divergence(pi_sft, prob.pi_ref) @ prob.P
    assert df["kl"].iloc[0] < 1e-10 < floor
    assert df["kl_response"].iloc[0] == pytest.approx(floor, rel=1e-6)
    assert (df["kl_response"] > df["kl"]).all()


@SETTINGS
@given(instances(), st.floats(1e-2, 1e2))
def test_rlhf_is_the_frontier_in_response_space(prob, beta):
    """pi*_β maximises E r - β KL(·‖pi_ref) over ALL policies: prompted ones and best-of-n
    sit on or below each supporting line of RLHF's frontier."""
    rl = fr.rlhf_frontier(prob.pi_ref, prob.r, [beta], P=prob.P)
    best = float(rl["reward"].iloc[0] - beta * rl["kl"].iloc[0])
    ap = fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS, P=prob.P, pi_F=prob.pi_F)
    bon = fr.best_of_n_frontier(prob.pi_ref, prob.r, [1, 2, 5, 30], P=prob.P)
    scale = max(1.0, np.abs(prob.r).max())
    assert (ap["reward"] - beta * ap["kl_response"] <= best + 1e-9 * scale).all()
    assert (bon["reward"] - beta * bon["kl"] <= best + 1e-9 * scale).all()


def test_frontier_inputs_are_checked():
    prob = apl.teaching_problem()
    with pytest.raises(ValueError, match="pi_F"):
        fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS, pi_ref=prob.pi_ref)
    with pytest.raises(ValueError, match="pi_F"):
        fr.alignpro_frontier(prob.rho_sft, prob.R, LAMS, pi_F=prob.pi_F[:, :3])
    with pytest.raises(ValueError, match="lams"):
        fr.alignpro_frontier(prob.rho_sft, prob.R, [0.1, -1.0])
    with pytest.raises(ValueError, match="betas"):
        fr.rlhf_frontier(prob.pi_ref, prob.r, [0.0])
    with pytest.raises(ValueError, match="ns"):
        fr.best_of_n_frontier(prob.pi_ref, prob.r, [1, 2.5])
    with pytest.raises(ValueError, match="n must"):
        fr.best_of_n_policy(prob.pi_ref, prob.r, 0)
    with pytest.raises(ValueError, match="r has shape"):
        fr.best_of_n_policy(prob.pi_ref, prob.r[:, :2], 2)


# --------------------------------------------------------------------------- best-of-n
def _enumerate_bon(p, r, n):
    """Best-of-n by listing all n-tuples: the best sample, ties split uniformly."""
    out = np.zeros(len(p))
    for combo in itertools.product(range(len(p)), repeat=n):
        prob = np.prod(p[list(combo)])
        top = max(r[c] for c in combo)
        winners = [c for c in combo if r[c] == top]
        for c in winners:
            out[c] += prob / len(winners)
    return out


@pytest.mark.parametrize(
    ("p", "r"),
    [
        ([0.2, 0.3, 0.1, 0.4], [1.0, 2.0, 2.0, 0.0]),  # a tie at the top
        ([0.25, 0.0, 0.5, 0.25], [0.5, 3.0, 0.5, 0.1]),  # the best response has probability 0
        ([0.1, 0.6, 0.3], [2.0, 2.0, 2.0]),  # all tied: best-of-n is pi_ref
        ([1.0, 0.0, 0.0], [0.0, 1.0, 2.0]),  # a point mass
        ([0.5, 0.2, 0.3], [3.0, 1.0, 2.0]),  # no ties
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_best_of_n_matches_enumeration(p, r, n):
    p, r = np.array(p), np.array(r)
    got = fr.best_of_n_policy(p[None], r[None], n)[0]
    np.testing.assert_allclose(got, _enumerate_bon(p, r, n), atol=1e-14)
    assert got.sum() == pytest.approx(1.0, abs=1e-14)
    assert (got[p == 0] == 0).all()


def test_best_of_n_matches_monte_carlo():
    prob = apl.random_problem(2, 1, 6, seed=4)
    r = np.round(prob.r * 3) / 3  # coarse rewards: ties
    n, draws = 5, 100_000
    rng = np.random.default_rng(0)
    for x in range(2):
        p = prob.pi_ref[x]
        samples = rng.choice(len(p), size=(draws, n), p=p)
        rewards = r[x][samples] + 1e-9 * rng.random((draws, n))  # random tie-break
        best = samples[np.arange(draws), rewards.argmax(axis=1)]
        freq = np.bincount(best, minlength=len(p)) / draws
        exact = fr.best_of_n_policy(prob.pi_ref, r, n)[x]
        se = np.sqrt(exact * (1 - exact) / draws)
        assert (np.abs(freq - exact) <= 5 * se + 1e-12).all()


def test_best_of_n_limits_and_huge_n():
    prob = apl.random_problem(3, 1, 5, seed=8)
    np.testing.assert_allclose(fr.best_of_n_policy(prob.pi_ref, prob.r, 1), prob.pi_ref, atol=1e-15)
    big = fr.best_of_n_policy(prob.pi_ref, prob.r, 10**9)
    assert np.isfinite(big).all()
    top = prob.r == prob.r.max(axis=1, keepdims=True)
    np.testing.assert_allclose(big[top], 1.0, atol=1e-6)  # all mass on the best response
    # a tiny tie group at the top keeps its exact mass 1 - (1 - q)^n (no cancellation)
    p = np.array([[1 - 1e-12, 1e-12]])
    got = fr.best_of_n_policy(p, np.array([[0.0, 1.0]]), 1000)[0, 1]
    assert got == pytest.approx(-np.expm1(1000 * np.log1p(-1e-12)), rel=1e-9)


@SETTINGS
@given(instances(), st.integers(1, 300))
def test_best_of_n_kl_is_below_the_continuous_formula(prob, n):
    r = np.round(prob.r, 1)  # some ties
    df = fr.best_of_n_frontier(prob.pi_ref, r, [n], P=prob.P)
    kl, formula = df["kl"].iloc[0], df["kl_formula"].iloc[0]
    assert kl <= formula + 1e-12
    if n == 1:
        assert kl == pytest.approx(0.0, abs=1e-12) and formula == 0.0
    else:
        assert kl < formula


def test_best_of_n_kl_approaches_the_formula_as_atoms_shrink():
    n = 8
    gaps = []
    for m in (4, 40, 4000):
        pi_ref = np.full((1, m), 1.0 / m)
        r = np.arange(m, dtype=float)[None]
        df = fr.best_of_n_frontier(pi_ref, r, [n])
        gaps.append(df["kl_formula"].iloc[0] - df["kl"].iloc[0])
    assert gaps[0] > gaps[1] > gaps[2] > 0 and gaps[2] < 1e-2


# --------------------------------------------------------------------------- the slope λ
@SETTINGS
@given(instances(), st.floats(0.05, 20))
def test_frontier_slope_matches_finite_differences_and_is_lam(prob, lam):
    s = fr.frontier_slope(prob.rho_sft, prob.R, lam, P=prob.P)
    h = 1e-5 * lam
    df = fr.alignpro_frontier(prob.rho_sft, prob.R, [lam - h, lam + h], P=prob.P)
    d_reward = (df["reward"].iloc[1] - df["reward"].iloc[0]) / (2 * h)
    d_kl = (df["kl"].iloc[1] - df["kl"].iloc[0]) / (2 * h)
    scale = max(1.0, np.abs(prob.R).max())
    assert s.dreward_dlam == pytest.approx(d_reward, rel=1e-4, abs=1e-7 * scale)
    assert s.dkl_dlam == pytest.approx(d_kl, rel=1e-4, abs=1e-7 * scale / lam)
    if s.dreward_dlam < -1e-12:
        assert s.slope == pytest.approx(lam, rel=1e-12)
        assert d_reward / d_kl == pytest.approx(lam, rel=1e-3)


def test_frontier_slope_on_a_grid_and_where_nothing_varies():
    prob = apl.teaching_problem()
    s = fr.frontier_slope(prob.rho_sft, prob.R, LAMS, P=prob.P)
    assert s.slope.shape == LAMS.shape
    np.testing.assert_allclose(s.slope, LAMS, rtol=1e-12)
    assert (s.dreward_dlam < 0).all() and (s.dkl_dlam < 0).all()
    flat = fr.frontier_slope(prob.rho_sft, np.ones_like(prob.R), 0.5)
    assert np.isnan(flat.slope) and flat.dreward_dlam == 0 and flat.dkl_dlam == 0
    single = fr.frontier_slope(np.eye(3)[[0, 2]], np.array([[0.0, 1.0, 2.0], [3.0, 1.0, 0.0]]), 0.5)
    assert np.isnan(single.slope)
