"""Exact Align-Pro on finite prompt sets (docs/design.md §1), numpy, vectorised.

Shapes (the last axis is always the distribution axis):

=============  ==========================  =================================
symbol         meaning                     shape
=============  ==========================  =================================
``P``          user-prompt distribution    ``(n_x,)``
``rho_sft``    reference prompter          ``(n_x, n_c)``
``rho``        a prompter                  ``(n_x, n_c)`` or ``(L, n_x, n_c)``
``pi_F``       frozen LLM ``pi_F(y|x')``   ``(n_x, n_c, n_y)``
``r``          reward ``r(x, y)``          ``(n_x, n_y)``
``R``          prompt value ``R(x, x')``   ``(n_x, n_c)``
``lam``        KL weight λ > 0             scalar or ``(L,)`` (sweep axis first)
=============  ==========================  =================================

Candidate 0 of every prompt is the original prompt by convention, so the frozen model's
own answer distribution (RLHF's reference policy) is ``pi_F[:, 0, :]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignpro_lite.exact.validate import (
    as_lam,
    check_distribution,
    check_finite,
    check_shape,
    default_P,
)

__all__ = [
    "prompt_values",
    "response_variance",
    "log_optimal_prompter",
    "optimal_prompter",
    "log_partition",
    "optimal_value",
    "induced_policy",
    "kl_divergence",
    "total_variation",
    "expected_reward",
    "mean_reward",
    "reward_variance",
    "VarianceSplit",
    "dataset_reward_variance",
    "objective",
    "rlhf_optimal_policy",
    "suboptimality_bound",
    "BoundTerms",
]


# --------------------------------------------------------------------------- prompt values
def prompt_values(pi_F: np.ndarray, r: np.ndarray) -> np.ndarray:
    r"""Prompt value ``R(x, x') = sum_y pi_F(y|x') r(x, y)``.

    .. math:: R(x, x') = \sum_y \pi_F(y \mid x')\, r(x, y)

    Args:
        pi_F: ``(n_x, n_c, n_y)`` frozen-model response probabilities.
        r: ``(n_x, n_y)`` reward of response ``y`` to the *original* prompt ``x``.

    Returns:
        ``(n_x, n_c)`` expected reward of each rewrite.
    """
    pi_F = check_distribution(pi_F, "pi_F", ndim=3)
    r = check_finite(r, "r", ndim=2)
    check_shape(r, (pi_F.shape[0], pi_F.shape[2]), "r", "(n_x, n_y) matching pi_F")
    return np.einsum("xcy,xy->xc", pi_F, r)


def response_variance(pi_F: np.ndarray, r: np.ndarray) -> np.ndarray:
    r"""Within-rewrite response noise ``V(x, x') = Var_{y ~ pi_F(.|x')} r(x, y)``.

    .. math:: V(x, x') = \operatorname{Var}_{y \sim \pi_F(\cdot \mid x')}\, r(x, y)

    Returns ``(n_x, n_c)``; the first term of the variance split.
    """
    R = prompt_values(pi_F, r)
    dev = r[:, None, :] - R[:, :, None]  # (n_x, n_c, n_y)
    return np.einsum("xcy,xcy->xc", pi_F, dev**2)


# --------------------------------------------------------------------------- closed form
def _gibbs_log(log_ref: np.ndarray, values: np.ndarray, lam: np.ndarray):
    """Stable pieces of ``log p ∝ log_ref + values/lam`` over the last axis.

    Subtracting the per-row maximum of ``values`` over the support of ``ref`` first means
    ``z = (values - vmax) / lam <= 0`` never overflows, so λ = 1e-8 with values of 1e4 is
    exact; entries outside the support keep ``log p = -inf``.

    Returns ``(log_p, z, vmax, log_norm)`` with ``log Z = vmax/lam + log_norm``.
    """
    support = np.isfinite(log_ref)
    masked = np.where(support, values, -np.inf)
    vmax = masked.max(axis=-1, keepdims=True)  # (..., 1) max over the support
    delta = np.where(support, values - vmax, 0.0)  # <= 0 and finite
    lam_b = lam.reshape(lam.shape + (1,) * delta.ndim)  # (L, 1, ..., 1) or ()
    with np.errstate(over="ignore"):
        z = delta / lam_b
    if np.isneginf(z).any():  # only for absurdly small λ: keep 0 * z well defined
        z = np.maximum(z, -np.finfo(float).max)
    logits = log_ref + z
    m = logits.max(axis=-1, keepdims=True)
    log_norm = m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    return logits - log_norm, z, vmax, log_norm


def _safe_log(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p)


def log_optimal_prompter(rho_sft: np.ndarray, R: np.ndarray, lam) -> np.ndarray:
    """``log rho*(x'|x) = log rho_sft(x'|x) + R(x,x')/λ - log Z(x)`` (``-inf`` off the support).

    Args:
        rho_sft: ``(n_x, n_c)`` reference prompter, rows sum to 1.
        R: ``(n_x, n_c)`` prompt values.
        lam: λ > 0, scalar or ``(L,)``.

    Returns:
        ``(n_x, n_c)`` for scalar λ, ``(L, n_x, n_c)`` for a sweep.
    """
    rho_sft, R, lam = _check_closed_form_args(rho_sft, R, lam)
    log_rho, *_ = _gibbs_log(_safe_log(rho_sft), R, lam)
    return log_rho


def optimal_prompter(rho_sft: np.ndarray, R: np.ndarray, lam) -> np.ndarray:
    r"""Closed-form Align-Pro prompter ``rho*(x'|x) = rho_sft(x'|x) exp(R(x,x')/λ) / Z(x)``.

    .. math::

        \rho^*(x' \mid x) = \frac{\rho_{\text{sft}}(x' \mid x)\, e^{R(x, x')/\lambda}}{Z(x)},
        \qquad Z(x) = \sum_{x'} \rho_{\text{sft}}(x' \mid x)\, e^{R(x, x')/\lambda}

    Computed in log space (never ``exp(R/λ)``). Limits: λ → ∞ gives ``rho_sft``; λ → 0 gives
    ``rho_sft`` restricted to ``argmax_{x' in supp rho_sft} R(x, x')`` and renormalised.
    Candidates with ``rho_sft = 0`` keep probability 0.

    Returns ``(n_x, n_c)`` for scalar λ, ``(L, n_x, n_c)`` for a ``(L,)`` sweep.
    """
    return np.exp(log_optimal_prompter(rho_sft, R, lam))


def log_partition(rho_sft: np.ndarray, R: np.ndarray, lam) -> np.ndarray:
    """``log Z(x) = log sum_{x'} rho_sft(x'|x) exp(R(x,x')/λ)``; shape ``(n_x,)`` or ``(L, n_x)``.

    Can be huge for tiny λ (it grows like ``max R / λ``); :func:`optimal_value` is the
    finite product ``λ log Z``.
    """
    rho_sft, R, lam = _check_closed_form_args(rho_sft, R, lam)
    _, _, vmax, log_norm = _gibbs_log(_safe_log(rho_sft), R, lam)
    lam_b = lam.reshape(lam.shape + (1,) * R.ndim)
    return (vmax / lam_b + log_norm)[..., 0]


def optimal_value(rho_sft: np.ndarray, R: np.ndarray, lam) -> np.ndarray:
    r"""Value of the optimum per prompt: ``max_rho E_rho[R] - λ KL(rho||rho_sft) = λ log Z(x)``.

    .. math::

        \max_\rho\; \mathbb{E}_{x' \sim \rho}[R(x, x')]
        - \lambda\, \mathrm{KL}(\rho \,\|\, \rho_{\text{sft}}) = \lambda \log Z(x)

    Computed as ``max R + λ log sum rho_sft exp((R - max R)/λ)`` so it stays finite as λ → 0
    (where it tends to ``max_{supp} R``). Shape ``(n_x,)`` or ``(L, n_x)``.
    """
    rho_sft, R, lam = _check_closed_form_args(rho_sft, R, lam)
    _, _, vmax, log_norm = _gibbs_log(_safe_log(rho_sft), R, lam)
    lam_b = lam.reshape(lam.shape + (1,) * R.ndim)
    return (vmax + lam_b * log_norm)[..., 0]


def _check_closed_form_args(rho_sft, R, lam):
    rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
    R = check_finite(R, "R", ndim=2)
    check_shape(R, rho_sft.shape, "R", "(n_x, n_c) like rho_sft")
    return rho_sft, R, as_lam(lam)


# --------------------------------------------------------------------------- policies
def induced_policy(rho: np.ndarray, pi_F: np.ndarray) -> np.ndarray:
    r"""Policy of the prompted frozen model: ``pi_rho(y|x) = sum_{x'} pi_F(y|x') rho(x'|x)``.

    .. math:: \pi_\rho(y \mid x) = \sum_{x'} \pi_F(y \mid x')\, \rho(x' \mid x)

    Args:
        rho: ``(n_x, n_c)`` or ``(L, n_x, n_c)``.
        pi_F: ``(n_x, n_c, n_y)``.

    Returns:
        ``(n_x, n_y)`` or ``(L, n_x, n_y)``.
    """
    pi_F = check_distribution(pi_F, "pi_F", ndim=3)
    rho = check_distribution(rho, "rho")
    check_shape(rho, pi_F.shape[:2], "rho", "(..., n_x, n_c) matching pi_F", trailing=True)
    return np.einsum("...xc,xcy->...xy", rho, pi_F)


def rlhf_optimal_policy(pi_ref: np.ndarray, r: np.ndarray, beta) -> np.ndarray:
    r"""RLHF / fine-tuning oracle: ``pi*(y|x) = pi_ref(y|x) exp(r(x,y)/β) / Z(x)``.

    .. math:: \pi^*_\beta(y \mid x) = \frac{\pi_{\text{ref}}(y \mid x)\, e^{r(x, y)/\beta}}{Z_\beta(x)}

    The KL-regularised optimum over *all* policies (the paper's upper baseline).
    ``pi_ref`` is the frozen model on the unmodified prompt, ``pi_F[:, 0, :]`` by convention.

    Args:
        pi_ref: ``(n_x, n_y)``; r: ``(n_x, n_y)``; beta: β > 0, scalar or ``(B,)``.

    Returns:
        ``(n_x, n_y)`` or ``(B, n_x, n_y)``.
    """
    pi_ref = check_distribution(pi_ref, "pi_ref", ndim=2)
    r = check_finite(r, "r", ndim=2)
    check_shape(r, pi_ref.shape, "r", "(n_x, n_y) like pi_ref")
    log_pi, *_ = _gibbs_log(_safe_log(pi_ref), r, as_lam(beta, name="beta"))
    return np.exp(log_pi)


# --------------------------------------------------------------------------- divergences
def kl_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``KL(p || q) = sum p log(p/q)`` over the last axis, with ``0 log 0 = 0``.

    ``p`` may carry extra leading axes (a λ sweep) and broadcasts against ``q``.
    Returns ``inf`` where ``p > 0 = q``.
    """
    p = check_distribution(p, "p")
    q = check_distribution(q, "q")
    _check_broadcast(p, q)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - _safe_log(q)), 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0)  # KL >= 0; clip float round-off only


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``TV(p, q) = ½ sum |p - q|`` over the last axis (in ``[0, 1]``)."""
    p = check_distribution(p, "p")
    q = check_distribution(q, "q")
    _check_broadcast(p, q)
    return 0.5 * np.abs(p - q).sum(axis=-1)


def _check_broadcast(p, q):
    try:
        np.broadcast_shapes(p.shape, q.shape)
    except ValueError:
        raise ValueError(
            f"p has shape {p.shape} and q has shape {q.shape}: they must broadcast against "
            "each other, with the distribution on the last axis."
        ) from None
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p and q must have the same last axis, got {p.shape} and {q.shape}.")


# --------------------------------------------------------------------------- metrics
def expected_reward(rho: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Per-prompt expected reward ``J_x(rho) = sum_{x'} rho(x'|x) R(x,x')``; ``(..., n_x)``."""
    rho = check_distribution(rho, "rho")
    R = check_finite(R, "R", ndim=2)
    check_shape(rho, R.shape, "rho", "(..., n_x, n_c) matching R", trailing=True)
    return (rho * R).sum(axis=-1)


def mean_reward(rho: np.ndarray, R: np.ndarray, P: np.ndarray | None = None) -> np.ndarray:
    """Mean reward ``J(pi_rho) = E_{x~P} E_{x'~rho} R(x,x')``; scalar or ``(L,)``."""
    J_x = expected_reward(rho, R)
    return J_x @ default_P(P, J_x.shape[-1])


@dataclass(frozen=True)
class VarianceSplit:
    """Law of total variance of ``r(x, y)`` for ``x' ~ rho(.|x)``, ``y ~ pi_F(.|x')``.

    ``total = noise + choice`` (per prompt), and over the data set
    ``total = noise + choice + between`` where ``between = Var_{x~P} J_x``.
    """

    noise: np.ndarray  # E_{x'~rho}[Var_y r]   (response noise)
    choice: np.ndarray  # Var_{x'~rho}[R(x,x')] (prompt choice)
    between: np.ndarray | float = 0.0  # Var_{x~P}[J_x] (data-set level only)

    @property
    def total(self) -> np.ndarray:
        return self.noise + self.choice + self.between


def reward_variance(rho: np.ndarray, pi_F: np.ndarray, r: np.ndarray) -> VarianceSplit:
    r"""Per-prompt reward variance and its split (shapes ``(..., n_x)``): response noise plus
    prompt choice,

    .. math::

        \operatorname{Var}[r] = \underbrace{\mathbb{E}_{x' \sim \rho}\big[\operatorname{Var}_{y \sim
        \pi_F(\cdot \mid x')} r(x, y)\big]}_{\text{response noise}}
        + \underbrace{\operatorname{Var}_{x' \sim \rho}\big[R(x, x')\big]}_{\text{prompt choice}}
    """
    R = prompt_values(pi_F, r)
    V = response_variance(pi_F, r)
    return _variance_split(check_distribution(rho, "rho"), R, V)


def _variance_split(rho, R, V) -> VarianceSplit:
    J_x = (rho * R).sum(axis=-1)
    noise = (rho * V).sum(axis=-1)
    choice = (rho * (R - J_x[..., None]) ** 2).sum(axis=-1)
    return VarianceSplit(noise=noise, choice=choice)


def dataset_reward_variance(
    rho: np.ndarray, pi_F: np.ndarray, r: np.ndarray, P: np.ndarray | None = None
) -> VarianceSplit:
    """Reward variance over the whole data set, ``x ~ P``: scalar or ``(L,)`` terms.

    ``Var = E_x[noise_x] + E_x[choice_x] + Var_x[J_x]``.
    """
    per = reward_variance(rho, pi_F, r)
    P = default_P(P, per.noise.shape[-1])
    J_x = expected_reward(rho, prompt_values(pi_F, r))
    J = J_x @ P
    between = ((J_x - J[..., None]) ** 2) @ P
    return VarianceSplit(noise=per.noise @ P, choice=per.choice @ P, between=between)


def objective(
    rho: np.ndarray,
    rho_sft: np.ndarray,
    R: np.ndarray,
    lam,
    P: np.ndarray | None = None,
) -> np.ndarray:
    """Align-Pro objective ``E_{x~P}[ E_{x'~rho} R(x,x') - λ KL(rho(.|x) || rho_sft(.|x)) ]``.

    ``rho`` may be ``(n_x, n_c)`` or ``(L, n_x, n_c)``; ``lam`` a scalar or ``(L,)`` matching
    the sweep axis. Returns a scalar or ``(L,)``.
    """
    lam = as_lam(lam)
    J_x = expected_reward(rho, R)  # (..., n_x)
    kl_x = kl_divergence(rho, check_distribution(rho_sft, "rho_sft", ndim=2))
    if lam.ndim and (J_x.ndim != 2 or J_x.shape[0] != lam.shape[0]):
        raise ValueError(
            f"lam has {lam.shape[0]} values but rho has shape {np.shape(rho)}: a 1-D lam needs "
            "rho of shape (L, n_x, n_c) with the same L (one rho per λ); pass a scalar lam for "
            "a single rho."
        )
    lam_b = lam.reshape(lam.shape + (1,)) if lam.ndim else lam
    return (J_x - lam_b * kl_x) @ default_P(P, J_x.shape[-1])


# --------------------------------------------------------------------------- the bound
@dataclass(frozen=True)
class BoundTerms:
    """Terms of the sub-optimality bound (each scalar, or ``(L,)`` for a λ sweep)::

        gap = J(pi*) - J(pi_rho*)  <=  tv_term - kl_term = bound
        tv_term = (r_max - r_min) E_x TV(pi*, pi_rho_sft)
        kl_term = λ E_x KL(rho* || rho_sft)

    ``tv_target`` and ``tv_prompter`` (``E_x TV(pi*, pi_ref)`` and ``E_x TV(pi_ref, pi_rho_sft)``,
    each times the reward range) bound the TV term from above by the triangle inequality,
    ``tv_term <= tv_target + tv_prompter``; they are not a split of it (the sum is usually larger).
    """

    gap: np.ndarray
    tv_term: np.ndarray
    kl_term: np.ndarray
    tv_target: np.ndarray
    tv_prompter: np.ndarray

    @property
    def bound(self) -> np.ndarray:
        return self.tv_term - self.kl_term

    @property
    def slack(self) -> np.ndarray:
        """``bound - gap`` (>= 0 whenever the theorem holds)."""
        return self.bound - self.gap


def suboptimality_bound(
    rho_sft: np.ndarray,
    pi_F: np.ndarray,
    r: np.ndarray,
    lam,
    beta: float,
    P: np.ndarray | None = None,
    pi_ref: np.ndarray | None = None,
    r_range: tuple[float, float] | None = None,
) -> BoundTerms:
    """Both sides of ``J(pi*) - J(pi_rho*) <= (r_max - r_min) E TV(pi*, pi_rho_sft) - λ E KL``.

    ``pi*`` is the RLHF optimum for ``beta`` with reference ``pi_ref`` (default
    ``pi_F[:, 0, :]``, the unmodified prompt); ``rho*`` the Align-Pro optimum for ``lam``.
    ``r_range`` defaults to the smallest and largest entries of ``r``.
    Proof: ``rho*`` maximises ``J - λ KL`` so ``J(pi_rho*) - λ KL(rho*) >= J(pi_rho_sft)``, and
    ``|E_p r - E_q r| <= (r_max - r_min) TV(p, q)``.
    """
    pi_F = check_distribution(pi_F, "pi_F", ndim=3)
    r = check_finite(r, "r", ndim=2)
    pi_ref = pi_F[:, 0, :] if pi_ref is None else pi_ref
    R = prompt_values(pi_F, r)
    rho_star = optimal_prompter(rho_sft, R, lam)
    P = default_P(P, R.shape[0])
    if r_range is None:
        r_range = (float(r.min()), float(r.max()))
    r_min, r_max = r_range
    if not r_max >= r_min:
        raise ValueError(f"r_range must be (r_min, r_max) with r_min <= r_max, got {r_range}.")
    if r.min() < r_min - 1e-12 or r.max() > r_max + 1e-12:
        raise ValueError(f"r_range {r_range} does not contain every reward in r.")
    span = r_max - r_min

    pi_star = rlhf_optimal_policy(pi_ref, r, beta)  # (n_x, n_y)
    pi_sft = induced_policy(rho_sft, pi_F)  # (n_x, n_y)
    J_star = ((pi_star * r).sum(-1)) @ P
    J_rho = mean_reward(rho_star, R, P)  # () or (L,)
    lam = as_lam(lam)
    kl = kl_divergence(rho_star, rho_sft) @ P
    tv = total_variation(pi_star, pi_sft) @ P
    return BoundTerms(
        gap=J_star - J_rho,
        tv_term=span * tv + 0.0 * kl,  # broadcast to the λ axis
        kl_term=lam * kl,
        tv_target=span * (total_variation(pi_star, pi_ref) @ P) + 0.0 * kl,
        tv_prompter=span * (total_variation(pi_ref, pi_sft) @ P) + 0.0 * kl,
    )
