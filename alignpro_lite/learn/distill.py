r"""Route (b) for a LoRA policy: fit ``rho_θ`` to ``rho*`` from the bank.

Two fits. :func:`fit_nca` (the default since round 2) is noise-contrastive alignment
(:mod:`alignpro_lite.exact.nca`): its fixed point is ``rho*`` and at uniform weights (``λ = ∞``) its
gradient at the start is exactly 0, so a fit does nothing when there is nothing to do.
:func:`fit_weighted` is round 1's weighted maximum likelihood, kept to reproduce the shipped
round-1 runs: its batch gradient is noise whose *expected* value is 0 at uniform weights, and with
Adam and clipping it moved the prompter the same distance at every λ.

Weighted MLE:

:mod:`alignpro_lite.exact.distill` gives the idea on a table. Here the policy is a LoRA adapter of
the language model and the sample comes from the bank (:mod:`alignpro_lite.learn.bank`): for each
train prompt ``x``, samples ``a_1 … a_N ~ rho_sft(·|x)`` (rewrites ``x'`` for the prompter,
answers ``y`` of ``pi_ref`` for RLHF) with values ``R̂_j`` and self-normalised weights
``w_j ∝ exp(R̂_j / λ)`` (:func:`~alignpro_lite.exact.distill.snis_weights`). The fit maximises

.. math:: L(\theta) = \frac{1}{|X|} \sum_x \sum_j w_j \log \rho_\theta(a_j \mid x)

i.e. minimises the Monte-Carlo estimate of ``E_x KL(rho*(·|x) ‖ rho_θ(·|x))``: the projection of
``rho*`` onto the LoRA family. Each step draws ``batch_size / per_prompt`` prompts uniformly
and, for each, ``per_prompt`` of its rows with probability ``w_j`` (the weights as a sampling
distribution: an unbiased estimate of ``∇L`` whose cost does not grow with ``N``), and takes one
Adam step on ``-mean log rho_θ(a|x)`` (sequence log-probability at the policy's temperature
``T``, EOS included). Rows of one prompt share its forward pass (the prompt, often longer than
the sampled part, runs once: :func:`~alignpro_lite.llm.lm.token_logprobs`).

The same function fits RLHF's ``pi* ∝ pi_ref · exp(r/β)`` from answers of ``pi_ref``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.exact.distill import effective_sample_size, snis_weights
from alignpro_lite.exact.nca import nca_optimum
from alignpro_lite.llm.lm import token_logprobs
from alignpro_lite.llm.lora import lora_params, use_adapter

__all__ = ["prompt_weights", "fit_weighted", "fit_nca", "NCAFit", "group_rows", "nca_loss_torch"]


def prompt_weights(
    groups: Sequence, R_hat: Sequence[float], lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row SNIS weights ``w ∝ exp(R̂/λ)`` within each prompt (``groups``: a prompt id per row)
    and each prompt's effective sample size.

    Returns ``(w, ess)``: ``w`` ``(n_rows,)``, summing to 1 within each prompt; ``ess``
    ``(n_prompts,)`` in order of first appearance. ``lam = inf`` gives equal weights.
    """
    g = pd.Series(np.asarray(groups))
    R = np.asarray(R_hat, dtype=float)
    if len(g) != len(R):
        raise ValueError(f"groups has {len(g)} rows but R_hat {len(R)}.")
    w = np.zeros(len(R))
    ess = []
    for _, idx in g.groupby(g, sort=False).indices.items():
        wi = np.full(len(idx), 1.0 / len(idx)) if np.isinf(lam) else snis_weights(R[idx], lam)
        w[idx] = wi
        ess.append(float(effective_sample_size(wi)))
    return w, np.asarray(ess)


