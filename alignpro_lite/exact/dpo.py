r"""RLHF, Align-Pro and DPO on tables: implicit rewards, preference data, and the exact DPO fit.

Align-Pro's closed form ``rho*(x'|x) = rho_sft(x'|x) exp(R(x,x')/λ) / Z(x)`` can be read
backwards: on the support of ``rho_sft``,

.. math:: R(x, x') = \lambda \log \frac{\rho^*(x' \mid x)}{\rho_{\text{sft}}(x' \mid x)} + \lambda \log Z(x),

so the prompter *is* a reward model, up to one constant per prompt (:func:`implicit_reward`).
DPO uses that to skip the reward model: it fits a prompter directly to preference pairs
``x'_i ≻ x'_j`` by logistic regression on implicit-reward differences.

Here everything is a table. The prompter is parametrised as ``rho_θ ∝ rho_sft exp(θ)`` (so it
is 0 off ``rho_sft``'s support and its implicit reward is ``λ θ`` up to a constant per prompt),
and the population DPO loss over a table of preference weights ``W`` (:func:`preference_table`,
or the counts of :func:`sample_preferences`) is

    L(θ) = - sum_{x,i,j} W[x,i,j] log σ(λ (θ[x,i] - θ[x,j])) / sum W.

**Which rho* DPO recovers.** With labels from Bradley–Terry with scale ``temp``,
``P(i ≻ j) = σ((R_i - R_j) / temp)``, each pair's cross-entropy is minimised where
``σ(λ (θ_i - θ_j)) = σ((R_i - R_j) / temp)``, i.e. ``λ θ = R / temp + const``: the fit is
``rho ∝ rho_sft exp(R / (temp λ)) = rho*_{temp·λ}``. So labels with ``P(i ≻ j) = σ(R_i - R_j)``
(``temp = 1``) and DPO with temperature ``λ`` give exactly ``rho*_λ``; in general the KL weight
that DPO recovers is the *product* ``temp · λ`` (``temp = λ = 2`` gives ``rho*_4``, not
``rho*_2``). Shapes: ``rho_sft``, ``R``, ``theta`` ``(n_x, n_c)``; ``W`` ``(n_x, n_c, n_c)``.
"""

from __future__ import annotations

import warnings

import numpy as np

from alignpro_lite.exact.validate import (
    as_lam,
    check_distribution,
    check_finite,
    check_shape,
    positive_int,
    positive_scalar,
)

__all__ = [
    "implicit_reward",
    "preference_table",
    "sample_preferences",
    "dpo_loss",
    "dpo_grad",
    "fit_dpo",
]


def _expit(z):
    """``σ(z)``, stable for any ``z`` (``scipy.special.expit``, imported on first use so that
    ``import alignpro_lite`` stays fast)."""
    from scipy.special import expit

    return expit(z)


def _log_expit(z):
    """``log σ(z)``, stable for any ``z`` (``scipy.special.log_expit``)."""
    from scipy.special import log_expit

    return log_expit(z)


