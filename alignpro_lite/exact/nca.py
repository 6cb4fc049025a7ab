r"""Noise-contrastive alignment (NCA): route (b) as a classifier whose fixed point is ``rho*``.

Weighted maximum likelihood (:mod:`alignpro_lite.exact.distill`) fits ``rho_θ`` to the
reweighted sample; on a language model its stochastic gradient is pure noise when there is
nothing to learn (its *expected* value is zero at uniform weights, one batch's is not). NCA
(Chen et al., NeurIPS 2024) learns the density ratio instead. For one prompt ``x`` with ``N``
rows ``a_j ~ rho_sft(·|x)`` and target weights ``w_j`` (summing to 1, e.g.
:func:`~alignpro_lite.exact.distill.snis_weights`), the prompter's log-ratio

    f_j = log rho_θ(a_j|x) - log rho_sft(a_j|x)

is the logit of a classifier that tells the rows drawn ∝ ``w`` ("positives") from the rows drawn
uniformly ("negatives"):

    L(f) = - sum_j [ w_j log σ(f_j) + (1/N) log σ(-f_j) ]                    (:func:`nca_loss`)

    dL/df_j = (1/N) σ(f_j) - w_j σ(-f_j)                                      (:func:`nca_grad`)

* **The fixed point is rho\*.** Each row's loss is minimised at ``f_j = log(N w_j)``
  (:func:`nca_optimum`); with ``w_j ∝ exp(R̂_j/λ)`` that is ``R̂_j/λ - log mean_k exp(R̂_k/λ)``,
  i.e. ``rho_θ / rho_sft = exp(R/λ) / Z``: the closed form, row by row.
* **Nothing to do, nothing done.** At ``rho_θ = rho_sft`` (``f = 0``) the gradient is
  ``(1/N - w_j) / 2``: exactly 0 for every row, in every batch that holds all ``N`` rows of its
  prompts, when the weights are uniform (``λ = ∞``). A fit at ``λ = ∞`` returns ``rho_sft``.
* **The step follows λ.** The gradient's size is the weights' distance from uniform, so a plain
  (or momentum) SGD step with a λ-independent learning rate moves the prompter further at small
  λ than at large λ. Adam would rescale every step to the same size.

The same loss fits RLHF's ``pi* ∝ pi_ref exp(r/β)`` from answers of ``pi_ref``.

Noise in ``R̂``: with ``R̂ = R + ε``, ``ε ~ N(0, se²)``,
``E exp(R̂/λ) = exp(R/λ + se²/(2λ²))`` (:func:`lognormal_bias`): a rewrite's weight is inflated by
its own noise. With equal noise on every row the factor cancels in the self-normalisation *in
expectation* only; the weights still follow the luck of the draw once ``λ`` is below the noise.
:func:`noise_floor` is the rule that keeps λ above it (``λ ≥ 2 × median se``: the median row's
log-bias is then at most 1/8 nat).

The log-linear prompter of :func:`fit_loglinear`, ``rho_θ(c|x) ∝ rho_sft(c|x) exp(θ·φ(x, c))``,
is the small exact model of the LoRA fit (:func:`alignpro_lite.learn.distill.fit_nca`): its
projection :func:`project_loglinear` (``argmin_θ E_x KL(rho*‖rho_θ)``, convex) is known, so the
tests can compare the NCA fit from a noisy bank with the best the family can do.
"""

from __future__ import annotations

import numpy as np

from alignpro_lite.exact.validate import as_lam

__all__ = [
    "nca_loss",
    "nca_grad",
    "nca_optimum",
    "heldout_targets",
    "lognormal_bias",
    "noise_floor",
    "noise_aware_lam",
    "loglinear_policy",
    "mean_kl",
    "project_loglinear",
    "fit_loglinear",
    "fit_loglinear_wmle",
    "toy_bank",
    "toy_rho_star",
]


def _lam_or_inf(lam) -> float:
    """λ > 0, finite or ``inf`` (uniform weights)."""
    if isinstance(lam, (int, float, np.floating)) and not isinstance(lam, bool) and lam == np.inf:
        return float("inf")
    return float(as_lam(lam))


