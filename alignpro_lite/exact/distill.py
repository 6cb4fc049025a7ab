r"""Route (b) to ``rho*``: reweight samples of ``rho_sft`` instead of running a policy gradient.

Notebook 01's closed form says the optimal prompter is a reweighting of the reference:

.. math:: \rho^*(x' \mid x) = \rho_{\text{sft}}(x' \mid x)\, e^{R(x, x')/\lambda} / Z(x).

So with ``N`` rewrites ``x'_1 … x'_N ~ rho_sft(·|x)`` and their values ``R̂(x, x'_j)``, the
self-normalised importance weights (:func:`snis_weights`)

.. math:: w_j = \frac{e^{\hat R(x, x'_j)/\lambda}}{\sum_k e^{\hat R(x, x'_k)/\lambda}}

turn the sample into a sample of ``rho*`` (the unknown ``Z(x)`` cancels). Fitting a prompter
``rho_θ`` by weighted maximum likelihood, ``max_θ sum_j w_j log rho_θ(x'_j|x)``, minimises the
Monte-Carlo estimate of ``KL(rho* ‖ rho_θ)``: it *projects* ``rho*`` onto the prompter's family.
For the full softmax table over a finite candidate set the projection is the weighted empirical
distribution (:func:`tabular_projection`), which converges to ``rho*`` as ``N → ∞``.

When it degenerates: the **effective sample size** ``ESS = 1 / sum_j w_j^2`` (between 1 and
``N``, :func:`effective_sample_size`) counts how many samples the fit really learns from. As
``λ → 0`` the weights collapse onto the single best sample (ESS → 1), and once ``λ`` is below
the noise of ``R̂`` (its standard error), *which* sample wins is decided by that noise: the fit
learns the luckiest draw, not the best rewrite. Keep ``λ`` well above the standard error of ``R̂``
and watch the ESS.
"""

from __future__ import annotations

import numpy as np

from alignpro_lite.exact.validate import as_lam

__all__ = ["effective_sample_size", "snis_weights", "tabular_projection"]


def snis_weights(R_hat, lam) -> np.ndarray:
    """Self-normalised weights ``w ∝ exp(R̂ / λ)`` over the last axis, ``(..., N) -> (..., N)``.

    ``R_hat[..., j]`` is the value of sample ``j`` drawn from ``rho_sft``; rows sum to 1.
    Computed in log space (stable for any ``λ > 0``); NaN entries (padding) get weight 0.
    """
    lam = as_lam(lam)
    R = np.asarray(R_hat, dtype=float)
    if R.ndim < 1 or R.shape[-1] == 0:
        raise ValueError(f"R_hat needs a last axis of N >= 1 samples, got shape {R.shape}.")
    if np.isinf(R).any():
        raise ValueError("R_hat must be finite (NaN marks padding).")
    present = ~np.isnan(R)
    if not present.any(axis=-1).all():
        raise ValueError("every row of R_hat needs at least one sample (a non-NaN value).")
    z = np.where(present, R / lam, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    w = np.exp(z)
    return w / w.sum(axis=-1, keepdims=True)


def effective_sample_size(w) -> np.ndarray:
    """``ESS = (sum_j w_j)^2 / sum_j w_j^2`` over the last axis: ``N`` for equal weights, 1 when
    one sample has all the weight."""
    w = np.asarray(w, dtype=float)
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("weights must be finite and >= 0.")
    s = w.sum(axis=-1)
    if (s <= 0).any():
        raise ValueError("every row of weights needs a positive sum.")
    return s**2 / (w**2).sum(axis=-1)


def tabular_projection(samples, w, n_c: int) -> np.ndarray:
    """The weighted-MLE prompter of the full softmax table: ``rho_θ(c|x) = sum_j w_j 1[x'_j = c]``.

    ``samples``: ``(n_x, N)`` candidate indices drawn from ``rho_sft``; ``w``: ``(n_x, N)``
    weights (rows summing to 1, e.g. :func:`snis_weights`). Returns ``(n_x, n_c)``. A candidate
    never sampled gets probability 0: the projection can only reweight what ``rho_sft`` proposed.
    """
    idx = np.asarray(samples)
    w = np.asarray(w, dtype=float)
    if idx.shape != w.shape or idx.ndim != 2:
        raise ValueError(f"samples and w must both be (n_x, N), got {idx.shape} and {w.shape}.")
    if not np.issubdtype(idx.dtype, np.integer) or (idx < 0).any() or (idx >= n_c).any():
        raise ValueError(f"samples must be integer candidate indices in [0, {n_c}).")
    if not np.allclose(w.sum(axis=1), 1.0):
        raise ValueError("each row of w must sum to 1 (use snis_weights).")
    out = np.zeros((idx.shape[0], int(n_c)))
    np.add.at(out, (np.arange(idx.shape[0])[:, None], idx), w)
    return out
