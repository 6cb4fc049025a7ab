"""Exercises with a checker (Spinning Up habit): each notebook ends with a few.

In a notebook::

    answer = ...            # your computation
    apl.exercises.check("01.1", answer)

``check`` compares with the reference solution (``np.allclose``) and prints ✓ / ✗ and a hint;
an ``answer`` of ``None`` or ``...`` means "not attempted yet" and prints the task again.
The reference solutions are functions of the shipped data, so they cannot go stale.

One registry (:mod:`~alignpro_lite.exercises.registry`) and one module per notebook
(``nb01`` … ``nb06``), each registering its own exercises.
"""

from alignpro_lite.exercises import nb01, nb02, nb03, nb04, nb05, nb06
from alignpro_lite.exercises.registry import (
    EXERCISES,
    Exercise,
    check,
    is_correct,
    register,
    solution,
    task,
)

__all__ = [
    "EXERCISES",
    "Exercise",
    "check",
    "is_correct",
    "register",
    "solution",
    "task",
    "nb01",
    "nb02",
    "nb03",
    "nb04",
    "nb05",
    "nb06",
]