def _log_sigmoid(z):
    z = np.asarray(z, dtype=float)
    return -np.logaddexp(0.0, -z)


def _sigmoid(z):
    z = np.asarray(z, dtype=float)
    return np.exp(_log_sigmoid(z))


def _check(f, w):
    f = np.asarray(f, dtype=float)
    w = np.asarray(w, dtype=float)
    if f.shape != w.shape or f.ndim < 1 or f.shape[-1] == 0:
        raise ValueError(f"f and w must have the same shape (..., N), got {f.shape} and {w.shape}.")
    if (w < 0).any() or not np.isfinite(w).all():
        raise ValueError("w must be finite and >= 0.")
    return f, w


def nca_loss(f, w, q=None) -> np.ndarray:
    """``L = - sum_j [w_j log σ(f_j) + q_j log σ(-f_j)]`` over the last axis, ``(..., N) -> (...)``.

    ``f``: log-ratios ``log rho_θ - log rho_sft`` of the ``N`` rows of a prompt; ``w``: the
    positives' weights (summing to 1 per prompt); ``q``: the negatives' weights (default
    ``1/N`` each: the rows themselves, uniformly). Minimised row by row at ``f = log(w/q)``.
    """
    f, w = _check(f, w)
    q = np.full_like(w, 1.0 / w.shape[-1]) if q is None else np.asarray(q, dtype=float)
    return -(w * _log_sigmoid(f) + q * _log_sigmoid(-f)).sum(axis=-1)


def nca_grad(f, w, q=None) -> np.ndarray:
    """``dL/df_j = q_j σ(f_j) - w_j σ(-f_j)``, ``(..., N)``; ``(1/N - w_j)/2`` at ``f = 0``."""
    f, w = _check(f, w)
    q = np.full_like(w, 1.0 / w.shape[-1]) if q is None else np.asarray(q, dtype=float)
    return q * _sigmoid(f) - w * _sigmoid(-f)


def nca_optimum(w) -> np.ndarray:
    """The per-row minimiser of :func:`nca_loss` with uniform negatives: ``f_j = log(N w_j)``."""
    w = np.asarray(w, dtype=float)
    if w.ndim < 1 or w.shape[-1] == 0 or (w < 0).any():
        raise ValueError("w must be (..., N) with N >= 1 and entries >= 0.")
    with np.errstate(divide="ignore"):
        return np.log(w.shape[-1] * w)


def heldout_targets(R_train, R_held, lam) -> np.ndarray:
    """The log-ratio a perfect fit gives HELD-OUT rows of a prompt: ``R̂_h/λ - log mean_j exp(R̂_j/λ)``
    with the normaliser ``Z`` estimated on the prompt's TRAIN rows ``R_train`` ``(N,)``.
    Returns ``(len(R_held),)``; zeros at ``λ = ∞``."""
    lam = _lam_or_inf(lam)
    Rt, Rh = np.asarray(R_train, dtype=float), np.asarray(R_held, dtype=float)
    if np.isinf(lam):
        return np.zeros(Rh.shape)
    zt = Rt / lam
    m = zt.max()
    return Rh / lam - (m + np.log(np.mean(np.exp(zt - m))))


# --------------------------------------------------------------------------- noise in R̂
def lognormal_bias(se, lam) -> np.ndarray:
    """``log E[exp(R̂/λ)] - R/λ = se² / (2 λ²)`` for ``R̂ ~ N(R, se²)``: how much a row's own noise
    inflates its weight, in nats (elementwise)."""
    lam = _lam_or_inf(lam)
    se = np.asarray(se, dtype=float)
    return se**2 / (2.0 * lam**2)


