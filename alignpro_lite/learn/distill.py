"""Route (b) for a LoRA policy: fit ``rho_θ`` to ``rho*`` by weighted maximum likelihood.

:mod:`alignpro_lite.exact.distill` gives the idea on a table. Here the policy is a LoRA adapter of
the language model and the sample comes from the bank (:mod:`alignpro_lite.learn.bank`): for each
train prompt ``x``, samples ``a_1 … a_N ~ rho_sft(·|x)`` (rewrites ``x'`` for the prompter,
answers ``y`` of ``pi_ref`` for RLHF) with values ``R̂_j`` and self-normalised weights
``w_j ∝ exp(R̂_j / λ)`` (:func:`~alignpro_lite.exact.distill.snis_weights`). The fit maximises

    L(θ) = (1/|X|) sum_x sum_j w_j log rho_θ(a_j | x)

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

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.exact.distill import effective_sample_size, snis_weights
from alignpro_lite.llm.lm import token_logprobs
from alignpro_lite.llm.lora import lora_params

__all__ = ["prompt_weights", "fit_weighted"]


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
    w = np.asarray(weights, dtype=float)
    n = len(w)
    if len(prompt_ids) != n or len(target_ids) != n:
        raise ValueError(f"prompt_ids, target_ids and weights need one entry per row ({n}).")
    if n == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError("weights must be finite, >= 0, with a positive sum.")
    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")
    if adapter not in getattr(model, "peft_config", {}):
        raise ValueError(f"the model has no LoRA adapter {adapter!r}; call add_lora first.")
    if groups is None:
        groups = [tuple(x) for x in prompt_ids]
    if len(groups) != n:
        raise ValueError(f"groups needs one entry per row ({n}), got {len(groups)}.")
    if int(per_prompt) != per_prompt or not 1 <= per_prompt <= batch_size:
        raise ValueError(f"per_prompt must be an integer in 1..batch_size, got {per_prompt!r}.")
    keys = pd.Series([g if np.isscalar(g) else str(g) for g in groups])
    by_group = [np.asarray(ix) for ix in keys.groupby(keys, sort=False).indices.values()]
    if any(w[ix].sum() <= 0 for ix in by_group):
        raise ValueError("every prompt needs a positive total weight (drop prompts with none).")
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
