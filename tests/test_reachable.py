"""What a prompter cannot reach: the convex hull of the frozen model's rows."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import instances as shared_instances

import alignpro_lite as apl
from alignpro_lite.exact import reachable as rc

SETTINGS = settings(max_examples=20, deadline=None)


def instances():
    return shared_instances(
        max_x=4, max_c=5, min_y=2, max_y=5, concentrations=(0.3, 1.0, 5.0), scales=(1.0,)
    )


def _subset_lower_bound(pi_x, V):
    """max over response sets A of pi(A) - max_c pi_F(A|c): no prompted policy gives A more."""
    n_y = len(pi_x)
    best = 0.0
    for k in range(1, n_y + 1):
        for A in itertools.combinations(range(n_y), k):
            A = list(A)
            best = max(best, pi_x[A].sum() - V[:, A].sum(axis=1).max())
    return best


def test_reachable_vertices_are_the_support_rows():
    prob = apl.random_problem(3, 5, 4, seed=1, zero_candidates=0.5)
    verts = rc.reachable_vertices(prob.pi_F, prob.rho_sft)
    for x, V in enumerate(verts):
        idx = np.flatnonzero(prob.rho_sft[x] > 0)
        np.testing.assert_array_equal(V, prob.pi_F[x, idx])
    assert all(V.shape == (5, 4) for V in rc.reachable_vertices(prob.pi_F))


@SETTINGS
@given(instances(), st.integers(0, 2**31 - 1))
def test_prompted_policies_are_reachable(prob, seed):
    rng = np.random.default_rng(seed)
    rho = rng.dirichlet(np.ones(prob.n_c), size=prob.n_x) * (prob.rho_sft > 0)
    rho /= rho.sum(axis=1, keepdims=True)
    pi = apl.induced_policy(rho, prob.pi_F)
    best_rho, tv = rc.closest_prompter(pi, prob.pi_F, prob.rho_sft)
    assert (tv < 1e-7).all()
    assert (best_rho[prob.rho_sft == 0] == 0).all()
    np.testing.assert_allclose(best_rho.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rc.tv_to_reachable(pi, prob.pi_F, prob.rho_sft), tv)


@SETTINGS
@given(instances(), st.integers(0, 2**31 - 1))
def test_tv_to_reachable_is_a_minimum_with_the_set_lower_bound(prob, seed):
    rng = np.random.default_rng(seed)
    pi = rng.dirichlet(np.full(prob.pi_F.shape[2], 0.3), size=prob.n_x)
    pi = np.maximum(pi, 0.0)
    pi /= pi.sum(axis=1, keepdims=True)
    best_rho, tv = rc.closest_prompter(pi, prob.pi_F, prob.rho_sft)
    verts = rc.reachable_vertices(prob.pi_F, prob.rho_sft)
    for x in range(prob.n_x):
        assert tv[x] >= _subset_lower_bound(pi[x], verts[x]) - 1e-9
    for _ in range(10):  # no other prompter in the support does better
        rho = rng.dirichlet(np.ones(prob.n_c), size=prob.n_x) * (prob.rho_sft > 0)
        rho /= rho.sum(axis=1, keepdims=True)
        other = apl.total_variation(pi, apl.induced_policy(rho, prob.pi_F))
        assert (tv <= other + 1e-8).all()
    # the returned prompter attains the value
    np.testing.assert_allclose(apl.total_variation(pi, apl.induced_policy(best_rho, prob.pi_F)), tv)


def test_tv_to_reachable_against_a_grid_over_three_candidates():
    prob = apl.random_problem(1, 3, 4, seed=3)
    pi = np.array([[0.7, 0.1, 0.1, 0.1]])
    tv = rc.tv_to_reachable(pi, prob.pi_F)[0]
    k = 200
    grid = [(a / k, b / k, 1 - (a + b) / k) for a in range(k + 1) for b in range(k + 1 - a)]
    rho = np.array(grid)[:, None, :]  # (G, 1, 3)
    values = apl.total_variation(pi, apl.induced_policy(rho, prob.pi_F))[:, 0]
    assert tv <= values.min() + 1e-9
    assert values.min() - tv < 2.0 / k  # the grid's resolution
    assert tv > 0.01  # pi is outside the hull


def test_a_corner_outside_the_hull_is_unreachable():
    prob = rc.three_response_problem()
    corner = np.array([[0.0, 1.0, 0.0]])  # always helpful: no rewrite gives more than 0.7
    tv = rc.tv_to_reachable(corner, prob.pi_F, prob.rho_sft)[0]
    assert tv == pytest.approx(0.3, abs=1e-8)
    assert tv >= _subset_lower_bound(corner[0], prob.pi_F[0]) - 1e-12
    # restricting the support shrinks the hull: without c1 the best is c0's 0.5
    rho_sft = np.array([[0.5, 0.0, 0.25, 0.25]])
    assert rc.tv_to_reachable(corner, prob.pi_F, rho_sft)[0] == pytest.approx(0.5, abs=1e-8)


def test_three_response_problem_tells_the_story():
    prob = rc.three_response_problem()
    assert prob.pi_F.shape == (1, 4, 3) and prob.responses == [["refuses", "helpful", "harmful"]]
    assert (prob.pi_F > 0).all()  # the rows lie strictly inside the simplex
    # the original prompt (pi_ref) lies inside the triangle of the three rewrites
    inner = np.array([[0.0, 1 / 3, 1 / 3, 1 / 3]])
    assert rc.tv_to_reachable(prob.pi_ref, prob.pi_F, inner)[0] < 1e-8
    # Align-Pro's induced policy stays inside for every λ
    lams = np.geomspace(1e-3, 1e3, 30)
    pis = apl.induced_policy(prob.optimal_prompter(lams), prob.pi_F)
    for pi in pis:
        assert rc.tv_to_reachable(pi, prob.pi_F, prob.rho_sft)[0] < 1e-7
    # RLHF's optimum starts inside (β large) and leaves the hull as β → 0
    tv = [rc.tv_to_reachable(apl.rlhf_optimal_policy(prob.pi_ref, prob.r, b), prob.pi_F, prob.rho_sft)[0]
          for b in (100.0, 1.0, 0.3, 0.01)]  # fmt: skip
    assert tv[0] < 1e-8 and 0 < tv[1] < tv[2] < tv[3]
    assert tv[3] == pytest.approx(0.3, abs=1e-6)
    # the best reachable reward is c1's, below RLHF's limit
    assert prob.R[0].max() == pytest.approx(0.775) and prob.r.max() == 1.0


def test_reachable_rejects_bad_shapes():
    prob = rc.three_response_problem()
    with pytest.raises(ValueError, match="pi has shape"):
        rc.tv_to_reachable(np.full((1, 4), 0.25), prob.pi_F)
    with pytest.raises(ValueError, match="rho_sft"):
        rc.reachable_vertices(prob.pi_F, np.full((1, 3), 1 / 3))
    with pytest.raises(ValueError, match="pi_F"):
        rc.closest_prompter(prob.pi_ref, prob.pi_F[0])
