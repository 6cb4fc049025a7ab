"""Checkers for exercises whose answer is a function: fresh random instances, compared with
finite differences or the closed form. Shared by the ``nbNN`` modules."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from alignpro_lite.exercises.registry import returned


def random_instances(n: int = 6, seed: int = 2024, full_support: bool = False):
    """``n`` seeded random problems of varied sizes (some with ``rho_sft = 0`` candidates)."""
    from alignpro_lite.exact.problems import random_problem

    rng = np.random.default_rng(seed)
    for k in range(n):
        n_x, n_c, n_y = (int(v) for v in rng.integers(2, 7, size=3))
        yield random_problem(
            n_x,
            n_c,
            n_y,
            seed=int(rng.integers(1 << 30)),
            concentration=float(rng.choice([0.5, 1.0, 3.0])),
            zero_candidates=0.0 if full_support or k % 2 == 0 else 0.3,
        )


def as_array(value, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The student's return value as a float array of ``shape`` (ValueError naming ``what``)."""
    got = np.asarray(returned(value), dtype=float)
    if got.shape != shape:
        raise ValueError(f"{what} must have shape {shape}, got {got.shape}")
    return got


def compare(
    student: Callable,
    truth: Callable,
    cases,
    shape_of: Callable,
    what: str,
    rtol: float = 1e-4,
    atol: float = 1e-7,
) -> tuple[bool, str]:
    """Call ``student(*args)`` and ``truth(*args)`` on every case; the first mismatch fails."""
    n = 0
    for args in cases:
        got = as_array(student(*args), shape_of(*args), what)
        want = np.asarray(truth(*args), dtype=float)
        if not np.allclose(got, want, rtol=rtol, atol=atol):
            worst = float(np.max(np.abs(got - want)))
            return (
                False,
                f"{what} is off by up to {worst:.3g} on a random instance ({n} passed before)",
            )
        n += 1
    return True, f"matches on {n} random instances"


def central_difference(f: Callable[[float], np.ndarray], lam: float, rel: float = 1e-5):
    """``(f(λ+h) − f(λ−h)) / 2h`` with ``h = rel·λ``."""
    h = rel * lam
    return (np.asarray(f(lam + h)) - np.asarray(f(lam - h))) / (2 * h)


def check_lam_derivative(student: Callable, quantity: Callable, what: str, seed: int):
    """Compare ``student(rho_sft, R, lam) -> (n_x,)`` with the central difference in λ of
    ``quantity(rho_sft, R, lam)`` on random instances, λ log-uniform in [0.05, 3.2]."""

    def truth(rho_sft, R, lam):
        return central_difference(lambda lam_: quantity(rho_sft, R, lam_), lam)

    rng = np.random.default_rng(seed)
    cases = [(p.rho_sft, p.R, float(10 ** rng.uniform(-1.3, 0.5))) for p in random_instances()]
    return compare(student, truth, cases, lambda rho_sft, R, lam: (R.shape[0],), what)
