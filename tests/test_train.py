"""The KL-regularised policy-gradient loop (train.py) and the tabular prompter (policies.py)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import alignpro_lite as apl
from alignpro_lite.exact import discrete
from alignpro_lite.exact.problems import DiscreteProblem
from alignpro_lite.learn import train as train_mod
from alignpro_lite.learn.policies import (
    DiscreteEnvironment,
    TabularPrompter,
    learning_curve,
    one_thread,
    tabular_metrics,
    train_tabular,
)
from alignpro_lite.learn.train import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    PREVIOUS_NAME,
    load_checkpoint,
    policy_gradient_loss,
    rloo_advantages,
    train,
)


@pytest.fixture(autouse=True)
def _one_thread():
    with one_thread():  # tiny tensors: threads only fight over the shared cores
        yield


@pytest.fixture(scope="module")
def teaching():
    return apl.teaching_problem()


def _exact_objective(rho, problem, lam):
    return float(discrete.objective(rho, problem.rho_sft, problem.R, lam, problem.P))


# --------------------------------------------------------------------------- convergence
@pytest.mark.parametrize("lam", [0.1, 0.3])
@pytest.mark.parametrize("seed", [0, 1])
def test_converges_to_closed_form(teaching, lam, seed):
    res = train_tabular(teaching, lam, seed=seed, progress=False)  # 400 steps, k=16
    rho = res.policy.probs()
    rho_star = teaching.optimal_prompter(lam)
    star = _exact_objective(rho_star, teaching, lam)
    gap = (star - _exact_objective(rho, teaching, lam)) / abs(star)
    tv = float(discrete.total_variation(rho, rho_star) @ teaching.P)
    assert 0 <= gap < 0.01
    assert tv < 0.05
    # it had somewhere to go: the start (rho_sft) is far from rho*
    assert res.metrics["tv_to_optimum"].iloc[0] > 0.2
    # the logged curve agrees with the independent computation above
    last = res.metrics.iloc[-1]
    assert last["tv_to_optimum"] == pytest.approx(tv, abs=1e-12)
    assert last["objective_star"] == pytest.approx(star, rel=1e-12)
    assert len(res.metrics) == 400


def test_converges_with_exact_kl_and_keeps_masked_candidates_at_zero():
    problem = apl.random_problem(n_x=3, n_c=5, n_y=4, seed=3, zero_candidates=0.4)
    assert (problem.rho_sft == 0).any()
    lam = 0.05
    res = train_tabular(problem, lam, kl_estimator="exact", seed=0, progress=False)
    rho = res.policy.probs()
    assert (rho[problem.rho_sft == 0] == 0).all()
    rho_star = problem.optimal_prompter(lam)
    assert float(discrete.total_variation(rho, rho_star) @ problem.P) < 0.05
    star = _exact_objective(rho_star, problem, lam)
    assert (star - _exact_objective(rho, problem, lam)) / abs(star) < 0.01


def test_converges_on_estimated_table(teaching):
    """No pi_F: the environment draws R + sqrt(V) * noise."""
    table = DiscreteProblem(
        rho_sft=teaching.rho_sft, P=teaching.P, R_table=teaching.R, V_table=teaching.V
    )
    lam = 0.3
    res = train_tabular(table, lam, seed=0, progress=False)
    rho_star = table.optimal_prompter(lam)
    assert float(discrete.total_variation(res.policy.probs(), rho_star) @ table.P) < 0.05
    assert res.metrics["objective_gap"].iloc[-1] < 0.01


def test_learning_curve_and_files(teaching, tmp_path):
    res = train_tabular(teaching, 0.3, steps=20, out_dir=tmp_path, progress=False)
    curve = learning_curve(res)
    assert list(curve.columns) == [
        "step",
        "objective",
        "objective_exact",
        "objective_star",
        "tv_to_optimum",
    ]
    assert curve["step"].tolist() == list(range(1, 21))
    assert curve["objective_star"].nunique() == 1
    assert (curve["objective_exact"] <= curve["objective_star"] + 1e-12).all()
    csv = pd.read_csv(tmp_path / METRICS_NAME)
    assert len(csv) == 20 and {"reward_mean", "kl", "grad_norm", "seconds"} <= set(csv.columns)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    plain = train(
        TabularPrompter(teaching.rho_sft), DiscreteEnvironment(teaching), [0, 1], lam=0.3, steps=2
    )
    with pytest.raises(ValueError, match="tabular_metrics"):
        learning_curve(plain)


# --------------------------------------------------------------------------- resume
def _run(problem, out_dir=None, callback=None, steps=30, reward_fn=None):
    return train(
        TabularPrompter(problem.rho_sft),
        reward_fn or DiscreteEnvironment(problem),
        list(range(problem.n_x)),
        lam=0.2,
        steps=steps,
        lr=0.1,
        k=4,
        batch_size=3,  # random batches: the batch RNG must be restored too
        P=problem.P,
        lr_schedule="cosine",  # the scheduler state must be restored too
        seed=7,
        out_dir=out_dir,
        checkpoint_every=10,
        metrics_fn=tabular_metrics(problem, 0.2),
        callback=callback,
        progress=False,
    )


def _without_seconds(history):
    return [{key: v for key, v in row.items() if key != "seconds"} for row in history]


class Killed(Exception):
    pass


@pytest.mark.parametrize("where", ["after step 17", "inside step 18 (Ctrl-C)"])
def test_resume_after_interruption_reproduces_uninterrupted_run(teaching, tmp_path, where):
    full = _run(teaching)

    def kill_at_17(step, row):
        if step == 17:
            raise Killed

    env, calls = DiscreteEnvironment(teaching), []

    def ctrl_c_in_step_18(batch, actions, rng):
        calls.append(1)
        rewards = env(batch, actions, rng)  # the step's randomness is already drawn
        if len(calls) == 18:
            raise KeyboardInterrupt
        return rewards

    if where == "after step 17":
        with pytest.raises(Killed):
            _run(teaching, out_dir=tmp_path, callback=kill_at_17)
    else:
        with pytest.raises(KeyboardInterrupt):
            _run(teaching, out_dir=tmp_path, reward_fn=ctrl_c_in_step_18)
    assert load_checkpoint(tmp_path)["step"] == 17  # the interrupted run lost nothing finished
    resumed = _run(teaching, out_dir=tmp_path)
    assert resumed.resumed_from == 17
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert torch.equal(resumed.policy.theta, full.policy.theta)
    assert len(pd.read_csv(tmp_path / METRICS_NAME)) == 30

    # calling again on a finished run trains nothing and returns the same result
    again = _run(teaching, out_dir=tmp_path)
    assert again.resumed_from == 30
    assert torch.equal(again.policy.theta, full.policy.theta)


def test_resume_after_hard_kill_from_periodic_checkpoint(teaching, tmp_path):
    """A SIGKILL leaves only the last periodic checkpoint (step 10): resume from there."""
    full = _run(teaching)
    backup = tmp_path / "at_step_10.pt"

    def kill_at_17(step, row):
        if step == 10:
            shutil.copy(tmp_path / "run" / CHECKPOINT_NAME, backup)
        if step == 17:
            raise Killed

    with pytest.raises(Killed):
        _run(teaching, out_dir=tmp_path / "run", callback=kill_at_17)
    shutil.copy(backup, tmp_path / "run" / CHECKPOINT_NAME)  # as if nothing was saved at 17
    resumed = _run(teaching, out_dir=tmp_path / "run")
    assert resumed.resumed_from == 10
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert torch.equal(resumed.policy.theta, full.policy.theta)


def test_resume_refuses_a_different_run(teaching, tmp_path):
    _run(teaching, out_dir=tmp_path, steps=5)
    with pytest.raises(ValueError, match="different run.*lam"):
        train(
            TabularPrompter(teaching.rho_sft),
            DiscreteEnvironment(teaching),
            list(range(teaching.n_x)),
            lam=0.5,
            steps=10,
            out_dir=tmp_path,
            progress=False,
        )


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": 0.0}, "lam must be"),
        ({"lam": -1.0}, "lam must be"),
        ({"lam": math.nan}, "lam must be"),
        ({"k": 1}, "k must be an integer >= 2"),
        ({"steps": 0}, "steps must be"),
        ({"lr": 0.0}, "lr must be"),
        ({"lr": -0.1}, "lr must be"),
        ({"batch_size": 0}, "batch_size"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"kl_estimator": "k3"}, "kl_estimator"),
        ({"lr_schedule": "step"}, "lr_schedule"),
        ({"data": []}, "data is empty"),
        ({"P": [1.0, 0.0]}, "P has 2 entries"),
    ],
)
def test_bad_arguments_raise_clear_errors(teaching, kwargs, match):
    args = {"data": list(range(teaching.n_x)), "lam": 0.1, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        train(TabularPrompter(teaching.rho_sft), DiscreteEnvironment(teaching), **args)


def test_exact_kl_needs_a_tabular_reference(teaching):
    class NoExactKL(TabularPrompter):
        def exact_kl(self, batch):
            return None

    with pytest.raises(ValueError, match="exact_kl"):
        train(
            NoExactKL(teaching.rho_sft),
            DiscreteEnvironment(teaching),
            [0, 1],
            lam=0.1,
            kl_estimator="exact",
        )


def test_wrong_reward_shape_is_reported(teaching):
    with pytest.raises(ValueError, match="reward_fn returned shape"):
        train(
            TabularPrompter(teaching.rho_sft),
            lambda batch, actions, rng: np.zeros(3),
            [0, 1],
            lam=0.1,
            k=4,
            progress=False,
        )


# --------------------------------------------------------------------------- the estimator
def test_rloo_advantages():
    s = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    A = rloo_advantages(s)
    assert torch.allclose(A[0], torch.tensor([1 - 4.0, 2 - 3.5, 6 - 1.5]))
    assert torch.allclose(A.sum(1), torch.zeros(2))
    with pytest.raises(ValueError, match="k >= 2"):
        rloo_advantages(torch.ones(3, 1))


def _exact_gradient(problem, theta, lam):
    """∇_θ of the closed-form objective E_P[E_rho R - λ KL(rho || rho_sft)], by autograd."""
    theta = theta.detach().clone().requires_grad_(True)
    support = torch.as_tensor(problem.rho_sft > 0)
    log_rho = torch.log_softmax(theta.masked_fill(~support, -torch.inf), -1)
    with np.errstate(divide="ignore"):
        log_sft = torch.as_tensor(np.log(problem.rho_sft))
    R, P = torch.as_tensor(problem.R), torch.as_tensor(problem.P)
    rho = log_rho.exp()
    kl = (rho * torch.where(support, log_rho - log_sft, 0.0)).sum(-1)
    J = (P * ((rho * R).sum(-1) - lam * kl)).sum()
    (grad,) = torch.autograd.grad(J, theta)
    return grad


def _estimates(problem, policy, lam, k, kl_estimator, chunks=16, repeats=1500, seed=0):
    """``chunks`` independent estimates of the ascent direction g, each the average of
    ``repeats`` independent RLOO estimates per prompt."""
    env = DiscreteEnvironment(problem)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    batch = [x for x in range(problem.n_x) for _ in range(repeats)]
    weights = np.repeat(problem.P, repeats) / repeats
    out = []
    for _ in range(chunks):
        actions = policy.sample(batch, k, gen)
        rewards = env(batch, actions, rng)
        policy.zero_grad()
        loss, _ = policy_gradient_loss(
            policy, batch, actions, rewards, weights, lam, k, kl_estimator
        )
        loss.backward()
        out.append(-policy.theta.grad.clone())
    return torch.stack(out)  # (chunks, n_x, n_c)


@pytest.mark.parametrize("kl_estimator", ["sample", "exact"])
def test_rloo_gradient_is_unbiased(kl_estimator, monkeypatch):
    problem = apl.random_problem(n_x=2, n_c=3, n_y=3, seed=5)
    lam, k = 0.5, 2
    policy = TabularPrompter(problem.rho_sft)
    with torch.no_grad():  # away from rho_sft, where the KL's gradient is not zero
        policy.theta.add_(
            torch.randn(policy.theta.shape, generator=torch.Generator().manual_seed(1))
        )
    exact = _exact_gradient(problem, policy.theta, lam)
    assert exact.abs().max() > 0.05

    est = _estimates(problem, policy, lam, k, kl_estimator)
    mean, se = est.mean(0), est.std(0) / math.sqrt(est.shape[0])
    assert ((mean - exact).abs() <= 4 * se + 1e-4).all(), (mean, exact, se)

    # the test has power: a baseline that includes the sample itself (s_i - mean_j s_j)
    # shrinks the gradient by (k-1)/k = 1/2, and the same check catches it
    monkeypatch.setattr(train_mod, "rloo_advantages", lambda s: s - s.mean(1, keepdim=True))
    biased = _estimates(problem, policy, lam, k, kl_estimator).mean(0)
    assert ((biased - exact).abs() > 4 * se + 1e-4).any()


# --------------------------------------------------------------------------- the prompter
def test_tabular_prompter_matches_the_table(teaching):
    policy = TabularPrompter(teaching.rho_sft)
    np.testing.assert_allclose(policy.probs(), teaching.rho_sft, atol=1e-15)
    with torch.no_grad():
        policy.theta.add_(
            torch.randn(policy.theta.shape, generator=torch.Generator().manual_seed(0))
        )
    rho = policy.probs()
    batch = [0, 2]
    kl = policy.exact_kl(batch).detach().numpy()
    np.testing.assert_allclose(kl, discrete.kl_divergence(rho, teaching.rho_sft)[batch], rtol=1e-12)
    actions = policy.sample(batch, 5000, torch.Generator().manual_seed(0))
    assert actions.shape == (10000,)
    a = actions.view(2, 5000).numpy()
    assert not (teaching.rho_sft[batch][:, [4]] > 0).any() and (a != 4).all()  # masked: never
    for b, x in enumerate(batch):
        freq = np.bincount(a[b], minlength=teaching.n_c) / 5000
        np.testing.assert_allclose(freq, rho[x], atol=0.03)
    lp = policy.logprob(batch, actions).detach().numpy()
    np.testing.assert_allclose(lp, np.log(rho[np.repeat(batch, 5000), actions.numpy()]))
    ref = policy.ref_logprob(batch, actions).numpy()
    np.testing.assert_allclose(
        ref, np.log(teaching.rho_sft[np.repeat(batch, 5000), actions.numpy()])
    )


@pytest.mark.parametrize("form", ["tabular", "table"])
def test_environment_rewards_have_mean_R_and_variance_V(teaching, form):
    problem = teaching
    if form == "table":
        problem = DiscreteProblem(
            rho_sft=teaching.rho_sft, P=teaching.P, R_table=teaching.R, V_table=teaching.V
        )
    env = DiscreteEnvironment(problem)
    n = 20000
    batch = [1, 3]
    actions = torch.tensor([1] * n + [2] * n)  # (x=1, x'=1) and (x=3, x'=2)
    rewards = env(batch, actions, np.random.default_rng(0)).reshape(2, n)
    for row, (x, c) in zip(rewards, [(1, 1), (3, 2)]):
        se = math.sqrt(teaching.V[x, c] / n)
        assert abs(row.mean() - teaching.R[x, c]) < 4 * se
        assert row.var() == pytest.approx(teaching.V[x, c], rel=0.05)
    if form == "tabular":  # sampled answers: rewards are entries of r(x, .)
        assert set(np.unique(rewards[0])) <= set(teaching.r[1])


# --------------------------------------------------------------------------- checkpoint files
def _sigterm_self():
    """SIGTERM to this process, only while train()'s handler is installed (else pytest dies)."""
    handler = signal.getsignal(signal.SIGTERM)
    assert isinstance(getattr(handler, "__self__", None), train_mod._StopSignals), handler
    signal.raise_signal(signal.SIGTERM)


