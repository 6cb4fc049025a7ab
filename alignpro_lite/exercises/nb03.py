"""Exercises of notebook 03 (policy gradient on tables)."""

from __future__ import annotations

import numpy as np

from alignpro_lite.exercises.registry import Exercise, register


def _objective(theta, rho_sft, R, lam):
    """Σ_x [E_rho R − λ KL(rho || rho_sft)] for rho = softmax(theta) row-wise (full support)."""
    z = theta - theta.max(-1, keepdims=True)
    log_rho = z - np.log(np.exp(z).sum(-1, keepdims=True))
    rho = np.exp(log_rho)
    return float((rho * (R - lam * (log_rho - np.log(rho_sft)))).sum())


def _fd_gradient(theta, rho_sft, R, lam, h=1e-6):
    g = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        g[idx] = (
            _objective(theta + e, rho_sft, R, lam) - _objective(theta - e, rho_sft, R, lam)
        ) / (2 * h)
    return g


def _verify_03_1(objective_gradient) -> tuple[bool, str]:
    from alignpro_lite.exercises.verify import compare, random_instances

    rng = np.random.default_rng(3)
    cases = []
    for p in random_instances(full_support=True):
        theta = rng.normal(size=p.rho_sft.shape)
        cases.append((theta, p.rho_sft, p.R, float(10 ** rng.uniform(-1.5, 0.3))))
    return compare(
        objective_gradient,
        _fd_gradient,
        cases,
        lambda theta, *_: theta.shape,
        "the gradient",
        rtol=1e-5,
        atol=1e-7,
    )


register(
    Exercise(
        "03.1",
        "The tabular prompter is rho_θ(.|x) = softmax(θ_x). Derive the exact gradient of "
        "J(θ) = Σ_x [ E_{x'~rho_θ} R(x,x') − λ KL(rho_θ(.|x) || rho_sft(.|x)) ] with respect to θ "
        "and write it as objective_gradient(theta, rho_sft, R, lam) -> array shaped like theta. "
        "Then compare it with the expectation of the RLOO estimate in which the penalty "
        "s = R − λ log(rho_θ/rho_sft) is held constant. The checker uses finite differences on "
        "random instances (rho_sft with full support).",
        "∂ log rho(c)/∂θ_d = 1[c = d] − rho(d). With s(c) = R(c) − λ log(rho(c)/rho_sft(c)), "
        "∂J/∂θ_d = rho(d)·(s(d) − Σ_c rho(c) s(c)): the −λ·E_rho[∂ log rho] term that holding s "
        "constant drops is zero (the score has mean 0).",
        verify=_verify_03_1,
        kind="derive",
    ),
)
