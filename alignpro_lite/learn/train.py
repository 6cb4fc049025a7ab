"""One KL-regularised policy-gradient loop, for the prompter (Align-Pro) and the LLM (RLHF).

The objective, per prompt ``x ~ P`` (docs/design.md §1)::

    max_rho  E_{x~P} [ E_{a~rho(.|x)} r(x, a)  -  λ KL(rho(.|x) || rho_ref(.|x)) ]

where the action ``a`` is a rewrite ``x'`` (Align-Pro: ``rho_ref = rho_sft`` and ``r`` is the
frozen model's answer to ``x'`` scored against the ORIGINAL ``x``) or a response ``y`` (RLHF:
``rho_ref = pi_ref`` and ``r`` is the reward of ``y``). The loop does not care which: it sees a
:class:`Policy` and a ``reward_fn``.

Update (REINFORCE with a leave-one-out baseline, "RLOO"). For each of the ``B`` prompts of a
batch draw ``k >= 2`` actions ``a_1..a_k ~ rho(.|x)``, get sampled rewards ``r_i`` and set::

    s_i = r_i - λ (log rho(a_i|x) - log rho_ref(a_i|x))      # KL as a per-sample penalty
    A_i = s_i - 1/(k-1) sum_{j != i} s_j                       # leave-one-out baseline
    g   = sum_x w_x 1/k sum_i A_i ∇_θ log rho(a_i|x)           # ascent direction
    θ  <- Adam(θ, -g)

``g`` is an unbiased estimate of the gradient of the objective, although the penalty in ``s_i``
depends on ``θ`` and is treated as a constant, and the baseline adds no bias: notebook 03 §1
proves both (exercise 03.1 checks the exact gradient).

With ``kl_estimator="exact"`` (a policy whose reference is a table, e.g. the tabular prompter)
``s_i = r_i`` and the exact ``λ KL(rho || rho_ref)`` is differentiated by autograd instead.

Batch weights ``w_x``: ``P(x)`` when the batch is the whole data set (``batch_size=None``),
else ``1/B`` for ``B`` prompts drawn i.i.d. from ``P``.

Checkpoints (``out_dir``): the policy's trainable parameters, optimiser, scheduler, every RNG
state, step and metrics in ``checkpoint.pt`` (a plain ``torch.save`` file), saved every
``checkpoint_every`` steps, at the end, and when the run is interrupted (an exception, Ctrl-C or
SIGTERM) between two steps; calling :func:`train` again with the same ``out_dir`` resumes and
reproduces an uninterrupted run exactly.

* Checksums: each save writes ``checkpoint.pt.sha256`` beside it, a small JSON record
  ``{"sha256", "bytes", "step"}`` of the complete file; every file is written to a temporary
  name, fsynced and renamed (atomic), the checksum before the data (see :func:`_save_checkpoint`).
* Two generations: the checkpoint replaced by a save is kept as ``checkpoint.prev.pt`` (with its
  ``.sha256``). :func:`load_checkpoint` returns ``checkpoint.pt`` if it matches a recorded
  checksum; if it is truncated, corrupt or unreadable, it warns (:class:`CheckpointWarning`,
  naming the file and what is wrong) and falls back to ``checkpoint.prev.pt``; if neither is
  good it raises ``ValueError`` naming them and how to restart. A checkpoint without a checksum
  file (older versions) is loaded if torch can read it.
* Stop signals: while :func:`train` runs (in the main thread) SIGTERM raises
  :class:`TrainingInterrupted` (a ``KeyboardInterrupt``), so a ``kill`` saves the last finished
  step exactly like Ctrl-C; during a save the signal waits until the files are complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import signal
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.atomic import tmp_path
from alignpro_lite.exact.validate import default_P, positive_scalar

__all__ = [
    "Policy",
    "RewardFn",
    "TrainResult",
    "rloo_advantages",
    "policy_gradient_loss",
    "train",
    "load_checkpoint",
    "checkpoint_files",
    "CheckpointWarning",
    "TrainingInterrupted",
    "CHECKPOINT_NAME",
    "PREVIOUS_NAME",
    "METRICS_NAME",
]

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"  # the checkpoint before the last one, kept as a fallback
CHECKSUM_SUFFIX = ".sha256"  # checkpoint.pt.sha256: {"sha256", "bytes", "step"} of the file
METRICS_NAME = "metrics.csv"
KL_ESTIMATORS = ("sample", "exact")
LR_SCHEDULES = ("constant", "cosine", "linear")


# --------------------------------------------------------------------------- the interfaces
@runtime_checkable
class Policy(Protocol):
    """What :func:`train` needs from a policy (a ``torch.nn.Module`` that also has these).

    ``batch`` is a list of ``B`` prompts in the policy's own representation (prompt indices for
    the tabular prompter, strings for a language model). ``actions`` holds ``B * k`` actions in
    prompt-major order: ``actions[b * k + i]`` is sample ``i`` of prompt ``b``.
    A policy sets its own train/eval mode (e.g. LoRA dropout) inside these methods.
    """

    def sample(self, batch: list, k: int, generator: torch.Generator) -> Any:
        """``k`` actions per prompt, ``a ~ rho(.|x)`` (called under ``torch.no_grad()``)."""

    def logprob(self, batch: list, actions: Any) -> torch.Tensor:
        """``log rho(a|x)``, shape ``(B * k,)``, differentiable in the parameters."""

    def ref_logprob(self, batch: list, actions: Any) -> torch.Tensor:
        """``log rho_ref(a|x)`` of the frozen reference, shape ``(B * k,)``, no grad."""

    def exact_kl(self, batch: list) -> torch.Tensor | None:
        """``KL(rho(.|x) || rho_ref(.|x))``, shape ``(B,)`` with grad, or ``None`` if unknown."""

    # from torch.nn.Module: checkpoints save and restore the trainable parameters
    def parameters(self): ...

    def named_parameters(self): ...

    def load_state_dict(self, state: dict, strict: bool = True): ...


RewardFn = Callable[[list, Any, np.random.Generator], np.ndarray]
"""``reward_fn(batch, actions, rng) -> (B * k,)`` sampled rewards ``r(x, a)``.