# --------------------------------------------------------------------------- implicit reward
def implicit_reward(policy, ref, temp) -> np.ndarray:
    r"""The implicit reward ``temp · log(policy / ref)`` of a KL-regularised policy.

    For Align-Pro pass ``(rho, rho_sft, lam)``; for RLHF ``(pi, pi_ref, beta)``. On the support
    of the optimum ``rho* = rho_sft exp(R/λ) / Z``,

    .. math:: R(x, x') = \lambda \log \frac{\rho^*(x' \mid x)}{\rho_{\text{sft}}(x' \mid x)} + \lambda \log Z(x),

    so the implicit reward of ``rho*`` equals ``R`` up to the per-prompt constant ``λ log Z(x)``
    (and the same holds for ``pi*_β`` and ``r``).

    Args:
        policy: ``(..., n_x, n_c)`` distributions over the last axis (extra leading axes, e.g.
            a λ sweep, broadcast against ``ref``).
        ref: ``(n_x, n_c)`` reference distributions.
        temp: λ or β > 0, a scalar or ``(L,)`` matching ``policy``'s leading sweep axis.

    Returns:
        The broadcast shape of ``policy`` and ``ref``: NaN where ``ref = 0`` (outside the
        support, where the implicit reward is undefined), ``-inf`` where ``policy = 0 < ref``.
    """
    policy = check_distribution(policy, "policy")
    ref = check_distribution(ref, "ref")
    temp = as_lam(temp, name="temp")
    try:
        shape = np.broadcast_shapes(policy.shape, ref.shape)
    except ValueError:
        raise ValueError(
            f"policy has shape {policy.shape} and ref has shape {ref.shape}: they must broadcast "
            "against each other, with the distribution on the last axis."
        ) from None
    temp_b = temp.reshape(temp.shape + (1,) * ref.ndim) if temp.ndim else temp
    if temp.ndim and (len(shape) != ref.ndim + 1 or shape[0] != temp.shape[0]):
        raise ValueError(
            f"temp has {temp.shape[0]} values but policy has shape {policy.shape}: a 1-D temp "
            "needs policy of shape (L, n_x, n_c) with the same L."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        out = temp_b * (np.log(policy) - np.log(ref))
    return np.where(np.broadcast_to(ref > 0, shape), out, np.nan)


# --------------------------------------------------------------------------- preference data
def _check_table_args(rho_sft, R, temp):
    rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
    R = check_finite(R, "R", ndim=2)
    check_shape(R, rho_sft.shape, "R", "(n_x, n_c) like rho_sft")
    return rho_sft, R, positive_scalar(temp, "temp")


def preference_table(rho_sft, R, temp: float = 1.0) -> np.ndarray:
    """Expected preference weights of DPO data over rewrites, ``(n_x, n_c, n_c)``::

        W[x, i, j] = rho_sft(i|x) rho_sft(j|x) σ((R(x,i) - R(x,j)) / temp)    (i != j),

    and 0 on the diagonal: a pair of rewrites drawn from ``rho_sft``, labelled by Bradley–Terry
    with reward ``R`` and scale ``temp``; ``W[x, i, j]`` is the weight of "``i`` preferred to
    ``j``". ``W[x,i,j] + W[x,j,i] = rho_sft(i|x) rho_sft(j|x)``, and candidates with
    ``rho_sft = 0`` get weight 0. :func:`fit_dpo` on this table with temperature ``lam``
    recovers ``rho*_{temp·lam}`` (``temp = 1``: ``rho*_lam``).
    """
    rho_sft, R, temp = _check_table_args(rho_sft, R, temp)
    n_c = rho_sft.shape[1]
    pair = rho_sft[:, :, None] * rho_sft[:, None, :]
    W = pair * _expit((R[:, :, None] - R[:, None, :]) / temp)
    W[:, np.arange(n_c), np.arange(n_c)] = 0.0
    return W


def sample_preferences(rho_sft, R, n_pairs: int, seed: int, temp: float = 1.0) -> np.ndarray:
    """Sampled preference counts, ``(n_x, n_c, n_c)``: ``counts[x, i, j]`` = times ``i`` beat ``j``.

    For each prompt, ``n_pairs`` ordered pairs ``(i, j)`` are drawn iid from ``rho_sft(.|x)``
    and labelled by Bradley–Terry, ``i`` wins with probability ``σ((R(x,i) - R(x,j)) / temp)``.
    Pairs with ``i == j`` carry no preference and are **dropped** (not redrawn), so a prompt
    whose ``rho_sft`` has one support point gets no pairs, and since each unordered pair can be
    drawn in either order, ``E[counts] = 2 n_pairs preference_table(rho_sft, R, temp)`` exactly.
    The whole array is a function of ``seed``.
    """
    rho_sft, R, temp = _check_table_args(rho_sft, R, temp)
    n_pairs = positive_int(n_pairs, "n_pairs", "pairs drawn per prompt")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer (the pairs are a function of it), got {seed!r}.")
    rng = np.random.default_rng(seed)
    n_x, n_c = rho_sft.shape
    counts = np.zeros((n_x, n_c, n_c))
    for x in range(n_x):
        p = rho_sft[x] / rho_sft[x].sum()
        i, j = rng.choice(n_c, size=(2, n_pairs), p=p)
        first_wins = rng.random(n_pairs) < _expit((R[x, i] - R[x, j]) / temp)
        keep = i != j
        win = np.where(first_wins, i, j)[keep]
        lose = np.where(first_wins, j, i)[keep]
        np.add.at(counts[x], (win, lose), 1.0)
    return counts


# --------------------------------------------------------------------------- the DPO loss
def _check_dpo_args(theta, rho_sft, W, lam, need_pairs: bool = True):
    rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
    n_x, n_c = rho_sft.shape
    W = check_finite(W, "W", ndim=3)
    check_shape(W, (n_x, n_c, n_c), "W", "(n_x, n_c, n_c) matching rho_sft")
    if (W < 0).any():
        raise ValueError(
            f"W has negative entries (min {W.min():.3g}); preference weights are >= 0."
        )
    if np.trace(W, axis1=1, axis2=2).any():
        raise ValueError(
            "W has weight on its diagonal W[x, i, i]; a rewrite is not compared with itself "
            "(set the diagonal to 0)."
        )
    off = rho_sft == 0
    if (W[off[:, :, None] | off[:, None, :]] > 0).any():
        raise ValueError(
            "W puts weight on a pair with a candidate outside rho_sft's support (rho_sft = 0): "
            "rho_θ ∝ rho_sft exp(θ) gives such a candidate probability 0, so it has no implicit "
            "reward. Zero those pairs, or give the candidate rho_sft > 0."
        )
    if need_pairs and W.sum() <= 0:
        raise ValueError("W is all zeros: DPO needs at least one preference pair with weight > 0.")
    lam = positive_scalar(lam, "lam")
    if theta is not None:
        theta = check_finite(theta, "theta", ndim=2)
        check_shape(theta, (n_x, n_c), "theta", "(n_x, n_c) like rho_sft")
    return theta, rho_sft, W, lam


def dpo_loss(theta, rho_sft, W, lam) -> float:
    """The DPO loss of the tabular prompter ``rho_θ ∝ rho_sft exp(θ)``::

        L(θ) = - sum_{x,i,j} W[x,i,j] log σ(λ (θ[x,i] - θ[x,j])) / sum W

    (``log σ`` via ``scipy.special.log_expit``, stable for any argument). ``theta``:
    ``(n_x, n_c)``; ``W``: ``(n_x, n_c, n_c)`` preference weights; returns a float. Convex in
    ``θ``, unchanged by adding a constant to a prompt's row.
    """
    theta, rho_sft, W, lam = _check_dpo_args(theta, rho_sft, W, lam)
    u = lam * (theta[:, :, None] - theta[:, None, :])
    return float(-(W * _log_expit(u)).sum() / W.sum())


def dpo_grad(theta, rho_sft, W, lam) -> np.ndarray:
    """Gradient of :func:`dpo_loss`, ``(n_x, n_c)``::

        dL/dθ[x,k] = λ (sum_i G[x,i,k] - sum_j G[x,k,j]) / sum W,
        G[x,i,j] = W[x,i,j] σ(-λ (θ[x,i] - θ[x,j])).

    Zero for candidates in no pair (e.g. ``rho_sft = 0``); each row sums to 0.
    """
    theta, rho_sft, W, lam = _check_dpo_args(theta, rho_sft, W, lam)
    return _grad(lam * theta, W, lam) / W.sum()


def _grad(phi, W, lam):
    """Unnormalised gradient in θ at implicit reward ``phi = λ θ``."""
    G = W * _expit(-(phi[:, :, None] - phi[:, None, :]))
    return lam * (G.sum(axis=1) - G.sum(axis=2))


def fit_dpo(rho_sft, W, lam, steps: int = 100, tol: float = 1e-12) -> np.ndarray:
    """The exact DPO prompter: ``argmin_θ`` of :func:`dpo_loss`, returned as ``rho_θ``, ``(n_x, n_c)``.

    The loss decouples over prompts and depends on ``θ`` only through the implicit reward
    ``φ = λ θ``, so each prompt is a small logistic regression in ``φ``; its Hessian is the
    ``n_c x n_c`` graph Laplacian ``H = sum_ij W_ij σ(φ_i - φ_j) σ(φ_j - φ_i) (e_i - e_j)(e_i -
    e_j)^T``. It is solved by damped Newton, vectorised over prompts and deterministic: the
    step ``s`` solves ``H s = -g`` through the pseudo-inverse of the Jacobi-scaled
    ``D^-1/2 H D^-1/2`` (``D`` the diagonal of ``H``; the scaling keeps candidates with tiny
    ``rho_sft`` exact), damped by ``t = log(1 + ν)/ν`` with ``ν = max_ij |s_i - s_j|`` (a
    guaranteed decrease for the logistic loss, Bach 2010), until the largest step in ``φ`` is
    below ``tol`` reward units. Then ``rho = rho_sft exp(φ / λ) / Z``. Exact to round-off
    (TV to ``rho*`` below 1e-10) for reward gaps up to about 30 ``temp``, i.e. Bradley–Terry
    probabilities above about 1e-13; beyond that, groups of candidates linked only by
    near-certain comparisons are pinned by Hessian weights below machine precision, and the fit
    degrades (TV about 1e-4 at gaps of 70 ``temp`` with λ = 1000), usually with a warning that
    ``tol`` was not reached.

    With ``W = preference_table(rho_sft, R, temp=1)`` this is ``rho*_lam =
    optimal_prompter(rho_sft, R, lam)`` (to round-off); with Bradley–Terry scale ``temp`` it is
    ``rho*_{temp·lam}`` (module docstring). Candidates with ``rho_sft = 0`` stay at 0; a prompt
    with no pairs (one support point, or no sampled pairs) keeps ``rho_sft``; a candidate in no
    pair keeps ``φ = 0``; where the pairs split a prompt's candidates into groups never compared
    with each other, each group keeps its ``rho_sft`` mass (the loss says nothing about it).

    The loss has a minimiser iff, within each such group, every candidate can be reached from
    every other by a chain of "beats" (for sampled counts: no subset of candidates wins all its
    comparisons with the rest). Otherwise (few sampled pairs) ``φ`` runs off to ±∞, the fit
    drives the losers' probability toward 0 for ``steps`` Newton steps, and a
    ``RuntimeWarning`` names the prompts.
    """
    _, rho_sft, W, lam = _check_dpo_args(None, rho_sft, W, lam, need_pairs=False)
    steps = positive_int(steps, "steps", "Newton steps")
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        tol = float("nan")
    if isinstance(tol, bool) or not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0 (reward units), got {tol!r}.")
    no_optimum = _prompts_without_optimum(W)
    n_x, n_c = rho_sft.shape
    phi = np.zeros((n_x, n_c))
    eye = np.eye(n_c)
    converged = False
    for _ in range(int(steps)):
        d = phi[:, :, None] - phi[:, None, :]
        A = W * _expit(d) * _expit(-d)
        S = A + A.transpose(0, 2, 1)
        diag = S.sum(axis=2)  # (n_x, n_c)
        H = eye * diag[:, :, None] - S  # (n_x, n_c, n_c) Laplacian in φ
        g = _grad(phi, W, 1.0)  # gradient in φ
        scale = 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0))
        M = scale[:, :, None] * H * scale[:, None, :]
        step = -scale * np.einsum("xij,xj->xi", np.linalg.pinv(M, hermitian=True), scale * g)
        # Damped Newton for a generalised self-concordant loss (|ψ'''| <= ψ'' for ψ = -log σ,
        # Bach 2010): with ν = max_ij |s_i - s_j|, the largest change of a logit, the step
        # t = log(1 + ν) / ν minimises Bach's upper bound on the loss, so every step decreases
        # it without evaluating it (the loss cannot resolve pairs with σ ~ 1e-100; the gradient
        # can), and t -> 1 (plain Newton, quadratic convergence) near the optimum.
        nu = step.max(axis=1) - step.min(axis=1)
        t = np.log1p(nu) / np.where(nu > 0, nu, 1.0)
        t = np.where(nu > 1e-8, t, 1.0)
        phi = phi + t[:, None] * step
        if np.abs(t[:, None] * step).max() < tol:
            converged = True
            break
    if no_optimum:
        warnings.warn(
            f"fit_dpo: the preference pairs of prompt(s) {no_optimum} have no finite DPO "
            "optimum (some candidates win every comparison with the others), so the fit drives "
            f"the losers' probability toward 0 and stops after {steps} steps. More pairs, or "
            "preference_table's expected weights, have a finite optimum.",
            RuntimeWarning,
            stacklevel=2,
        )
    elif not converged:
        warnings.warn(
            f"fit_dpo did not reach tol={tol:g} in {steps} Newton steps; raise steps.",
            RuntimeWarning,
            stacklevel=2,
        )
    with np.errstate(divide="ignore"):
        logits = np.log(rho_sft) + phi / lam
    logits -= logits.max(axis=1, keepdims=True)
    rho = np.exp(logits)
    rho /= rho.sum(axis=1, keepdims=True)
    return _keep_group_masses(rho, rho_sft, W)