def noise_floor(se, factor: float = 2.0) -> float:
    """The smallest λ the noise of ``R̂`` allows: ``factor × median(se)`` (NaN entries ignored).

    At ``λ = 2 × median se`` the median row's log-bias :func:`lognormal_bias` is ``1/8`` nat and
    a one-SE luck moves its log-weight by half a nat; below it the weights follow the draw.
    """
    s = np.asarray(se, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("se has no finite entry: the bank needs >= 2 answers per rewrite.")
    if not factor > 0:
        raise ValueError(f"factor must be > 0, got {factor!r}.")
    return float(factor * np.median(s))


def noise_aware_lam(lam, se, factor: float = 2.0) -> float:
    """The λ rule with the noise floor: ``max(lam, noise_floor(se, factor))``."""
    return max(float(as_lam(lam)), noise_floor(se, factor))


# --------------------------------------------------------------------------- a log-linear prompter
def loglinear_policy(theta, log_rho_sft, phi) -> np.ndarray:
    """``rho_θ(c|x) ∝ rho_sft(c|x) exp(θ·φ(x, c))``: ``theta (d,)``, ``log_rho_sft (n_x, K)``,
    ``phi (n_x, K, d)`` -> ``(n_x, K)``."""
    z = np.asarray(log_rho_sft, dtype=float) + np.asarray(phi) @ np.asarray(theta, dtype=float)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def mean_kl(p, q) -> float:
    """``mean_x KL(p(·|x) ‖ q(·|x))`` of two ``(n_x, K)`` tables (``0 log 0 = 0``)."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return float(t.sum(axis=-1).mean())


def project_loglinear(target, log_rho_sft, phi, steps: int = 3000, lr: float = 1.0) -> np.ndarray:
    """``argmin_θ mean_x KL(target ‖ rho_θ)`` over the log-linear family (convex in θ), by
    gradient descent: ``∇ = mean_x (E_{rho_θ} φ - E_target φ)``. Returns ``theta (d,)``."""
    phi = np.asarray(phi, dtype=float)
    target = np.asarray(target, dtype=float)
    theta = np.zeros(phi.shape[-1])
    e_t = np.einsum("xk,xkd->d", target, phi) / len(target)
    for _ in range(int(steps)):
        p = loglinear_policy(theta, log_rho_sft, phi)
        theta -= lr * (np.einsum("xk,xkd->d", p, phi) / len(p) - e_t)
    return theta


def _lse(log_rho_sft, phi, theta) -> np.ndarray:
    z = log_rho_sft + phi @ theta
    m = z.max(axis=-1)
    return m + np.log(np.exp(z - m[:, None]).sum(axis=-1))


def fit_loglinear(
    rows, w, log_rho_sft, phi, *, epochs: int = 20, prompts_per_step: int = 4, lr: float = 0.5,
    momentum: float = 0.9, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """NCA fit of the log-linear prompter from a bank, by momentum SGD with a λ-free step.

    ``rows (n_x, N)``: candidate indices sampled from ``rho_sft``; ``w (n_x, N)``: their target
    weights (rows summing to 1). Each step takes ``prompts_per_step`` prompts (a fresh shuffle
    every epoch) with ALL their rows and descends ``mean_x L(f_x)``, ``f = θ·φ`` (the log-linear
    family's exact log-ratio to ``rho_sft``, normaliser included; ``log_rho_sft`` normalised
    rows). Returns ``theta``.
    """
    rows = np.asarray(rows)
    w = np.asarray(w, dtype=float)
    phi = np.asarray(phi, dtype=float)
    n_x = rows.shape[0]
    rng = np.random.default_rng(seed)
    theta = np.zeros(phi.shape[-1])
    vel = np.zeros_like(theta)
    ix = np.arange(n_x)[:, None]
    feats = phi[ix, rows]  # (n_x, N, d)
    for _ in range(int(epochs)):
        order = rng.permutation(n_x)
        for s in range(0, n_x, int(prompts_per_step)):
            b = order[s : s + int(prompts_per_step)]
            p = loglinear_policy(theta, log_rho_sft[b], phi[b])  # (B, K)
            # f_j = θ·φ_j - log sum_k rho_sft,k e^{θ·φ_k}: the normaliser as a difference of the
            # same function at θ and at 0, so f is exactly 0 at θ = 0
            f = feats[b] @ theta - (_lse(log_rho_sft[b], phi[b], theta)
                                    - _lse(log_rho_sft[b], phi[b], 0 * theta))[:, None]  # fmt: skip
            g_f = nca_grad(f, w[b])  # (B, N)
            # d f_j / dθ = φ_j - E_{rho_θ} φ
            e_phi = np.einsum("bk,bkd->bd", p, phi[b])
            g = np.einsum("bn,bnd->d", g_f, feats[b] - e_phi[:, None, :]) / len(b)
            vel = momentum * vel + g
            theta = theta - lr * vel
    return theta


def fit_loglinear_wmle(
    rows, w, log_rho_sft, phi, *, steps: int = 40, batch: int = 16, per_prompt: int = 4,
    lr: float = 0.2, seed: int = 0,
) -> np.ndarray:  # fmt: skip
    """Round 1's recipe on the log-linear prompter, for contrast: weighted MLE by Adam (gradient
    clipped at norm 1) on ``batch`` rows per step, ``per_prompt`` rows of each drawn prompt
    sampled ∝ ``w``. Its batch gradient ``-mean ∇ log rho_θ(a)`` is noise whose *expected* value
    is 0 at uniform weights; Adam turns that noise into full-size steps, so the fit drifts away
    from ``rho_sft`` by about the same distance at every λ. Returns ``theta``."""
    rows = np.asarray(rows)
    w = np.asarray(w, dtype=float)
    phi = np.asarray(phi, dtype=float)
    n_x, N = rows.shape
    rng = np.random.default_rng(seed)
    theta = np.zeros(phi.shape[-1])
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    b1, b2, eps = 0.9, 0.999, 1e-8
    k = max(1, batch // per_prompt)
    for t in range(1, int(steps) + 1):
        b = rng.integers(0, n_x, k)
        j = np.stack([rng.choice(N, size=per_prompt, p=w[i] / w[i].sum()) for i in b])
        p = loglinear_policy(theta, log_rho_sft[b], phi[b])
        e_phi = np.einsum("bk,bkd->bd", p, phi[b])
        g = -(phi[b[:, None], rows[b[:, None], j]] - e_phi[:, None, :]).mean(axis=(0, 1))
        norm = np.linalg.norm(g)
        g = g / max(1.0, norm)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return theta


# --------------------------------------------------------------------------- a toy bank
def toy_bank(seed: int = 0, n_x: int = 120, K: int = 30, d: int = 6, N: int = 12,
             se: float = 0.2) -> dict:  # fmt: skip
    """A log-linear prompter and a bank shaped like the kindness bank: ``n_x/2`` train + ``n_x/2``
    test prompts, ``K`` candidates each with features ``phi (n_x, K, d)``, values ``R (n_x, K)``,
    ``N`` rewrites of ``rho_sft`` per train prompt (``rows (n_x/2, N)``) with
    ``R_hat = R + N(0, se²)``. Returns a dict of those arrays, ``log_rho_sft (n_x, K)`` and ``half``.
    """
    rng = np.random.default_rng(seed)
    phi = rng.normal(size=(n_x, K, d))
    logits = 1.5 * rng.normal(size=(n_x, K))
    lrs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    R = 0.15 * phi @ rng.normal(size=d) + 0.1 * rng.normal(size=(n_x, K))
    half = n_x // 2
    rows = np.stack([rng.choice(K, size=N, p=np.exp(lrs[i])) for i in range(half)])
    R_hat = R[np.arange(half)[:, None], rows] + se * rng.normal(size=(half, N))
    return {"phi": phi, "log_rho_sft": lrs, "R": R, "rows": rows, "R_hat": R_hat, "half": half}


def toy_rho_star(toy: dict, lam) -> np.ndarray:
    """The closed form ``rho*_λ ∝ rho_sft exp(R/λ)`` of :func:`toy_bank` (``(n_x, K)``)."""
    lam = _lam_or_inf(lam)
    if np.isinf(lam):
        return np.exp(toy["log_rho_sft"])
    z = toy["log_rho_sft"] + toy["R"] / lam
    z = z - z.max(-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(-1, keepdims=True)
