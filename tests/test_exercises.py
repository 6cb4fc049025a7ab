"""The exercise checker accepts the reference solutions and rejects wrong answers."""

import numpy as np
import pytest

from alignpro_lite import exercises as ex


@pytest.mark.parametrize("key", sorted(ex.EXERCISES))
def test_checker(key, capsys):
    sol = np.asarray(ex.solution(key), dtype=float)
    assert ex.is_correct(key, sol)
    assert not ex.is_correct(key, sol * 1.01 + 0.01)
    assert not ex.is_correct(key, None)
    assert not ex.is_correct(key, np.zeros(sol.size + 1))
    ex.check(key, None)
    assert key in capsys.readouterr().out


def test_exercise_01_1_by_hand():
    """The hand computation the exercise asks for matches the package."""
    import alignpro_lite as apl

    p = apl.teaching_problem()
    with np.errstate(divide="ignore"):
        w = np.log(p.rho_sft[1]) + p.R[1] / 0.05
    w = np.exp(w - w.max())
    assert ex.is_correct("01.1", w / w.sum())


def test_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise"):
        ex.check("99.9", 1.0)