All randomness must come from ``rng`` (or torch's global RNG, which checkpoints also save),
so that a resumed run reproduces an uninterrupted one."""


# --------------------------------------------------------------------------- the estimator
def rloo_advantages(s: torch.Tensor) -> torch.Tensor:
    """Leave-one-out advantages ``A_i = s_i - 1/(k-1) sum_{j != i} s_j``.

    Args:
        s: ``(B, k)`` shaped rewards, ``k >= 2`` samples per prompt.

    Returns:
        ``(B, k)``; each row sums to 0.
    """
    k = s.shape[1]
    if k < 2:
        raise ValueError(f"the leave-one-out baseline needs k >= 2 samples per prompt, got {k}.")
    baseline = (s.sum(dim=1, keepdim=True) - s) / (k - 1)
    return s - baseline


def policy_gradient_loss(
    policy: Policy,
    batch: list,
    actions: Any,
    rewards: np.ndarray | torch.Tensor,
    weights: np.ndarray | torch.Tensor,
    lam: float,
    k: int,
    kl_estimator: str = "sample",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Surrogate loss whose gradient is ``-g`` (module docstring) and the step's statistics.

    Args:
        policy: a :class:`Policy`.
        batch: ``B`` prompts; actions: ``B * k`` actions (prompt-major).
        rewards: ``(B * k,)`` sampled rewards; weights: ``(B,)`` prompt weights ``w_x``.
        lam: λ > 0; k: samples per prompt; kl_estimator: ``"sample"`` or ``"exact"``.

    Returns:
        ``(loss, stats)``: ``loss`` is a scalar tensor, ``stats`` has ``reward_mean``,
        ``reward_var`` (weighted variance of the ``B * k`` sampled rewards) and ``kl``
        (exact when the policy knows it, else the sample estimate ``E[log rho - log rho_ref]``).
    """
    B = len(batch)
    logp = policy.logprob(batch, actions)  # (B*k,)
    with torch.no_grad():
        log_ratio = logp.detach() - policy.ref_logprob(batch, actions)  # (B*k,)
    r = torch.as_tensor(np.asarray(rewards), dtype=logp.dtype, device=logp.device)
    w = torch.as_tensor(np.asarray(weights), dtype=logp.dtype, device=logp.device)  # (B,)
    if r.shape != (B * k,):
        raise ValueError(f"reward_fn returned shape {tuple(r.shape)}; expected ({B * k},) = B*k.")

    kl_exact = policy.exact_kl(batch)  # (B,) or None
    if kl_estimator == "exact":
        if kl_exact is None:
            raise ValueError("kl_estimator='exact' needs a policy whose exact_kl() is not None.")
        s = r  # the KL is handled exactly below
    else:
        s = r - lam * log_ratio  # per-sample KL penalty
    A = rloo_advantages(s.view(B, k))  # (B, k)
    loss = -(w[:, None] * A * logp.view(B, k)).sum() / k
    if kl_estimator == "exact":
        loss = loss + lam * (w * kl_exact).sum()

    with torch.no_grad():
        w_sample = (w[:, None] / k).expand(B, k).reshape(-1)  # (B*k,) sums to sum(w)
        w_sample = w_sample / w_sample.sum()
        reward_mean = (w_sample * r).sum()
        reward_var = (w_sample * (r - reward_mean) ** 2).sum()
        if kl_exact is not None:
            kl = (w * kl_exact.detach()).sum() / w.sum()
        else:
            kl = (w_sample * log_ratio).sum()
    stats = {
        "reward_mean": float(reward_mean),
        "reward_var": float(reward_var),
        "kl": float(kl),
    }
    return loss, stats


# --------------------------------------------------------------------------- results
@dataclass
class TrainResult:
    """What :func:`train` returns: the trained ``policy`` and one metrics row per step."""

    policy: Policy
    history: list[dict] = field(default_factory=list)
    out_dir: Path | None = None
    resumed_from: int = 0  # step of the checkpoint the run resumed from (0 = fresh)

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per step: ``step, reward_mean, reward_var, kl, objective, grad_norm, lr,
        seconds`` plus whatever ``metrics_fn`` added."""
        return pd.DataFrame(self.history)


# --------------------------------------------------------------------------- checkpoints
def _rng_state(rng: np.random.Generator, generator: torch.Generator) -> dict:
    state = {
        "python": random.getstate(),
        "numpy_global": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": rng.bit_generator.state,
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, rng: np.random.Generator, generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy_global"])
    torch.set_rng_state(state["torch"])
    rng.bit_generator.state = state["numpy"]
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _trainable_state(policy: Policy) -> dict[str, torch.Tensor]:
    """The trainable parameters only: a LoRA checkpoint holds the adapters, not the frozen base."""
    return {
        name: p.detach().cpu().clone() for name, p in policy.named_parameters() if p.requires_grad
    }


def _load_trainable(policy: Policy, state: dict[str, torch.Tensor]) -> None:
    trainable = {name for name, p in policy.named_parameters() if p.requires_grad}
    if set(state) != trainable:
        raise ValueError(
            "the checkpoint's parameters do not match the policy's trainable parameters "
            f"(only in checkpoint: {sorted(set(state) - trainable)[:5]}, only in policy: "
            f"{sorted(trainable - set(state))[:5]}). Resume with the same kind of policy."
        )
    policy.load_state_dict(state, strict=False)


class CheckpointWarning(UserWarning):
    """A checkpoint file is broken and an older good one is used instead (the file is named)."""


class TrainingInterrupted(KeyboardInterrupt):
    """:func:`train` received a stop signal (SIGTERM); the last finished step has been saved.

    A subclass of ``KeyboardInterrupt``, so it takes Ctrl-C's path: ``except Exception`` does
    not swallow it, and code that handles Ctrl-C handles it too. ``exit_code`` is ``128 + signum``
    (143 for SIGTERM), the shell's convention for a process ended by a signal.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = int(signum)
        super().__init__(f"training stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _StopSignals:
    """SIGTERM raises :class:`TrainingInterrupted` while installed (main thread only).

    Inside ``with stop.hold():`` the signal is held back and raised at the end of the block: a
    save is never left half-rotated, and a step whose parameters were updated gets its metrics
    row, so the step can be saved. After the first one fired, further signals are held back too
    (the interrupted run is saving its last step).
    """

    SIGNALS = (signal.SIGTERM,)

    def __init__(self) -> None:
        self.previous: dict[int, Any] = {}
        self.holding = False
        self.fired = False
        self.pending: int | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in self.SIGNALS:
            try:
                self.previous[signum] = signal.signal(signum, self._handle)
            except (ValueError, OSError):  # e.g. an embedded interpreter
                pass

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self.previous.clear()

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if self.holding or self.fired:
            self.pending = signum
            return
        self.fired = True
        raise TrainingInterrupted(signum)

    @contextmanager
    def hold(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None and not self.fired:
            self.fired = True
            raise TrainingInterrupted(self.pending)


# --------------------------------------------------------------------------- checkpoint files
# the layout and the guarantees: the module docstring, "Checkpoints"
_CHECKPOINT_KEYS = ("config", "step", "policy", "optimizer", "scheduler", "rng", "history")


def checkpoint_files(out_dir: str | Path) -> list[Path]:
    """Every file a run's checkpoints may occupy in ``out_dir`` (current, previous, checksums,
    temporary files of an interrupted save), whether it exists or not."""
    out_dir = Path(out_dir)
    files = []
    for name in (CHECKPOINT_NAME, PREVIOUS_NAME):
        for suffix in ("", CHECKSUM_SUFFIX):
            files += [out_dir / (name + suffix), out_dir / (name + suffix + ".tmp")]
    return files


def _fsynced_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = tmp_path(path)
    write(tmp)
    os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old or the new file


def _save_checkpoint(out_dir: Path, state: dict, keep_previous: bool) -> None:
    """Write ``state`` as ``checkpoint.pt`` with its checksum, the old one becoming the previous.

    Order (each step an atomic rename, so a crash anywhere leaves a loadable checkpoint):
    1. the new data into ``checkpoint.pt.tmp`` (fsynced);
    2. if ``keep_previous``: ``checkpoint.pt`` -> ``checkpoint.prev.pt`` and its checksum file
       -> ``checkpoint.prev.pt.sha256`` (a stale one removed if it had none);
    3. the new checksum file ``checkpoint.pt.sha256``; 4. ``checkpoint.pt.tmp`` -> ``checkpoint.pt``.
    Between 2 and 4 ``checkpoint.pt`` is missing and the previous one is loaded; a data file
    that matches ANY of the two recorded checksums is complete (one written by a finished save).
    ``keep_previous`` is False when the current file is broken: the good previous one stays.
    A checksum file left behind by a save cut between its renames is first moved to its file.
    """
    cur, prev = out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_NAME
    cur_sum, prev_sum = _sum_path(cur), _sum_path(prev)
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    record = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "step": state["step"]}
    tmp = tmp_path(cur)
    _fsynced_write(tmp, data)
    if not cur.is_file() and cur_sum.is_file() and prev.is_file():
        # an earlier save was cut between its renames (step 2): move the checksum to its file
        rec, _ = _read_record(cur_sum)
        if rec is not None and hashlib.sha256(prev.read_bytes()).hexdigest() == rec["sha256"]:
            os.replace(cur_sum, prev_sum)
    if keep_previous and cur.is_file():
        os.replace(cur, prev)
        if cur_sum.is_file():
            os.replace(cur_sum, prev_sum)
        else:  # an old checkpoint without a checksum: so is the previous one now
            prev_sum.unlink(missing_ok=True)
    _atomic_write(cur_sum, lambda p: _fsynced_write(p, json.dumps(record).encode()))
    os.replace(tmp, cur)


def _save(out_dir: Path, state: dict, history: list[dict], keep_previous: bool = True) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_checkpoint(out_dir, state, keep_previous)
    _atomic_write(out_dir / METRICS_NAME, lambda p: pd.DataFrame(history).to_csv(p, index=False))


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def _read_record(path: Path) -> tuple[dict | None, str | None]:
    """The checksum record in ``path`` (``None`` if the file is missing), or an error text."""
    if not path.is_file():
        return None, None
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        if not (
            isinstance(rec, dict)
            and isinstance(rec.get("sha256"), str)
            and isinstance(rec.get("bytes"), int)
        ):
            raise ValueError("no 'sha256' and 'bytes'")
    except (OSError, ValueError) as err:
        return None, f"its checksum file {path.name} is unreadable ({err})"
    return rec, None


def _first_line(err: BaseException) -> str:
    """``Type: first sentence`` of an error (torch's zip errors go on for five sentences)."""
    text = (str(err).strip().splitlines() or [""])[0].split(". ")[0].rstrip(".")
    return f"{type(err).__name__}: {text[:160]}".rstrip(": ")


def _try_checkpoint(path: Path, known: dict[str, dict]) -> tuple[dict | None, str | None]:
    """``(checkpoint, None)`` if ``path`` is a complete, readable checkpoint, else
    ``(None, what is wrong)`` (``(None, None)`` if there is no such file)."""
    if not path.is_file():
        return None, None
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    own, own_error = _read_record(_sum_path(path))
    verified = hashlib.sha256(data).hexdigest() in known
    if not verified:
        if own_error is not None:
            return None, own_error
        if own is not None:
            if len(data) < own["bytes"]:
                return None, f"is truncated ({len(data)} of {own['bytes']} bytes)"
            if len(data) != own["bytes"]:
                return None, f"has {len(data)} bytes, its checksum file records {own['bytes']}"
            return None, f"is corrupt (its SHA-256 does not match {_sum_path(path).name})"
        # no checksum file: an old checkpoint, loaded if torch can read it
    try:
        ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    except Exception as err:  # a torch, pickle or zip error: one line says what
        how = "passes its checksum but " if verified else ""
        return None, f"{how}cannot be read by torch ({_first_line(err)})"
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        return None, f"is not a checkpoint of alignpro_lite.learn.train (no {', '.join(missing)})"
    return ckpt, None


def _find_checkpoint(out_dir: Path) -> tuple[dict | None, Path | None, list[str]]:
    """``(checkpoint, its file, problems)``: the newest good one of ``checkpoint.pt`` and
    ``checkpoint.prev.pt``; ``problems`` names each file that is missing or broken on the way."""
    cur, prev = out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_NAME
    known = {}
    for p in (cur, prev):
        rec, _ = _read_record(_sum_path(p))
        if rec is not None:
            known[rec["sha256"]] = rec
    problems = []
    for path in (cur, prev):
        ckpt, problem = _try_checkpoint(path, known)
        if ckpt is not None:
            return ckpt, path, problems
        if problem is not None:
            problems.append(f"{path} {problem}")
        elif path == cur and prev.is_file():
            problems.append(f"{path} is missing (a save was interrupted)")
    return None, None, problems


def load_checkpoint(out_dir: str | Path, *, warn: bool = True) -> dict | None:
    """The newest good checkpoint in ``out_dir`` (a dict), or ``None`` if there is none.

    ``checkpoint.pt`` is verified against its checksum ``checkpoint.pt.sha256``; if it is
    truncated, corrupt or unreadable, the previous good one ``checkpoint.prev.pt`` is returned
    and a :class:`CheckpointWarning` names the broken file (``warn=False``: silently). An old
    checkpoint without a checksum file is loaded if torch can read it. ``ValueError`` naming the
    broken file(s) when there are checkpoint files but none is good.

    Only load checkpoints you wrote: they hold pickled RNG states (``weights_only=False``).
    """
    ckpt, _, _ = _load_checkpoint(Path(out_dir), warn=warn)
    return ckpt


def _load_checkpoint(out_dir: Path, warn: bool) -> tuple[dict | None, Path | None, list[str]]:
    ckpt, path, problems = _find_checkpoint(out_dir)
    if ckpt is None and problems:
        names = " and ".join(
            p.name for p in (out_dir / CHECKPOINT_NAME, out_dir / PREVIOUS_NAME) if p.exists()
        )
        raise ValueError(
            f"cannot resume from {out_dir}: {'; '.join(problems)}. No good checkpoint is left: "
            f"delete {names} there to restart the run from step 0, or train into a fresh "
            "out_dir (--out)."
        )
    if ckpt is not None and problems and warn:
        warnings.warn(
            f"{'; '.join(problems)}: using the previous good checkpoint {path} "
            f"(step {ckpt['step']}) instead.",
            CheckpointWarning,
            stacklevel=3,
        )
    return ckpt, path, problems


# --------------------------------------------------------------------------- the loop
def _check_args(data, lam, lr, steps, k, batch_size, checkpoint_every, kl_estimator, lr_schedule):
    if len(data) == 0:
        raise ValueError("data is empty: give at least one prompt to train on.")
    positive_scalar(lam, "lam")  # the KL weight λ (β when the policy is the LLM itself)
    positive_scalar(lr, "lr")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
    if int(k) != k or k < 2:
        raise ValueError(
            f"k must be an integer >= 2, got {k!r}: the leave-one-out baseline of each "
            "sample is the mean reward of the OTHER samples of the same prompt."
        )
    if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
        raise ValueError(f"batch_size must be None (whole data set) or >= 1, got {batch_size!r}.")
    if int(checkpoint_every) != checkpoint_every or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}.")
    if kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {kl_estimator!r}.")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}.")


