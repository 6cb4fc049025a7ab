"""The reward–KL frontier: how much reward each method buys per nat of KL.

Three curves, each traced by one knob:

* **Align-Pro** (:func:`alignpro_frontier`), λ: ``rho*_λ ∝ rho_sft exp(R/λ)``; its KL is
  ``E_x KL(rho*_λ ‖ rho_sft)``, a KL over **prompts** (the rewrites ``x'``).
* **RLHF** (:func:`rlhf_frontier`), β: ``pi*_β ∝ pi_ref exp(r/β)``; its KL is
  ``E_x KL(pi*_β ‖ pi_ref)``, a KL over **responses** ``y``.
* **best-of-n** (:func:`best_of_n_frontier`), n: sample ``n`` responses from ``pi_ref``, keep
  the best (:func:`best_of_n_policy`, exact on a finite response set); KL over responses.

The prompt-space and response-space KLs are different quantities on different spaces, so the
curves share an axis only by convention. :func:`alignpro_frontier` can also put Align-Pro in
response space: ``kl_response = E_x KL(pi_{rho*} ‖ pi_ref)``. The data-processing inequality
(``pi_rho = rho · pi_F`` is the same channel applied to both prompters) gives
``KL(pi_{rho*} ‖ pi_{rho_sft}) <= KL(rho* ‖ rho_sft)`` (column ``kl_response_sft``), but the
reference of RLHF is ``pi_ref = pi_F(.|x)``, the frozen model on the *original* prompt, which is
not ``pi_{rho_sft}`` in general: ``kl_response`` is not bounded by ``kl`` (as λ → ∞, ``kl`` → 0
while ``kl_response`` → ``KL(pi_{rho_sft} ‖ pi_ref)``).

Along Align-Pro's frontier the slope is exactly λ (:func:`frontier_slope`): per prompt
``dE[R]/dλ = -Var_{rho*}(R)/λ²`` and ``dKL/dλ = -Var_{rho*}(R)/λ³``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignpro_lite.exact.discrete import (
    induced_policy,
    kl_divergence,
    optimal_prompter,
    rlhf_optimal_policy,
)
from alignpro_lite.exact.sweep import sweep_metrics
from alignpro_lite.exact.validate import (
    as_lam,
    check_distribution,
    check_finite,
    check_shape,
    default_P,
    positive_int,
)

__all__ = [
    "alignpro_frontier",
    "rlhf_frontier",
    "best_of_n_policy",
    "best_of_n_frontier",
    "FrontierSlope",
    "frontier_slope",
]


def alignpro_frontier(rho_sft, R, lams, P=None, pi_F=None, pi_ref=None):
    """Align-Pro's reward–KL frontier over a λ grid, one row per λ (a pandas DataFrame).

    Columns: ``lam``; ``kl = E_x KL(rho*_λ ‖ rho_sft)`` (nats, over prompts: what Align-Pro
    pays); ``reward = E_x E_{rho*_λ}[R]``. When ``pi_F`` is given, also ``kl_response =
    E_x KL(pi_{rho*_λ} ‖ pi_ref)`` (nats, over responses, against the frozen model on the
    original prompt, ``pi_ref`` defaulting to ``pi_F[:, 0, :]``; may be ``inf`` where ``pi_ref``
    misses a response the rewrites make possible) and ``kl_response_sft =
    E_x KL(pi_{rho*_λ} ‖ pi_{rho_sft})`` (``<= kl`` by data processing).

    Args:
        rho_sft: ``(n_x, n_c)``; R: ``(n_x, n_c)`` prompt values; lams: ``(L,)`` λ > 0;
        P: ``(n_x,)`` prompt weights (uniform if omitted); pi_F: ``(n_x, n_c, n_y)``;
        pi_ref: ``(n_x, n_y)`` (needs ``pi_F``).
    """
    import pandas as pd

    lams = np.atleast_1d(as_lam(lams, "lams"))
    s = sweep_metrics(rho_sft, R, lams, P=P)
    out = {"lam": lams, "kl": s["mean_kl"], "reward": s["mean_reward"]}
    if pi_ref is not None and pi_F is None:
        raise ValueError("pi_ref was given without pi_F: kl_response needs both (or neither).")
    if pi_F is not None:
        pi_F = check_distribution(pi_F, "pi_F", ndim=3)
        if pi_F.shape[:2] != s["rho"].shape[1:]:
            raise ValueError(
                f"pi_F has shape {pi_F.shape}; expected (n_x, n_c, n_y) with (n_x, n_c) = "
                f"{s['rho'].shape[1:]} like rho_sft."
            )
        pi_ref = pi_F[:, 0, :] if pi_ref is None else check_distribution(pi_ref, "pi_ref", ndim=2)
        check_shape(pi_ref, (pi_F.shape[0], pi_F.shape[2]), "pi_ref", "(n_x, n_y) like pi_F")
        Pv = default_P(P, pi_F.shape[0])
        pi = induced_policy(s["rho"], pi_F)  # (L, n_x, n_y)
        pi_sft = induced_policy(np.asarray(rho_sft, dtype=float), pi_F)
        out["kl_response"] = kl_divergence(pi, pi_ref) @ Pv
        out["kl_response_sft"] = kl_divergence(pi, pi_sft) @ Pv
    return pd.DataFrame(out)


def rlhf_frontier(pi_ref, r, betas, P=None):
    """RLHF's reward–KL frontier over a β grid, one row per β (a pandas DataFrame).

    Columns: ``beta``; ``kl = E_x KL(pi*_β ‖ pi_ref)`` (nats, over responses);
    ``reward = E_x E_{pi*_β}[r]``, with ``pi*_β ∝ pi_ref exp(r/β)``.

    Args:
        pi_ref: ``(n_x, n_y)``; r: ``(n_x, n_y)``; betas: ``(B,)`` β > 0; P: ``(n_x,)``.
    """
    import pandas as pd

    betas = np.atleast_1d(as_lam(betas, "betas"))
    pi = rlhf_optimal_policy(pi_ref, r, betas)  # (B, n_x, n_y); validates pi_ref and r
    P = default_P(P, pi.shape[1])
    kl = kl_divergence(pi, np.asarray(pi_ref, dtype=float)) @ P
    reward = (pi * np.asarray(r, dtype=float)).sum(axis=-1) @ P
    return pd.DataFrame({"beta": betas, "kl": kl, "reward": reward})


# --------------------------------------------------------------------------- best-of-n
def _check_n(n, name: str = "n") -> int:
    return positive_int(n, name, "samples per prompt")


def best_of_n_policy(pi_ref, r, n: int) -> np.ndarray:
    """The exact distribution of best-of-n over a finite response set, ``(n_x, n_y)``.

    Draw ``n`` responses iid from ``pi_ref(.|x)`` and keep one with the highest reward, ties
    broken uniformly among the tied samples. Group the responses by equal reward; with
    ``F(v) = pi_ref(r <= v)``, the best sample lands in the tie group of level ``v`` with
    probability ``F(v)^n - F(v^-)^n``, and within the group it is distributed like ``pi_ref``
    (the tied samples are iid from ``pi_ref`` restricted to the group), so

        bon(y|x) = pi_ref(y|x) (F(r_y)^n - F(r_y^-)^n) / (F(r_y) - F(r_y^-)).

    Responses with ``pi_ref = 0`` get 0; ``n = 1`` gives ``pi_ref``. Computed as
    ``F^n (1 - (F^-/F)^n)`` with ``expm1``/``log1p``, accurate for any ``n``.
    """
    pi_ref = check_distribution(pi_ref, "pi_ref", ndim=2)
    r = check_finite(r, "r", ndim=2)
    check_shape(r, pi_ref.shape, "r", "(n_x, n_y) like pi_ref")
    n = _check_n(n)
    p = pi_ref / pi_ref.sum(axis=1, keepdims=True)
    le = r[:, None, :] <= r[:, :, None]  # le[x, y, y'] = r(y') <= r(y)
    lt = r[:, None, :] < r[:, :, None]
    F = np.einsum("xyz,xz->xy", le, p)  # F(r_y)
    F_lt = np.einsum("xyz,xz->xy", lt, p)  # F(r_y^-)
    group = F - F_lt  # pi_ref mass of y's tie group
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(group / F, 0.0, 1.0)  # 1 - F^-/F
        top = F**n * -np.expm1(n * np.log1p(-q))  # F^n - F_lt^n
        bon = np.where(p > 0, p * top / group, 0.0)
    return bon / bon.sum(axis=1, keepdims=True)


def best_of_n_frontier(pi_ref, r, ns, P=None):
    """Best-of-n's reward–KL frontier, one row per ``n`` (a pandas DataFrame).

    Columns: ``n``; ``kl = E_x KL(bon_n ‖ pi_ref)`` (exact, nats, over responses);
    ``kl_formula = log n - (n - 1)/n``; ``reward = E_x E_{bon_n}[r]``.

    ``kl_formula`` is the well-known value for a *continuous* reward distribution and an upper
    bound in general (Beirami et al. 2024): best-of-n on a finite set is the image of best-of-n
    on a uniform variable under the monotone quantile map, so data processing gives
    ``kl <= kl_formula``, with equality at ``n = 1`` and strict inequality for ``n > 1`` on a
    finite response set (ties or not); it is approached only as every response's
    probability → 0.
    """
    import pandas as pd

    ns = np.atleast_1d(np.asarray(ns))
    if ns.ndim != 1 or ns.size == 0:
        raise ValueError(f"ns must be a non-empty 1-D list of positive integers, got {ns!r}.")
    ns = [_check_n(v, "ns") for v in ns.tolist()]
    pi_ref = check_distribution(pi_ref, "pi_ref", ndim=2)
    r = check_finite(r, "r", ndim=2)
    P = default_P(P, pi_ref.shape[0])
    kl, reward = [], []
    for n in ns:
        bon = best_of_n_policy(pi_ref, r, n)
        kl.append(kl_divergence(bon, pi_ref) @ P)
        reward.append((bon * r).sum(axis=1) @ P)
    n_arr = np.array(ns)
    return pd.DataFrame(
        {
            "n": n_arr,
            "kl": np.array(kl),
            "kl_formula": np.log(n_arr) - (n_arr - 1) / n_arr,
            "reward": np.array(reward),
        }
    )


# --------------------------------------------------------------------------- the slope
@dataclass(frozen=True)
class FrontierSlope:
    r"""Derivatives along Align-Pro's frontier at λ (``P``-averaged; scalars or ``(L,)``)::

        dreward_dlam = -E_x Var_{rho*}(R) / λ²
        dkl_dlam     = -E_x Var_{rho*}(R) / λ³
        slope        = dreward_dlam / dkl_dlam = λ     (NaN where E_x Var = 0)

    .. math::

        \frac{dJ}{d\lambda} = -\frac{\mathbb{E}_x \operatorname{Var}_{\rho^*}(R)}{\lambda^2},
        \qquad \frac{d\,\mathrm{KL}}{d\lambda}
        = -\frac{\mathbb{E}_x \operatorname{Var}_{\rho^*}(R)}{\lambda^3},
        \qquad \frac{dJ}{d\,\mathrm{KL}} = \lambda
    """

    lam: np.ndarray
    dreward_dlam: np.ndarray
    dkl_dlam: np.ndarray
    slope: np.ndarray


def frontier_slope(rho_sft, R, lam, P=None) -> FrontierSlope:
    """``dE[R]/dKL`` along Align-Pro's frontier, analytically: it is λ.

    Per prompt, with ``rho* ∝ rho_sft exp(R/λ)``, ``d log rho*/dλ = -(R - E R)/λ²``, so
    ``dE[R]/dλ = Cov(R, -R/λ²) = -Var_{rho*}(R)/λ²``, and ``KL = E[R]/λ - log Z`` gives
    ``dKL/dλ = -Var_{rho*}(R)/λ³`` (the other two terms cancel since
    ``d log Z/dλ = -E[R]/λ²``). Averaging over ``x ~ P``, the slope ``dE[R]/dKL`` is λ
    wherever some prompt has ``Var > 0``: λ is the exchange rate, reward units per nat.

    Returns a :class:`FrontierSlope`; scalars for scalar λ, ``(L,)`` for a grid.
    """
    rho = optimal_prompter(rho_sft, R, lam)  # validates; (n_x, n_c) or (L, n_x, n_c)
    lam = as_lam(lam)
    R = np.asarray(R, dtype=float)
    P = default_P(P, R.shape[0])
    # centre on the row's largest value over the support first: a constant R is then exactly 0
    vmax = np.where(np.asarray(rho_sft) > 0, R, -np.inf).max(axis=-1, keepdims=True)
    dev = R - vmax
    mean = (rho * dev).sum(axis=-1, keepdims=True)
    var = ((rho * (dev - mean) ** 2).sum(axis=-1)) @ P  # () or (L,)
    dreward = -var / lam**2
    dkl = -var / lam**3
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(var > 0, dreward / np.where(var > 0, dkl, 1.0), np.nan)
    return FrontierSlope(lam=lam, dreward_dlam=dreward, dkl_dlam=dkl, slope=slope)