def _fit_rows(model, adapter, prompt_ids, target_ids, weights, groups, counts: dict):
    """The checks both fits share; returns ``(w, by_group)``: a float copy of ``weights`` and the
    row indices of each prompt (:func:`group_rows`). ``counts``: integer settings that must be
    >= 1, by name."""
    w = np.array(weights, dtype=float)
    n = len(w)
    if len(prompt_ids) != n or len(target_ids) != n:
        raise ValueError(f"prompt_ids, target_ids and weights need one entry per row ({n}).")
    if n == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0, with a positive sum.")
    for name, v in counts.items():
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")
    if adapter not in getattr(model, "peft_config", {}):
        raise ValueError(f"the model has no LoRA adapter {adapter!r}; call add_lora first.")
    if groups is None:
        groups = [tuple(x) for x in prompt_ids]
    if len(groups) != n:
        raise ValueError(f"groups needs one entry per row ({n}), got {len(groups)}.")
    by_group = group_rows(groups)
    if any(w[ix].sum() <= 0 for ix in by_group):
        raise ValueError("every prompt needs a positive total weight (drop prompts with none).")
    return w, by_group


def fit_weighted(
    model,
    adapter: str,
    prompt_ids: Sequence[Sequence[int]],
    target_ids: Sequence[Sequence[int]],
    weights: Sequence[float],
    *,
    groups: Sequence | None = None,
    per_prompt: int = 4,
    temperature: float = 0.7,
    steps: int = 40,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    pad_id: int = 0,
    monitor: Callable[[int], dict] | None = None,
    monitor_every: int = 10,
    progress: bool = True,
    desc: str = "fit",
) -> pd.DataFrame:
    """Weighted MLE of LoRA adapter ``adapter``: ``max sum_r weights_r log rho_θ(target_r | prompt_r)``.

    ``prompt_ids[r]`` are the token ids the policy conditions on (chat-formatted, as sampled),
    ``target_ids[r]`` the sampled continuation, ``weights`` ``>= 0`` (each prompt's weights are
    normalised to sum to 1 within it), ``groups`` the prompt of each row (default: the row's
    ``prompt_ids``). Each step draws ``batch_size // per_prompt`` prompts uniformly (with
    replacement) and ``per_prompt`` rows of each ∝ weight, from a ``seed``-ed generator, so a fit
    is a function of its inputs. The adapter must exist and holds the start (usually a copy of the
    reference); it is trained in place and left active.

    Returns the curve: one row per step (``step``, ``nll`` = mean ``-log rho_θ`` of the batch) and,
    every ``monitor_every`` steps and at 0 and the end, the columns ``monitor(step)`` returns.
    """
    w, by_group = _fit_rows(model, adapter, prompt_ids, target_ids, weights, groups,
                            {"steps": steps, "batch_size": batch_size})  # fmt: skip
    if int(per_prompt) != per_prompt or not 1 <= per_prompt <= batch_size:
        raise ValueError(f"per_prompt must be an integer in 1..batch_size, got {per_prompt!r}.")
    probs = [w[ix] / w[ix].sum() for ix in by_group]
    n_groups = max(1, int(batch_size) // int(per_prompt))
    model.set_adapter(adapter)
    params = list(lora_params(model, adapter).values())
    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=lr)
    rng = np.random.default_rng(seed)
    rows: list[dict] = []

    def watch(step: int, row: dict) -> None:
        if monitor is not None and (step % monitor_every == 0 or step == steps):
            with torch.no_grad():
                row.update(monitor(step))
            model.set_adapter(adapter)

    first: dict = {"step": 0, "nll": float("nan")}
    watch(0, first)
    rows.append(first)
    for step in tqdm(range(1, int(steps) + 1), desc=desc, disable=not progress):
        picked = rng.integers(0, len(by_group), size=n_groups)
        idx = np.concatenate([rng.choice(by_group[g], size=int(per_prompt), p=probs[g])
                              for g in picked])  # fmt: skip
        lp = token_logprobs(model, [prompt_ids[i] for i in idx], [target_ids[i] for i in idx],
                            temperature=temperature, pad_id=pad_id)  # fmt: skip
        loss = -lp.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        row = {"step": step, "nll": float(loss.detach())}
        watch(step, row)
        rows.append(row)
    for q in params:
        q.requires_grad_(False)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- NCA
def group_rows(groups: Sequence) -> list[np.ndarray]:
    """The row indices of each prompt, in order of first appearance."""
    keys = pd.Series([g if np.isscalar(g) else str(g) for g in groups])
    return [np.asarray(ix) for ix in keys.groupby(keys, sort=False).indices.values()]