def _kill_at(step_to_kill):
    def callback(step, row):
        if step == step_to_kill:
            raise Killed

    return callback


def test_checkpoints_are_checksummed_and_the_previous_one_is_kept(teaching, tmp_path):
    _run(teaching, out_dir=tmp_path)  # saves at 10, 20, 30
    for name, step in ((CHECKPOINT_NAME, 30), (PREVIOUS_NAME, 20)):
        data = (tmp_path / name).read_bytes()
        record = json.loads((tmp_path / (name + ".sha256")).read_text())
        assert record == {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "step": step,
        }
        assert torch.load(tmp_path / name, weights_only=False)["step"] == step  # plain torch files
    assert not list(tmp_path.glob("*.tmp"))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _garbage(path):
    path.write_bytes(b"not a checkpoint at all")


def _drop_checksum_and_garbage(path):  # an "old" checkpoint without a checksum, unreadable
    path.with_name(path.name + ".sha256").unlink()
    _garbage(path)


@pytest.mark.parametrize(
    ("damage", "what"),
    [
        (_truncate, r"is truncated \(\d+ of \d+ bytes\)"),
        (_flip_a_byte, "is corrupt .*SHA-256 does not match checkpoint.pt.sha256"),
        (_garbage, "is truncated"),
        (_drop_checksum_and_garbage, "cannot be read by torch"),
    ],
)
def test_a_broken_checkpoint_is_named_and_the_previous_one_resumes(
    teaching, tmp_path, damage, what
):
    full = _run(teaching)
    with pytest.raises(Killed):
        _run(teaching, out_dir=tmp_path, callback=_kill_at(17))  # saved at 10, then 17
    damage(tmp_path / CHECKPOINT_NAME)
    with pytest.warns(train_mod.CheckpointWarning, match=f"{tmp_path / CHECKPOINT_NAME} {what}"):
        assert load_checkpoint(tmp_path)["step"] == 10
    with pytest.warns(train_mod.CheckpointWarning, match="checkpoint.prev.pt \\(step 10\\)"):
        resumed = _run(teaching, out_dir=tmp_path)
    assert resumed.resumed_from == 10
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert torch.equal(resumed.policy.theta, full.policy.theta)
    # the broken file was replaced, the good previous one kept until then: both good again
    assert load_checkpoint(tmp_path)["step"] == 30
    (tmp_path / CHECKPOINT_NAME).unlink()
    with pytest.warns(train_mod.CheckpointWarning, match="missing"):
        assert load_checkpoint(tmp_path)["step"] == 20


