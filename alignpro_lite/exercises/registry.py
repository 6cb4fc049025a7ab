"""The exercise registry: one :class:`Exercise` per key, and the checker every notebook calls.

Each ``nbNN`` module of this package registers its notebook's exercises with :func:`register`;
this module imports none of them (no circle).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Exercise:
    key: str
    task: str
    hint: str
    solution: Callable[[], object]
    rtol: float = 1e-6
    atol: float = 1e-8


EXERCISES: dict[str, Exercise] = {}


def register(*exercises: Exercise) -> None:
    """Add exercises to the registry (each key once)."""
    for e in exercises:
        if e.key in EXERCISES:
            raise ValueError(f"exercise {e.key!r} is registered twice.")
        EXERCISES[e.key] = e


def _say(text: str) -> None:
    """Markdown in a notebook (wraps, renders *emphasis*), plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)


def task(key: str) -> str:
    """The text of exercise ``key``."""
    return EXERCISES[key].task


def solution(key: str):
    """The reference answer of exercise ``key`` (for instructors and tests)."""
    return EXERCISES[key].solution()


def check(key: str, answer) -> None:
    """Compare ``answer`` with the reference and print ✓ / ✗ with a hint."""
    is_correct(key, answer, verbose=True)


def is_correct(key: str, answer, verbose: bool = False) -> bool:
    """True when ``answer`` matches the reference solution of exercise ``key``."""
    say = _say if verbose else (lambda *a, **k: None)
    if key not in EXERCISES:
        raise ValueError(f"unknown exercise {key!r}; choose from {sorted(EXERCISES)}.")
    ex = EXERCISES[key]
    if answer is None or answer is Ellipsis:
        say(f"Exercise {key} (not attempted yet): {ex.task}")
        return False
    expected = np.asarray(ex.solution(), dtype=float)
    try:
        got = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        say(f"✗ {key}: the answer must be a number or an array of numbers, got {type(answer)}.")
        return False
    if got.shape != expected.shape:
        say(f"✗ {key}: expected shape {expected.shape}, got {got.shape}. Hint: {ex.hint}")
        return False
    if np.allclose(got, expected, rtol=ex.rtol, atol=ex.atol):
        say(f"✓ {key}: correct.")
        return True
    say(f"✗ {key}: not quite. Hint: {ex.hint}")
    return False
