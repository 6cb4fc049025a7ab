"""Fused λ sweep: ``rho*`` and every metric for many λ at once (dashboard, CLI, benchmark).

Gives the same numbers as the one-equation functions in :mod:`alignpro_lite.exact.discrete`
(tests check that), but computes ``rho*`` with a single ``exp`` pass and reuses it, so a
sweep of 100 λ x 1,000 prompts x 64 candidates costs about one log-softmax.
"""

from __future__ import annotations

import math

import numpy as np

from alignpro_lite.exact.validate import (
    as_lam,
    check_distribution,
    check_finite,
    check_shape,
    default_P,
)

MAX_LAMS = 10_000  # a λ grid longer than this is a typo, not a sweep


def lam_grid(spec: str, max_n: int = MAX_LAMS) -> np.ndarray:
    """Parse ``"lo:hi:n"`` (log-spaced, inclusive) or ``"a,b,c"`` into a λ array.

    Every λ must be finite and > 0, and there may be at most ``max_n`` of them.

    >>> lam_grid("1e-2:1e2:5")
    array([1.e-02, 1.e-01, 1.e+00, 1.e+01, 1.e+02])
    """
    usage = (
        f"cannot read λ grid {spec!r}: use LO:HI:N (log-spaced, e.g. 1e-3:1e2:50) "
        "or a comma list (e.g. 0.1,1,10)."
    )
    if not isinstance(spec, str):
        raise ValueError(usage)
    parts = spec.split(":")
    try:
        if len(parts) == 3:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        elif len(parts) == 1:
            values = [float(v) for v in spec.split(",") if v.strip()]
        else:
            raise ValueError
    except ValueError:
        raise ValueError(usage) from None
    if len(parts) == 3:
        if not (math.isfinite(lo) and math.isfinite(hi) and lo > 0 and hi > 0):
            raise ValueError(
                f"λ bounds must be finite and > 0 for a log-spaced grid, got {spec!r}."
            )
        if not 1 <= n <= max_n:
            raise ValueError(f"the number of λ values must be between 1 and {max_n}, got {n}.")
        return np.geomspace(lo, hi, n)
    if not values:
        raise ValueError(usage)
    if len(values) > max_n:
        raise ValueError(f"at most {max_n} λ values, got {len(values)}.")
    return as_lam(np.array(values), "λ")


def _times_s2(v: np.ndarray, s: float) -> np.ndarray:
    """``v * s**2`` for a variance ``v >= 0`` computed in units of ``s``: ``(s sqrt v)**2``, so
    ``v = 0`` stays 0 (never ``0 * inf``) and a true variance past the float limit is ``inf``."""
    if s == 1.0:
        return v
    with np.errstate(over="ignore"):
        return (s * np.sqrt(v)) ** 2


def sweep_metrics(
    rho_sft: np.ndarray,
    R: np.ndarray,
    lam,
    V: np.ndarray | None = None,
    P: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``rho*`` and its metrics for every λ.

    Args:
        rho_sft: ``(n_x, n_c)``; R: ``(n_x, n_c)`` prompt values;
        V: ``(n_x, n_c)`` response noise ``Var_y r`` (zeros if omitted);
        lam: scalar or ``(L,)``; P: ``(n_x,)`` prompt weights (uniform if omitted).

    Returns:
        dict of arrays, per prompt ``(L, n_x)`` unless noted:
        ``rho`` ``(L, n_x, n_c)``, ``reward`` (``E_rho R``), ``noise`` (``E_rho V``),
        ``choice`` (``Var_rho R``), ``variance`` (noise + choice), ``kl`` (to ``rho_sft``),
        ``objective`` (reward - λ kl), ``value`` (``λ log Z``), and ``P``-averaged ``(L,)``
        versions with a ``mean_`` prefix (``mean_variance`` adds the between-prompt term).
    """
    rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
    R = check_finite(R, "R", ndim=2)
    check_shape(R, rho_sft.shape, "R", "(n_x, n_c) like rho_sft")
    V = np.zeros_like(R) if V is None else check_finite(V, "V", ndim=2)
    check_shape(V, R.shape, "V", "(n_x, n_c) like R")
    if (V < 0).any():
        raise ValueError(
            f"V (response variance) must be >= 0, got min {V.min():.3g}; pass a variance, "
            "not a standard deviation or a difference."
        )
    lam = np.atleast_1d(as_lam(lam))
    P = default_P(P, R.shape[0])

    support = rho_sft > 0
    with np.errstate(divide="ignore"):
        log_sft = np.log(rho_sft)
    # Rewards near the float limit (|R| up to 1.8e308): differences R - max R would overflow, so
    # work in units of s = max|R| (rho* depends on R/λ only), and scale back at the end.
    scale = float(np.abs(R).max())
    scale = scale if scale > 1e100 else 1.0  # ordinary data: s = 1, the arithmetic is untouched
    vmax = np.where(support, R, -np.inf).max(axis=1, keepdims=True)  # (n_x, 1)
    delta = np.where(support, R / scale - vmax / scale, 0.0)  # (n_x, n_c) <= 0, in units of s
    lam3 = np.maximum(lam / scale, np.finfo(float).tiny)[:, None, None]
    with np.errstate(over="ignore"):
        z = delta / lam3  # (L, n_x, n_c) <= 0
    if np.isneginf(z).any():
        z = np.maximum(z, -np.finfo(float).max)
    logits = z + log_sft
    m = logits.max(axis=2, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=2, keepdims=True)
    rho = e / s  # (L, n_x, n_c)
    log_norm = (m + np.log(s))[..., 0]  # (L, n_x): log Z = vmax/λ + log_norm

    reward = np.einsum("lxc,xc->lx", rho, R)
    noise = np.einsum("lxc,xc->lx", rho, V)
    # Var_rho R from the centred values (E[R²] − E[R]² loses every digit when R has a large offset)
    centred = delta[None] - np.einsum("lxc,xc->lx", rho, delta)[..., None]  # (L, n_x, n_c)
    choice = _times_s2(np.einsum("lxc,lxc->lx", rho, np.where(support, centred, 0.0) ** 2), scale)
    # KL(rho*||rho_sft) = E_rho[log rho - log rho_sft] = E_rho[z] - log_norm (exact on the support)
    kl = np.maximum(np.einsum("lxc,lxc->lx", rho, z) - log_norm, 0.0)
    lam2 = lam[:, None]
    objective = reward - lam2 * kl
    value = vmax[:, 0] + lam2 * log_norm  # λ log Z

    out = {
        "lam": lam,
        "rho": rho,
        "reward": reward,
        "noise": noise,
        "choice": choice,
        "variance": noise + choice,
        "kl": kl,
        "objective": objective,
        "value": value,
    }
    for key in ("reward", "noise", "choice", "kl", "objective", "value"):
        out["mean_" + key] = out[key] @ P
    between = _times_s2((((reward - out["mean_reward"][:, None]) / scale) ** 2) @ P, scale)
    out["mean_between"] = between
    out["mean_variance"] = out["mean_noise"] + out["mean_choice"] + between
    return out