def test_no_good_checkpoint_left_is_a_value_error_naming_the_files(teaching, tmp_path):
    _run(teaching, out_dir=tmp_path, steps=5)  # one checkpoint (step 5), no previous one
    _truncate(tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match="checkpoint.pt is truncated.*delete checkpoint.pt") as err:
        _run(teaching, out_dir=tmp_path, steps=5)
    assert len(str(err.value).splitlines()) == 1 and "PytorchStreamReader" not in str(err.value)
    (tmp_path / CHECKPOINT_NAME).unlink()  # what the message says: start again from step 0
    assert load_checkpoint(tmp_path) is None
    assert _run(teaching, out_dir=tmp_path, steps=15).resumed_from == 0  # saves at 10 and 15
    _garbage(tmp_path / CHECKPOINT_NAME)
    _flip_a_byte(tmp_path / PREVIOUS_NAME)
    with pytest.raises(
        ValueError, match="checkpoint.pt is.*; .*checkpoint.prev.pt is corrupt.*delete checkpoint"
    ):
        load_checkpoint(tmp_path)


def test_old_checkpoint_without_checksum_still_loads(teaching, tmp_path):
    full = _run(teaching)
    with pytest.raises(Killed):
        _run(teaching, out_dir=tmp_path, callback=_kill_at(17))
    for p in tmp_path.glob("*.sha256"):
        p.unlink()
    resumed = _run(teaching, out_dir=tmp_path)
    assert resumed.resumed_from == 17
    assert _without_seconds(resumed.history) == _without_seconds(full.history)