def _lr_factor(schedule: str, steps: int) -> Callable[[int], float]:
    """Multiplier of ``lr`` at step ``t``: constant, cosine or linear decay to 0 at ``steps``."""
    if schedule == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, steps) / steps))
    if schedule == "linear":
        return lambda t: max(0.0, 1.0 - t / steps)
    return lambda t: 1.0


def train(
    policy: Policy,
    reward_fn: RewardFn,
    data: Sequence,
    *,
    lam: float,
    steps: int = 500,
    lr: float = 0.05,
    k: int = 8,
    batch_size: int | None = None,
    P: np.ndarray | None = None,
    kl_estimator: str = "sample",
    lr_schedule: str = "constant",
    max_grad_norm: float | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    checkpoint_every: int = 50,
    metrics_fn: Callable[[Policy], dict[str, float]] | None = None,
    callback: Callable[[int, dict], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Maximise ``E_{x~P}[E_{a~rho} r - λ KL(rho || rho_ref)]`` by RLOO policy gradient with Adam.

    Args:
        policy: a :class:`Policy` (``torch.nn.Module``); its trainable parameters are optimised
            in place, on whatever device it lives on.
        reward_fn: ``reward_fn(batch, actions, rng) -> (B * k,)`` sampled rewards.
        data: the prompts, in the policy's representation (e.g. ``range(n_x)`` or strings).
        lam: KL weight λ > 0.
        steps: total number of updates (a resumed run continues up to this number).
        lr: Adam learning rate; lr_schedule: ``"constant"``, ``"cosine"`` or ``"linear"``
            (the decaying ones reach 0 at ``steps``, which lets a noisy estimate settle).
        k: samples per prompt, ``>= 2`` (leave-one-out baseline).
        batch_size: prompts per step; ``None`` = the whole data set weighted by ``P``, else
            ``batch_size`` prompts drawn i.i.d. from ``P`` (weights ``1/B``).
        P: ``(len(data),)`` prompt distribution, uniform if omitted.
        kl_estimator: ``"sample"`` (per-sample penalty) or ``"exact"`` (needs ``exact_kl``).
        max_grad_norm: clip the gradient's global norm (``None`` = no clipping).
        seed: seeds the loop's RNGs (and Python's, numpy's and torch's global RNGs) on a fresh run.
        out_dir: run folder for ``checkpoint.pt`` and ``metrics.csv``; resumes from the
            checkpoint there when one exists. ``None``: no files.
        checkpoint_every: save every this many steps (also at the end and on interruption).
        metrics_fn: ``metrics_fn(policy) -> dict`` of extra per-step metrics, evaluated after
            the update (e.g. exact objective and ``tv_to_optimum`` for a tabular prompter).
        callback: ``callback(step, row)`` after each step's metrics row is recorded.
        progress: show a ``tqdm`` progress bar.

    Returns:
        :class:`TrainResult` with the policy and per-step metrics (``.metrics`` DataFrame).
        ``objective = reward_mean - λ kl`` is the batch estimate of the objective.
    """
    _check_args(data, lam, lr, steps, k, batch_size, checkpoint_every, kl_estimator, lr_schedule)
    n = len(data)
    P = default_P(P, n)
    P = P / P.sum()  # exactly normalised for rng.choice
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the policy has no trainable parameters (requires_grad=True).")
    device = params[0].device
    if kl_estimator == "exact":
        with torch.no_grad():
            if policy.exact_kl([data[0]]) is None:
                raise ValueError(
                    "kl_estimator='exact' needs a policy with a tabular reference "
                    "(its exact_kl() returned None); use kl_estimator='sample'."
                )

    optimizer = torch.optim.Adam(params, lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(lr_schedule, steps))
    rng = np.random.default_rng(seed)  # batches and the environment's noise
    generator = torch.Generator(device=device).manual_seed(seed)  # the policy's samples
    config = {
        "lam": float(lam),
        "lr": float(lr),
        "k": int(k),
        "batch_size": batch_size,
        "n_data": n,
        "kl_estimator": kl_estimator,
        "lr_schedule": lr_schedule,
        "max_grad_norm": max_grad_norm,
        "seed": int(seed),
    }
    if lr_schedule != "constant":
        config["steps"] = int(steps)  # the schedule depends on the horizon

    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir {str(out_dir)!r} is a file, not a folder; give a run folder.")
    history: list[dict] = []
    step = 0
    ckpt, source = _load_checkpoint(out_dir, warn=True)[:2] if out_dir is not None else (None, None)
    # rotate checkpoint.pt into checkpoint.prev.pt on the next save only if it is a good one
    keep_previous = out_dir is None or source == out_dir / CHECKPOINT_NAME
    if ckpt is not None:
        if ckpt["config"] != config:
            diff = {
                key: (ckpt["config"].get(key), config.get(key))
                for key in set(ckpt["config"]) | set(config)
                if ckpt["config"].get(key) != config.get(key)
            }
            raise ValueError(
                f"{out_dir} holds a checkpoint of a different run (saved, now): {diff}. "
                "Use the same arguments to resume, or a fresh out_dir."
            )
        _load_trainable(policy, ckpt["policy"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"], rng, generator)
        step, history = ckpt["step"], list(ckpt["history"])
    else:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
    resumed_from = step

    def state(rng_state: dict) -> dict:
        return {
            "config": config,
            "step": step,
            "policy": _trainable_state(policy),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state,
            "history": history,
        }

    if out_dir is not None:  # the loop's settings live in the checkpoint; one run file (run.json)
        out_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        nonlocal keep_previous, saved_step
        with stop.hold():
            _save(out_dir, state(rng_done), history, keep_previous)
            keep_previous, saved_step = True, step

    bar = tqdm(total=steps, initial=step, disable=not progress, desc=f"train λ={lam:g}")
    clean = True  # False between the parameter update and the metrics row of the same step
    rng_done = _rng_state(rng, generator)  # RNG states after the last finished step
    saved_step = step  # the step of the checkpoint on disk
    stop = _StopSignals()  # SIGTERM -> TrainingInterrupted, i.e. the Ctrl-C path below
    try:
        stop.install()
        while step < steps:
            t0 = time.perf_counter()
            if batch_size is None:
                idx, weights = np.arange(n), P
            else:
                idx = rng.choice(n, size=batch_size, p=P)
                weights = np.full(batch_size, 1.0 / batch_size)
            batch = [data[i] for i in idx]

            with torch.no_grad():
                actions = policy.sample(batch, k, generator)
            rewards = np.asarray(reward_fn(batch, actions, rng), dtype=float)
            loss, stats = policy_gradient_loss(
                policy, batch, actions, rewards, weights, lam, k, kl_estimator
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip = max_grad_norm if max_grad_norm is not None else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
            lr_now = optimizer.param_groups[0]["lr"]

            with stop.hold():  # a SIGTERM here lets the step finish, then saves it
                clean = False
                optimizer.step()
                scheduler.step()
                step += 1
                row = {"step": step, **stats, "objective": stats["reward_mean"] - lam * stats["kl"]}
                row.update(grad_norm=grad_norm, lr=lr_now)
                if metrics_fn is not None:
                    with torch.no_grad():
                        row.update(metrics_fn(policy))
                row["seconds"] = time.perf_counter() - t0
                history.append(row)
                clean = True
                rng_done = _rng_state(rng, generator)

            if out_dir is not None and (step % checkpoint_every == 0 or step == steps):
                save()
            bar.update(1)
            bar.set_postfix(reward=f"{stats['reward_mean']:.3f}", kl=f"{stats['kl']:.3f}")
            if callback is not None:
                callback(step, row)
    except BaseException:
        # Interrupted (exception, Ctrl-C, SIGTERM): save the last finished step with the RNG
        # states it left, so a resume repeats the unfinished step exactly. Between the update
        # and the metrics row (``clean`` False) the state is half-made: keep the last checkpoint.
        stop.fired = True  # a second signal now waits for this save
        if out_dir is not None and clean and step > resumed_from and step != saved_step:
            save()
        raise
    finally:
        stop.restore()
        bar.close()
    return TrainResult(policy=policy, history=history, out_dir=out_dir, resumed_from=resumed_from)