def _keep_group_masses(rho, rho_sft, W):
    """Rescale each group of candidates never compared with the rest (a weakly connected part
    of the comparison graph; a candidate in no pair is its own group) to its ``rho_sft`` mass:
    the DPO loss is blind to how mass is split between such groups."""
    from scipy.sparse.csgraph import connected_components

    rho = rho.copy()
    for x in range(rho.shape[0]):
        n_groups, label = connected_components(W[x] + W[x].T > 0, directed=False)
        if n_groups == 1:
            continue
        for g in range(n_groups):
            members = label == g
            mass = rho[x, members].sum()
            if mass > 0:
                rho[x, members] *= rho_sft[x, members].sum() / mass
    return rho


def _prompts_without_optimum(W) -> list[int]:
    """Prompts whose "i beat j" graph (edge ``i -> j`` where ``W[x,i,j] > 0``) is not strongly
    connected within each of its weakly connected parts: there the DPO loss has no minimiser."""
    from scipy.sparse.csgraph import connected_components  # 0.2 s to import: only when fitting

    bad = []
    for x in range(W.shape[0]):
        graph = W[x] > 0
        n_weak, _ = connected_components(graph, directed=True, connection="weak")
        n_strong, _ = connected_components(graph, directed=True, connection="strong")
        if n_strong != n_weak:
            bad.append(x)
    return bad