def test_a_save_cut_between_its_renames_still_resumes(teaching, tmp_path):
    """Crash after checkpoint.pt was renamed to checkpoint.prev.pt, before its checksum was."""
    full = _run(teaching)
    with pytest.raises(Killed):
        _run(teaching, out_dir=tmp_path, callback=_kill_at(17))
    os.replace(tmp_path / CHECKPOINT_NAME, tmp_path / PREVIOUS_NAME)  # step 17 data, 10's sum
    with pytest.warns(train_mod.CheckpointWarning, match="missing"), pytest.raises(Killed):
        _run(teaching, out_dir=tmp_path, callback=_kill_at(20))  # resumes at 17, saves 20
    # the next save moved the checksum of step 17 along with its file: 17 is a good fallback
    _truncate(tmp_path / CHECKPOINT_NAME)
    with pytest.warns(train_mod.CheckpointWarning, match="truncated"):
        resumed = _run(teaching, out_dir=tmp_path)
    assert resumed.resumed_from == 17
    assert _without_seconds(resumed.history) == _without_seconds(full.history)


# --------------------------------------------------------------------------- SIGTERM
def test_sigterm_saves_the_last_finished_step_and_restores_the_handler(teaching, tmp_path):
    full = _run(teaching)
    before = signal.getsignal(signal.SIGTERM)

    def term_at_17(step, row):
        if step == 17:
            _sigterm_self()

    with pytest.raises(train_mod.TrainingInterrupted) as err:
        _run(teaching, out_dir=tmp_path, callback=term_at_17)
    assert err.value.exit_code == 143 and isinstance(err.value, KeyboardInterrupt)
    assert signal.getsignal(signal.SIGTERM) is before
    assert load_checkpoint(tmp_path)["step"] == 17
    resumed = _run(teaching, out_dir=tmp_path)
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigterm_during_a_save_waits_for_the_save(teaching, tmp_path, monkeypatch):
    save = train_mod._save_checkpoint

    def save_then_term(out_dir, state, keep_previous):
        save(out_dir, state, keep_previous)
        if state["step"] == 10:
            _sigterm_self()  # arrives inside the save: held back until it is complete

    monkeypatch.setattr(train_mod, "_save_checkpoint", save_then_term)
    with pytest.raises(train_mod.TrainingInterrupted):
        _run(teaching, out_dir=tmp_path)
    assert load_checkpoint(tmp_path)["step"] == 10
    assert not (tmp_path / PREVIOUS_NAME).exists()  # not saved twice


