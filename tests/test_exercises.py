"""The exercise checker accepts right answers and rejects wrong ones: the numeric references
and the function (derivation) exercises, whose checker runs on fresh random instances."""

import json

import numpy as np
import pytest

import alignpro_lite as apl
from alignpro_lite import exercises as ex


@pytest.fixture(autouse=True)
def instructor(monkeypatch):
    """The tests read references as an instructor does (ALIGNPRO_INSTRUCTOR=1)."""
    monkeypatch.setenv(ex.registry.INSTRUCTOR_ENV, "1")


NUMERIC = sorted(k for k, e in ex.EXERCISES.items() if e.reference is not None)
FUNCTIONS = sorted(k for k, e in ex.EXERCISES.items() if e.verify is not None)


@pytest.mark.parametrize("key", NUMERIC)
def test_checker(key, capsys):
    sol = np.asarray(ex.registry.reference(key), dtype=float)
    assert ex.is_correct(key, sol)
    assert not ex.is_correct(key, sol * 1.01 + 0.01)
    assert not ex.is_correct(key, None)
    assert not ex.is_correct(key, np.zeros(sol.size + 1))
    ex.check(key, None)
    assert key in capsys.readouterr().out


def test_exercise_01_1_by_hand():
    """The hand computation the exercise asks for matches the package."""
    p = apl.teaching_problem()
    with np.errstate(divide="ignore"):
        w = np.log(p.rho_sft[1]) + p.R[1] / 0.05
    w = np.exp(w - w.max())
    assert ex.is_correct("01.1", w / w.sum())


# ---------------------------------------------------------------- derivation exercises
def _rho_star(rho_sft, R, lam):
    return apl.optimal_prompter(rho_sft, R, lam)


def _var(rho_sft, R, lam):
    rho = _rho_star(rho_sft, R, lam)
    m = (rho * R).sum(-1, keepdims=True)
    return (rho * (R - m) ** 2).sum(-1)


def dreward_dlam(rho_sft, R, lam):
    return -_var(rho_sft, R, lam) / lam**2


def dkl_dlam(rho_sft, R, lam):
    return -_var(rho_sft, R, lam) / lam**3


def objective_gradient(theta, rho_sft, R, lam):
    z = theta - theta.max(-1, keepdims=True)
    rho = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    s = R - lam * np.log(rho / rho_sft)
    return rho * (s - (rho * s).sum(-1, keepdims=True))


def dpo_fit(rho_sft, W, lam):
    from alignpro_lite.exact.dpo import fit_dpo

    return fit_dpo(rho_sft, W, lam)


def bon_estimate(r, n):
    from alignpro_lite.experiment.pooled import bon_ustat

    return bon_ustat(r, n)


def table_fit(c, R_hat, lam, n_c):
    w = np.exp((R_hat - R_hat.max()) / lam)
    return np.bincount(c, weights=w / w.sum(), minlength=n_c)


def paired_power(delta, sd, n, alpha=0.05):
    from scipy import stats

    z = stats.norm.ppf(1 - alpha / 2)
    s = delta * np.sqrt(n) / sd
    return stats.norm.cdf(s - z) + stats.norm.cdf(-s - z)


RIGHT = {"01.4": dreward_dlam, "02.4": dkl_dlam, "03.1": objective_gradient, "04.2": dpo_fit,
         "05.3": bon_estimate, "07.3": table_fit, "08.3": paired_power}  # fmt: skip
WRONG = {
    "01.4": lambda rho_sft, R, lam: -_var(rho_sft, R, lam) / lam,  # a power of λ short
    "02.4": dreward_dlam,  # the reward's derivative, not the KL's
    # the penalty's own gradient left out
    "03.1": lambda th, q, R, lam: objective_gradient(th, q, R, 0.0),
    # returns the reference prompter: no fit at all
    "04.2": lambda rho_sft, W, lam: rho_sft,
    "05.3": lambda r, n: float(np.max(r)),  # the pool's maximum: biased upwards for n < m
    "07.3": lambda c, R_hat, lam, n_c: np.bincount(c, minlength=n_c) / len(c),  # no weights
    "08.3": lambda delta, sd, n, alpha=0.05: paired_power(delta, sd, n, alpha) / 2,  # one-sided
}


def test_every_function_exercise_has_a_right_and_a_wrong_answer_here():
    assert set(RIGHT) == set(FUNCTIONS) == set(WRONG)


@pytest.mark.parametrize("key", FUNCTIONS)
def test_function_checker(key, capsys):
    assert ex.is_correct(key, RIGHT[key])
    assert not ex.is_correct(key, WRONG[key])
    assert not ex.is_correct(key, None)
    assert not ex.is_correct(key, 1.0)  # a number where a function is asked
    assert not ex.is_correct(key, lambda *a: None)  # the student release's empty function
    ex.check(key, lambda *a: None)
    assert "not attempted" in capsys.readouterr().out

    def raises(*a):
        raise ZeroDivisionError("oops")

    ex.check(key, raises)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_hint_on_demand(capsys):
    ex.hint("01.2")
    assert ex.EXERCISES["01.2"].hint in capsys.readouterr().out


def test_results_are_logged_and_strict_mode_raises(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv(ex.registry.LOG_ENV, str(log))
    ex.check("01.2", ex.registry.reference("01.2"))
    ex.check("01.2", None)
    lines = [json.loads(s) for s in log.read_text().splitlines()]
    assert lines == [{"key": "01.2", "passed": True}, {"key": "01.2", "passed": False}]
    monkeypatch.setenv(ex.registry.STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="01.2"):
        ex.check("01.2", 0.0)


def test_no_public_solution_function():
    assert not hasattr(ex, "solution")
    with pytest.raises(ValueError, match="function"):
        ex.registry.reference("01.4")


def test_unknown_exercise():
    with pytest.raises(ValueError, match="unknown exercise"):
        ex.check("99.9", 1.0)
    with pytest.raises(ValueError, match="unknown exercise"):
        ex.hint("99.9")


def test_a_student_cannot_pass_a_check_with_the_reference(monkeypatch):
    """`check(key, reference(key))` passed every exercise: the reference is instructor-only."""
    assert not hasattr(ex, "reference") and "reference" not in ex.__all__
    monkeypatch.delenv(ex.registry.INSTRUCTOR_ENV)
    with pytest.raises(ValueError, match="for instructors"):
        ex.registry.reference("05.2")


def test_a_tensor_answer_and_a_bad_key_get_clear_messages():
    import torch

    sol = torch.tensor(np.asarray(ex.registry.reference("01.2"), dtype=float), requires_grad=True)
    assert ex.is_correct("01.2", sol)  # a tensor that requires grad is read, not a RuntimeError
    with pytest.raises(ValueError, match="must be a string"):
        ex.check(["01.2"], 1.0)
