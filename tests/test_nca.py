"""Noise-contrastive alignment (exact.nca): the loss, its fixed point, its gradient at rho_sft, the
noise of R̂, and a log-linear toy of the bank whose exact projection is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from alignpro_lite.exact import nca
from alignpro_lite.exact.distill import snis_weights


@settings(max_examples=50, derandomize=True, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=12), st.floats(0.05, 10))
def test_the_minimiser_is_log_n_w_and_the_gradient_vanishes_there(values, lam):
    w = snis_weights(np.array(values), lam)
    f_star = nca.nca_optimum(w)
    np.testing.assert_allclose(nca.nca_grad(f_star, w), 0, atol=1e-12)
    # a step away from f* in any coordinate raises the loss (strictly convex per row)
    base = nca.nca_loss(f_star, w)
    for j in np.flatnonzero(w > 1e-6):  # (a row of weight e^-40 moves the loss below rounding)
        for h in (-0.1, 0.1):
            f = f_star.copy()
            f[j] += h
            assert nca.nca_loss(f, w) > base
    # the optimum is the closed form's log-ratio: R/λ - log mean exp(R/λ)
    z = np.array(values) / lam
    np.testing.assert_allclose(f_star, z - np.log(np.mean(np.exp(z))), atol=1e-9)


def test_gradient_at_rho_sft_is_half_the_distance_from_uniform_and_zero_when_uniform():
    w = np.array([0.5, 0.25, 0.125, 0.125])
    np.testing.assert_allclose(nca.nca_grad(np.zeros(4), w), (0.25 - w) / 2)
    u = np.full(7, 1 / 7)
    assert (nca.nca_grad(np.zeros(7), u) == 0).all()  # exactly, not approximately
    assert nca.nca_loss(np.zeros(7), u) == pytest.approx(2 * math.log(2))
    # the gradient matches finite differences of the loss
    f = np.array([0.3, -1.0, 2.0, 0.1])
    eps = 1e-6
    num = [
        (nca.nca_loss(f + eps * e, w) - nca.nca_loss(f - eps * e, w)) / (2 * eps) for e in np.eye(4)
    ]
    np.testing.assert_allclose(nca.nca_grad(f, w), num, rtol=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="same shape"):
        nca.nca_loss(np.zeros(3), np.ones(2) / 2)
    with pytest.raises(ValueError, match="w must be finite"):
        nca.nca_grad(np.zeros(2), np.array([-0.5, 1.5]))
    with pytest.raises(ValueError, match="2 answers"):
        nca.noise_floor([np.nan, np.nan])
    with pytest.raises(ValueError, match="lam"):
        nca.lognormal_bias(0.2, 0.0)


def test_heldout_targets_use_the_train_normaliser():
    R_train, R_held = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0])
    t = nca.heldout_targets(R_train, R_held, 0.5)
    np.testing.assert_allclose(t, R_held / 0.5 - np.log(np.mean(np.exp(R_train / 0.5))))
    np.testing.assert_allclose(nca.heldout_targets(R_train, R_held, math.inf), 0)


def test_noise_bias_and_the_floor():
    assert nca.lognormal_bias(0.2, 0.1) == pytest.approx(2.0)  # se²/2λ²
    assert nca.lognormal_bias(0.2, math.inf) == 0
    se = np.array([0.1, 0.2, 0.3, np.nan])
    assert nca.noise_floor(se) == pytest.approx(0.4)
    assert nca.lognormal_bias(0.2, nca.noise_floor(se)) == pytest.approx(1 / 8)
    assert nca.noise_aware_lam(0.05, se) == pytest.approx(0.4)
    assert nca.noise_aware_lam(1.0, se) == 1.0
    # the bias is real: E exp(R̂/λ) = exp(R/λ + se²/2λ²) under Gaussian noise (Monte Carlo)
    rng = np.random.default_rng(0)
    lam, s = 0.5, 0.2
    mc = np.log(np.mean(np.exp(rng.normal(0, s, 400_000) / lam)))
    assert mc == pytest.approx(nca.lognormal_bias(s, lam), abs=0.003)


# --------------------------------------------------------------------------- the toy bank
def _toy():
    t = nca.toy_bank()
    return t["phi"], t["log_rho_sft"], t["R"], t["rows"], t["R_hat"], t["half"]


def _rho_star(lrs, R, lam):
    return nca.toy_rho_star({"log_rho_sft": lrs, "R": R}, lam)


def test_toy_fit_tracks_the_exact_projection_for_lambda_at_least_4_lambda0():
    phi, lrs, R, rows, R_hat, h = _toy()
    tr, te = slice(0, h), slice(h, None)
    sft = np.exp(lrs)
    # λ0 as in the headroom rule: 1 nat of KL(rho* ‖ rho_sft) on the train prompts
    lam0 = brentq(lambda l: nca.mean_kl(_rho_star(lrs, R, l)[tr], sft[tr]) - 1, 1e-3, 10)
    kls = {}
    for c in (4, 16, 64, math.inf):
        lam = lam0 * c
        w = np.full(rows.shape, 1 / rows.shape[1]) if math.isinf(lam) else snis_weights(R_hat, lam)
        theta = nca.fit_loglinear(rows, w, lrs[tr], phi[tr])
        target = sft if math.isinf(lam) else _rho_star(lrs, R, lam)
        proj = nca.project_loglinear(target[tr], lrs[tr], phi[tr])
        kl_fit = nca.mean_kl(target[te], nca.loglinear_policy(theta, lrs[te], phi[te]))
        kl_proj = nca.mean_kl(target[te], nca.loglinear_policy(proj, lrs[te], phi[te]))
        if math.isinf(lam):
            assert (theta == 0).all() and abs(kl_fit) < 1e-12  # nothing to do: nothing done
        else:
            assert kl_fit <= max(2 * kl_proj, kl_proj + 0.1), (c, kl_fit, kl_proj)
            assert kl_fit < nca.mean_kl(target[te], sft[te])  # better than not fitting
        kls[c] = nca.mean_kl(nca.loglinear_policy(theta, lrs[te], phi[te]), sft[te])
    # the fitted prompter's own KL to rho_sft falls as λ grows
    assert kls[4] > kls[16] > kls[64] > kls[math.inf] and abs(kls[math.inf]) < 1e-12


def test_round_one_recipe_drifts_at_uniform_weights_while_nca_stays_put():
    """The defect NCA fixes, on the toy: weighted MLE by Adam on sampled rows moves the prompter
    about as far at λ = ∞ (nothing to learn) as at 4 λ0, while NCA's move follows λ."""
    phi, lrs, R, rows, R_hat, h = _toy()
    sft = np.exp(lrs[h:])
    uniform = np.full(rows.shape, 1 / rows.shape[1])
    lam = 0.9  # about 4 λ0 on this toy
    kl = {}
    for name, w in (("inf", uniform), ("lam", snis_weights(R_hat, lam))):
        t_w = nca.fit_loglinear_wmle(rows, w, lrs[:h], phi[:h])
        t_n = nca.fit_loglinear(rows, w, lrs[:h], phi[:h])
        kl[name] = [nca.mean_kl(nca.loglinear_policy(t, lrs[h:], phi[h:]), sft) for t in (t_w, t_n)]
    assert kl["inf"][0] > 0.3 * kl["lam"][0] and kl["inf"][0] > 0.01  # WMLE drifts regardless
    assert abs(kl["inf"][1]) < 1e-12 < kl["lam"][1]  # NCA: nothing at λ = ∞, something at λ