def nca_loss_torch(f: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """:func:`alignpro_lite.exact.nca.nca_loss` of one prompt's ``N`` rows, differentiable:
    ``-sum_j [w_j log σ(f_j) + (1/N) log σ(-f_j)]``. At ``f = 0`` and ``w = 1/N`` its gradient is
    exactly 0 in floating point (``-w/2 + q/2`` with ``w == q``)."""
    q = torch.full_like(w, 1.0 / w.shape[-1])
    return -(w * torch.nn.functional.logsigmoid(f) + q * torch.nn.functional.logsigmoid(-f)).sum()


@dataclass
class NCAFit:
    """What :func:`fit_nca` returns: the learning ``curve`` (one row per step), the start's
    reference log-probabilities ``lp0`` ``(n_rows,)`` (NaN for rows of prompts never visited),
    the final log-ratios ``f = log rho_θ - lp0`` ``(n_rows,)`` (NaN likewise), the per-row optimum
    ``f_star = log(N w)`` (``-inf`` where ``w = 0``), and the seconds the training took (reference
    log-probs and steps) apart from the monitor's."""

    curve: pd.DataFrame
    lp0: np.ndarray
    f: np.ndarray
    f_star: np.ndarray
    seconds_train: float = float("nan")
    seconds_monitor: float = float("nan")

    def loss(self, w: np.ndarray, groups: list[np.ndarray], final: bool = True) -> float:
        """Mean NCA loss over the visited prompts at the end (``final``) or at the start (``f = 0``)."""
        from alignpro_lite.exact.nca import nca_loss

        seen = [ix for ix in groups if not np.isnan(self.f[ix]).any()]
        f = self.f if final else np.zeros_like(self.f)
        return float(np.mean([nca_loss(f[ix], w[ix] / w[ix].sum()) for ix in seen]))


def _group_logprobs(model, P, C, ix, temperature, pad_id) -> torch.Tensor:
    return token_logprobs(model, [P[i] for i in ix], [C[i] for i in ix], temperature=temperature,
                          pad_id=pad_id)  # fmt: skip


def fit_nca(
    model,
    adapter: str,
    prompt_ids: Sequence[Sequence[int]],
    target_ids: Sequence[Sequence[int]],
    weights: Sequence[float],
    *,
    groups: Sequence | None = None,
    ref_adapter: str | None = None,
    temperature: float = 0.7,
    steps: int = 24,
    prompts_per_step: int = 1,
    lr: float = 2e-4,
    momentum: float = 0.9,
    seed: int = 0,
    pad_id: int = 0,
    monitor: Callable[[int], dict] | None = None,
    monitor_every: int = 10,
    progress: bool = True,
    desc: str = "fit",
) -> NCAFit:
    """Noise-contrastive alignment of LoRA adapter ``adapter`` to the weighted bank.

    The adapter holds the start ``θ0``, a copy of the reference ``ref_adapter`` (``rho_sft``'s
    adapter for the prompter; ``None``, adapters disabled, for RLHF's ``pi_ref``, with the fit
    adapter a fresh LoRA whose zero ``B`` adds exactly 0). The first time a prompt is visited its
    rows' log-probabilities under the reference, ``lp0``, are computed in the same call layout as
    the step's (each prompt's rows in one call), so ``f = log rho_θ - lp0`` is exactly 0 at the
    start, bit for bit (the stored bank values differ by ~1e-5 nats). Each of ``steps`` steps
    takes ``prompts_per_step`` prompts (a fresh ``seed``-ed shuffle every pass over the prompts)
    with ALL their rows and descends the mean over them of

        L_x(θ) = - sum_j [ w_j log σ(f_j) + (1/N) log σ(-f_j) ]      (exact.nca.nca_loss)

    by SGD with ``momentum`` and a λ-independent learning rate ``lr`` (no Adam, no clipping: the
    step's size is the weights' distance from uniform). ``weights`` are normalised within each
    prompt; the per-row optimum is ``f_j = log(N w_j)``. At uniform weights the gradient at ``θ0``
    is exactly 0 and the adapter does not move.

    Returns :class:`NCAFit` (curve: ``step``, ``loss`` = the batch's mean NCA loss before the
    step, ``grad_norm``, and the ``monitor(step)`` columns every ``monitor_every`` steps and at 0
    and the end). The adapter is trained in place and left active.
    """
    w, by_group = _fit_rows(model, adapter, prompt_ids, target_ids, weights, groups,
                            {"steps": steps, "prompts_per_step": prompts_per_step})  # fmt: skip
    if not (lr > 0 and np.isfinite(lr)) or not 0 <= momentum < 1:
        raise ValueError(
            f"need lr > 0 and 0 <= momentum < 1, got lr={lr!r}, momentum={momentum!r}."
        )
    n = len(w)
    for ix in by_group:  # normalised within each prompt (w is a copy)
        w[ix] = w[ix] / w[ix].sum()
        if np.allclose(w[ix], 1.0 / len(ix), rtol=0, atol=1e-15):
            w[ix] = 1.0 / len(ix)  # uniform bit for bit: the start's gradient is then exactly 0
    if ref_adapter is not None and ref_adapter not in model.peft_config:
        raise ValueError(f"the model has no reference adapter {ref_adapter!r}.")
    model.set_adapter(adapter)
    params = list(lora_params(model, adapter).values())
    lp0 = np.full(n, np.nan)

    def reference(ix: np.ndarray) -> torch.Tensor:
        if np.isnan(lp0[ix]).any():
            with torch.no_grad(), use_adapter(model, ref_adapter):
                lp0[ix] = _group_logprobs(model, prompt_ids, target_ids, ix, temperature, pad_id).double().cpu().numpy()  # fmt: skip
            model.set_adapter(adapter)
            for q in params:
                q.requires_grad_(True)
        return torch.from_numpy(lp0[ix])

    for q in params:
        q.requires_grad_(True)
    opt = torch.optim.SGD(params, lr=float(lr), momentum=float(momentum))
    rng = np.random.default_rng(seed)
    rows: list[dict] = []

    t_monitor = 0.0

    def watch(step: int, row: dict) -> None:
        nonlocal t_monitor
        if monitor is not None and (step % monitor_every == 0 or step == steps):
            t = time.perf_counter()
            with torch.no_grad():
                row.update(monitor(step))
            model.set_adapter(adapter)
            for q in params:
                q.requires_grad_(True)
            t_monitor += time.perf_counter() - t

    t_start = time.perf_counter()
    first: dict = {"step": 0, "loss": float("nan"), "grad_norm": float("nan")}
    watch(0, first)
    rows.append(first)
    order: list[int] = []
    k = int(prompts_per_step)
    for step in tqdm(range(1, int(steps) + 1), desc=desc, disable=not progress):
        if len(order) < k:
            order += list(rng.permutation(len(by_group)))
        picked, order = order[:k], order[k:]
        opt.zero_grad(set_to_none=False)
        total = 0.0
        for g in picked:
            ix = by_group[g]
            ref = reference(ix)
            lp = _group_logprobs(model, prompt_ids, target_ids, ix, temperature, pad_id)
            f = lp.double() - ref
            loss = nca_loss_torch(f, torch.from_numpy(w[ix])) / k
            loss.backward()
            total += float(loss.detach())
        gn = float(torch.sqrt(sum((q.grad.double() ** 2).sum() for q in params)))
        opt.step()
        row = {"step": step, "loss": total, "grad_norm": gn}
        watch(step, row)
        rows.append(row)
    seconds_train = time.perf_counter() - t_start - t_monitor
    for q in params:
        q.requires_grad_(False)
    f = np.full(n, np.nan)  # the final log-ratio of every row the fit visited (lp0 known)
    with torch.no_grad():
        for ix in by_group:
            if not np.isnan(lp0[ix]).any():
                f[ix] = _group_logprobs(model, prompt_ids, target_ids, ix, temperature, pad_id).double().cpu().numpy() - lp0[ix]  # fmt: skip
    f_star = np.zeros(n)
    for ix in by_group:
        f_star[ix] = nca_optimum(w[ix])
    return NCAFit(curve=pd.DataFrame(rows), lp0=lp0, f=f, f_star=f_star,
                  seconds_train=seconds_train, seconds_monitor=t_monitor)  # fmt: skip
