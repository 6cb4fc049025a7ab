"""The exercise registry: one :class:`Exercise` per key, and the checker every notebook calls.

Each ``nbNN`` module of this package registers its notebook's exercises with :func:`register`;
this module imports none of them (no circle).

Two kinds of exercise:

* **a number or an array** (``reference`` given): the answer is compared with a reference
  computed from the shipped data (``np.allclose`` with the exercise's ``rtol``/``atol``);
* **a function** (``verify`` given): the student writes a function from a derivation (e.g.
  ``dE[R]/dλ``) and ``verify`` tests it on fresh random instances against finite differences or
  the closed form. There is no number to copy.

The worked solutions live in the source notebooks between nbgrader's ``### BEGIN SOLUTION`` /
``### END SOLUTION`` markers and are removed from the student release (``make student``,
docs/INSTRUCTOR.md). The references here are deliberately not exported as a ``solution()``
function (the tests read them through :func:`reference`).

Every check is recorded in :data:`RESULTS` and, when the environment variable
``ALIGNPRO_EXERCISE_LOG`` names a file, appended to it as one JSON line
``{"key": ..., "passed": ...}`` (the test suite uses this to assert that the checks pass on the
source notebooks and fail on the unanswered student release). With
``ALIGNPRO_STRICT_CHECKS=1`` a failed check raises ``AssertionError`` (for autograding, e.g.
``nbgrader autograde``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LOG_ENV = "ALIGNPRO_EXERCISE_LOG"
STRICT_ENV = "ALIGNPRO_STRICT_CHECKS"


@dataclass(frozen=True)
class Exercise:
    """One checked exercise.

    ``reference()`` returns the expected number/array (numeric exercises); ``verify(answer)``
    returns ``(passed, message)`` for exercises whose answer is a function. Exactly one of the
    two is given. ``kind`` says what the exercise asks for: ``"compute"`` or ``"derive"``.
    """

    key: str
    task: str
    hint: str
    reference: Callable[[], object] | None = None
    rtol: float = 1e-6
    atol: float = 1e-8
    verify: Callable[[object], tuple[bool, str]] | None = None
    kind: str = "compute"

    def __post_init__(self) -> None:
        if (self.reference is None) == (self.verify is None):
            raise ValueError(f"exercise {self.key!r}: give exactly one of reference= or verify=.")
        if self.kind not in ("compute", "derive"):
            raise ValueError(f"exercise {self.key!r}: kind must be 'compute' or 'derive'.")


EXERCISES: dict[str, Exercise] = {}
RESULTS: dict[str, bool] = {}


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


def _get(key: str) -> Exercise:
    if not isinstance(key, str):
        raise ValueError(f"the exercise key must be a string like '01.1', got {key!r}.")
    if key not in EXERCISES:
        raise ValueError(f"unknown exercise {key!r}; choose from {sorted(EXERCISES)}.")
    return EXERCISES[key]


def task(key: str) -> str:
    """The text of exercise ``key``."""
    return _get(key).task


def hint(key: str) -> None:
    """Print the hint of exercise ``key`` (on demand: call it when you are stuck)."""
    _say(f"Hint for {key}: {_get(key).hint}")


INSTRUCTOR_ENV = "ALIGNPRO_INSTRUCTOR"


def reference(key: str):
    """The reference value of a numeric exercise, for instructors and the tests only: it answers
    when the environment variable ``ALIGNPRO_INSTRUCTOR`` is set to 1 (docs/INSTRUCTOR.md), and
    is not part of ``apl.exercises``' public names. Otherwise ``check(key, reference(key))``
    would pass any exercise. (A student who reads the package's source can still compute what
    the checker compares with; the graded copy is nbgrader's, with hidden tests.)"""
    if os.environ.get(INSTRUCTOR_ENV, "") != "1":
        raise ValueError(f"reference values are for instructors: set {INSTRUCTOR_ENV}=1 "
                         "(docs/INSTRUCTOR.md). Students: apl.exercises.check tells you whether "
                         "your answer is right, apl.exercises.hint helps when you are stuck.")  # fmt: skip
    ex = _get(key)
    if ex.reference is None:
        raise ValueError(f"exercise {key!r} asks for a function; it is checked by verify().")
    return ex.reference()


def check(key: str, answer) -> None:
    """Compare ``answer`` with the reference (or test the function) and print ✓ / ✗.

    A wrong answer says so and points to :func:`hint`; nothing is returned (so a notebook cell
    shows only the message). The result is recorded (see the module docstring).
    """
    passed = is_correct(key, answer, verbose=True)
    if not passed and os.environ.get(STRICT_ENV, "") not in ("", "0"):
        raise AssertionError(f"exercise {key}: not answered correctly.")


def _record(key: str, passed: bool) -> None:
    RESULTS[key] = passed
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": key, "passed": bool(passed)}) + "\n")


def is_correct(key: str, answer, verbose: bool = False) -> bool:
    """True when ``answer`` is right for exercise ``key`` (recorded, see the module docstring)."""
    ex = _get(key)
    passed, message = _judge(ex, answer)
    if verbose:
        _say(message)
    _record(key, passed)
    return passed


def _judge(ex: Exercise, answer) -> tuple[bool, str]:
    key = ex.key
    nudge = f'Stuck? `apl.exercises.hint("{key}")`.'
    if answer is None or answer is Ellipsis:
        return False, f"Exercise {key} (not attempted yet): {ex.task}"
    if ex.verify is not None:
        if not callable(answer):
            return (
                False,
                f"✗ {key}: the answer must be your function (its name, without ()). {nudge}",
            )
        try:
            passed, detail = ex.verify(answer)
        except NotAnswered:
            return (
                False,
                f"Exercise {key} (not attempted yet: your function returned None): {ex.task}",
            )
        except Exception as err:  # the student's code raised: show what and where to look
            return False, f"✗ {key}: your function raised {type(err).__name__}: {err}. {nudge}"
        if passed:
            return True, f"✓ {key}: correct ({detail})."
        return False, f"✗ {key}: not quite: {detail}. {nudge}"
    expected = np.asarray(ex.reference(), dtype=float)
    if hasattr(answer, "detach") and hasattr(answer, "cpu"):  # a torch tensor (maybe requires grad)
        answer = answer.detach().cpu().numpy()
    try:
        got = np.asarray(answer, dtype=float)
    except (TypeError, ValueError, RuntimeError):
        return (
            False,
            f"✗ {key}: the answer must be a number or an array of numbers, got {type(answer)}.",
        )
    if got.shape != expected.shape:
        return False, f"✗ {key}: expected shape {expected.shape}, got {got.shape}. {nudge}"
    if np.allclose(got, expected, rtol=ex.rtol, atol=ex.atol):
        return True, f"✓ {key}: correct."
    return False, f"✗ {key}: not quite. {nudge}"


class NotAnswered(Exception):
    """Raised by a ``verify`` function when the student's function returns ``None``."""


def returned(value):
    """For ``verify`` functions: the student's return value, or :class:`NotAnswered` if None."""
    if value is None:
        raise NotAnswered
    return value
