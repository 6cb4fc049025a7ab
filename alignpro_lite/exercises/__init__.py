"""Exercises with a checker (Spinning Up habit): each notebook ends with a few.

In a notebook::

    answer = ...            # your computation (a number, an array, or your function)
    apl.exercises.check("01.1", answer)
    apl.exercises.hint("01.1")   # on demand, when stuck

``check`` compares a number with the reference (``np.allclose``), or tests a function on fresh
random instances (derivation exercises), and prints ✓ / ✗; an ``answer`` of ``None`` or ``...``
means "not attempted yet" and prints the task again. The references are functions of the
shipped data, so they cannot go stale. Worked solutions are in the source notebooks between
nbgrader's solution markers; ``make student`` removes them (docs/INSTRUCTOR.md).

One registry (:mod:`~alignpro_lite.exercises.registry`) and one module per notebook
(``nb01`` … ``nb08``), each registering its own exercises.
"""

from alignpro_lite.exercises import nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08
from alignpro_lite.exercises.registry import (
    EXERCISES,
    RESULTS,
    Exercise,
    check,
    hint,
    is_correct,
    register,
    task,
)

__all__ = [
    "EXERCISES",
    "Exercise",
    "check",
    "is_correct",
    "register",
    "RESULTS",
    "hint",
    "task",
    "nb01",
    "nb02",
    "nb03",
    "nb04",
    "nb05",
    "nb06",
    "nb07",
    "nb08",
]
