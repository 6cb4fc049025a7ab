"""One KL-regularised policy-gradient loop, for the prompter (Align-Pro) and the LLM (RLHF).

The objective, per prompt ``x ~ P`` (DESIGN.md §1)::

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

``g`` is an unbiased estimate of the gradient of the objective. The penalty ``s_i`` is treated
as a constant although it depends on ``θ``: the missing term ``-λ E_rho[∇ log rho] = 0`` by the
score-function identity ``E_rho[∇ log rho] = ∇ sum rho = ∇ 1 = 0``. The baseline of sample ``i``
uses only the other samples, so it is independent of ``a_i`` and adds no bias either.

With ``kl_estimator="exact"`` (a policy whose reference is a table, e.g. the tabular prompter)
``s_i = r_i`` and the exact ``λ KL(rho || rho_ref)`` is differentiated by autograd instead.

Batch weights ``w_x``: ``P(x)`` when the batch is the whole data set (``batch_size=None``),
else ``1/B`` for ``B`` prompts drawn i.i.d. from ``P``.

Checkpoints (``out_dir``): the policy's trainable parameters, optimiser, scheduler, every RNG state, step and metrics in
``checkpoint.pt``, written atomically (temp file, then rename) every ``checkpoint_every`` steps,
at the end, and when the run is interrupted (an exception or Ctrl-C) between two steps; calling
:func:`train` again with the same ``out_dir`` resumes and reproduces an uninterrupted run
exactly.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.validate import default_P

__all__ = [
    "Policy",
    "RewardFn",
    "TrainResult",
    "rloo_advantages",
    "policy_gradient_loss",
    "train",
    "load_checkpoint",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
]

CHECKPOINT_NAME = "checkpoint.pt"
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


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)  # atomic on POSIX and Windows: readers see the old or the new file


def _save(out_dir: Path, state: dict, history: list[dict]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(out_dir / CHECKPOINT_NAME, lambda p: torch.save(state, p))
    _atomic_write(out_dir / METRICS_NAME, lambda p: pd.DataFrame(history).to_csv(p, index=False))


def load_checkpoint(out_dir: str | Path) -> dict | None:
    """The checkpoint in ``out_dir`` (a dict), or ``None`` if there is none.

    Only load checkpoints you wrote: they hold pickled RNG states (``weights_only=False``).
    """
    path = Path(out_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


# --------------------------------------------------------------------------- the loop
def _check_args(data, lam, lr, steps, k, batch_size, checkpoint_every, kl_estimator, lr_schedule):
    if len(data) == 0:
        raise ValueError("data is empty: give at least one prompt to train on.")
    if not (isinstance(lam, (int, float)) and math.isfinite(lam) and lam > 0):
        raise ValueError(
            f"lam must be a finite number > 0 (the KL weight λ), got {lam!r}. "
            "For the λ → 0 limit use a small positive value such as 1e-3."
        )
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r} (try 0.05 for a table).")
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
    history: list[dict] = []
    step = 0
    ckpt = load_checkpoint(out_dir) if out_dir is not None else None
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

    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")

    bar = tqdm(total=steps, initial=step, disable=not progress, desc=f"train λ={lam:g}")
    clean = True  # False between the parameter update and the metrics row of the same step
    rng_done = _rng_state(rng, generator)  # RNG states after the last finished step
    try:
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
                _save(out_dir, state(rng_done), history)
            bar.update(1)
            bar.set_postfix(reward=f"{stats['reward_mean']:.3f}", kl=f"{stats['kl']:.3f}")
            if callback is not None:
                callback(step, row)
    except BaseException:
        # Interrupted (exception, Ctrl-C): save the last finished step with the RNG states it
        # left, so a resume repeats the unfinished step exactly. Between the update and the
        # metrics row (``clean`` False) the state is half-made: keep the last checkpoint.
        if out_dir is not None and clean and step > resumed_from:
            _save(out_dir, state(rng_done), history)
        raise
    finally:
        bar.close()
    return TrainResult(policy=policy, history=history, out_dir=out_dir, resumed_from=resumed_from)