_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[3])
from alignpro_lite import teaching_problem
from alignpro_lite.learn.policies import DiscreteEnvironment, one_thread
from alignpro_lite.learn.train import TrainingInterrupted
from test_train import _run

problem = teaching_problem()
env, calls = DiscreteEnvironment(problem), []

def slow_step_13(batch, actions, rng):
    calls.append(1)
    rewards = env(batch, actions, rng)  # the step's randomness is already drawn
    if len(calls) == 13:
        open(sys.argv[2], "w").close()  # tell the test: kill me now
        time.sleep(120)
    return rewards

try:
    with one_thread():
        _run(problem, out_dir=sys.argv[1], reward_fn=slow_step_13)
except TrainingInterrupted as err:
    sys.exit(err.exit_code)
"""


def test_sigterm_to_a_training_process_saves_and_resumes_exactly(teaching, tmp_path):
    """A real ``kill`` (SIGTERM) in the middle of step 13: steps 1-12 are saved, and the
    resumed run reproduces an uninterrupted one bit for bit."""
    full = _run(teaching)
    out, ready = tmp_path / "run", tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(out), str(ready), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached step 13"
            time.sleep(0.05)
        assert load_checkpoint(out)["step"] == 10  # the first periodic checkpoint
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert load_checkpoint(out)["step"] == 12
    resumed = _run(teaching, out_dir=out)
    assert resumed.resumed_from == 12
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert torch.equal(resumed.policy.theta, full.policy.theta)
