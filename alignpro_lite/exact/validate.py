"""Input checks shared by every module: bad input gets a ``ValueError`` that names the
argument, says what is wrong and how to fix it."""

from __future__ import annotations

import numpy as np

PROB_ATOL = 1e-6  # tolerance for "rows sum to 1"


def as_array(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}.") from None
    return arr


def check_ndim(arr: np.ndarray, name: str, ndim: int | None) -> None:
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}.")


def check_finite(x, name: str, ndim: int | None = None) -> np.ndarray:
    """Array of finite floats (no NaN, no ±inf)."""
    arr = as_array(x, name)
    check_ndim(arr, name, ndim)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); it needs at least one entry.")
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(
            f"{name} has {n_nan} NaN and {n_inf} infinite entries; rewards and values must be "
            "finite (drop or impute the missing ones first)."
        )
    return arr


def check_distribution(
    x, name: str, ndim: int | None = None, atol: float = PROB_ATOL
) -> np.ndarray:
    """Probabilities along the last axis: finite, >= 0, each row summing to 1 (± ``atol``)."""
    arr = as_array(x, name)
    check_ndim(arr, name, ndim)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last (distribution) axis, got {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite entries; probabilities must be finite.")
    if (arr < 0).any():
        raise ValueError(
            f"{name} has negative entries (min {arr.min():.3g}); probabilities must be >= 0."
        )
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} rows must sum to 1 over the last axis; row {idx} sums to "
            f"{sums[idx]:.6g} ({int(bad.sum())} bad rows). Normalise with x / x.sum(-1, keepdims=True)."
        )
    return arr


def check_shape(
    arr: np.ndarray, expected: tuple, name: str, what: str, trailing: bool = False
) -> None:
    """``arr.shape`` equals ``expected`` (or ends with it when ``trailing``)."""
    expected = tuple(int(e) for e in expected)
    got = arr.shape[-len(expected) :] if trailing else arr.shape
    if tuple(got) != expected or (trailing and arr.ndim < len(expected)):
        raise ValueError(f"{name} has shape {arr.shape}; expected {what}, i.e. {expected}.")


def as_lam(lam, name: str = "lam") -> np.ndarray:
    """λ (or β, a temperature) as a 0-D or 1-D float array of finite values > 0.

    The one rule for every KL weight in the package: any real number or array of them (Python,
    numpy scalars, 0-d arrays) is accepted; bools, NaN, ±inf, values <= 0 and anything that is
    not a number are refused with a ``ValueError`` naming ``name``.
    """
    if isinstance(lam, (bool, np.bool_)) or np.asarray(lam).dtype == bool:
        raise ValueError(f"{name} must be a number > 0, got the boolean {lam!r}.")
    if isinstance(lam, (str, bytes)) or np.asarray(lam).dtype.kind in "USO":
        raise ValueError(f"{name} must be a number > 0, got {lam!r} ({type(lam).__name__}).")
    try:
        arr = np.asarray(lam, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {lam!r}.") from None
    if arr.ndim > 1:
        raise ValueError(
            f"{name} must be a scalar or a 1-D array of values, got shape {arr.shape}."
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; give at least one value.")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} must be finite, got {lam!r}. For the λ → ∞ limit use rho_sft itself "
            "(or a large finite value such as 1e12)."
        )
    if (arr <= 0).any():
        raise ValueError(
            f"{name} must be > 0 (it is a KL weight / temperature), got {arr.min():.3g}. "
            "Use a small positive value such as 1e-6 for the λ → 0 limit."
        )
    return arr


def positive_scalar(value, name: str = "lam") -> float:
    """One real number > 0 (λ, β, a learning rate, a temperature) as a Python float; the rules
    and messages of :func:`as_lam`."""
    arr = as_lam(value, name)
    if arr.ndim:
        raise ValueError(f"{name} must be a single number, got shape {arr.shape}.")
    return float(arr)


def positive_int(value, name: str, what: str = "a count") -> int:
    """One integer >= 1 (a sample count, a number of steps) as a Python int; ``ValueError`` naming
    ``name`` for anything else (bools, NaN, ±inf, fractions, strings, None)."""
    try:
        ok = (
            not isinstance(value, (bool, np.bool_))
            and np.isscalar(value)
            and bool(np.isfinite(value))
            and int(value) == value
            and value >= 1
        )
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer ({what}), got {value!r}.")
    return int(value)


def default_P(P, n_x: int) -> np.ndarray:
    """Prompt distribution ``P`` (default uniform over ``n_x`` prompts), validated."""
    if P is None:
        return np.full(n_x, 1.0 / n_x)
    P = check_distribution(P, "P", ndim=1)
    if P.shape[0] != n_x:
        raise ValueError(f"P has {P.shape[0]} entries but there are {n_x} prompts.")
    return P


def what_changed(saved: dict, now: dict, names: dict | None = None) -> str:
    """Name every setting that differs between a saved manifest and the one asked for now.

    Nested dicts are compared key by key (``spec.temperature``); ``names`` gives a reader's name
    for a key (e.g. ``{"reference": "the rho_sft adapter's SHA-256"}``). Long values are cut.
    Returns e.g. ``"the rho_sft adapter's SHA-256 (saved '3f2a…', now '9c01…')"`` or
    ``"nothing named"`` when only the key sets differ in ways not listed.
    """
    names = names or {}

    def flat(d, prefix=""):
        out = {}
        for k, v in (d or {}).items():
            key = f"{prefix}{k}"
            if isinstance(v, dict) and v:
                out.update(flat(v, key + "."))
            else:
                out[key] = v
        return out

    def short(v) -> str:
        text = repr(v)
        return text if len(text) <= 24 else text[:20] + "…" + text[-1]

    a, b = flat(saved), flat(now)
    parts = []
    for key in [*a, *(k for k in b if k not in a)]:
        if a.get(key, "<missing>") != b.get(key, "<missing>"):
            top = key.split(".")[0]
            label = names.get(key) or (f"{names[top]}: {key}" if top in names else key)
            parts.append(f"{label} (saved {short(a.get(key))}, now {short(b.get(key))})")
    return "; ".join(parts) if parts else "nothing named"
