r"""A KL you can trust: the exact per-token KL along sampled sequences, summed.

For a policy ``p`` and a reference ``q`` over sequences (both autoregressive at temperature
``T``), the chain rule gives

.. math::

    \mathrm{KL}(p \,\|\, q) = \mathbb{E}_{a \sim p} \sum_t
    \mathrm{KL}\big(p(\cdot \mid x, a_{<t}) \,\|\, q(\cdot \mid x, a_{<t})\big),

so one sample ``a ~ p`` yields the estimate ``k(a) = sum_t sum_v p_t(v) [log p_t(v) - log q_t(v)]``
(:func:`token_kl`): the inner sum over the WHOLE vocabulary is exact, only the prefixes are
sampled. Each term is ``>= 0``, so ``k(a) >= 0`` for every sample, and its variance is far below
that of the single-sample log-ratio ``log p(a) - log q(a)`` (the Rao-Blackwellised estimator:
same mean, the token choice integrated out). The evaluation and the fit's monitor use it with
prompt-clustered confidence intervals (the samples of one prompt are not independent).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from alignpro_lite.llm.lm import continuation_log_softmax
from alignpro_lite.llm.lora import use_adapter

__all__ = ["token_kl", "clustered_mean_ci"]


def token_kl(
    model,
    prompt_ids: Sequence[Sequence[int]],
    cont_ids: Sequence[Sequence[int]],
    adapter: str | None,
    ref_adapter: str | None,
    *,
    temperature: float = 0.7,
    pad_id: int = 0,
    batch_size: int = 16,
    log_ratio: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``k(a) = sum_t KL(p_t ‖ q_t)`` along each continuation, ``(n,)`` float64, every entry >= 0.

    ``p`` is the model with LoRA adapter ``adapter`` active, ``q`` with ``ref_adapter`` (``None``:
    adapters disabled), both at ``temperature``; ``cont_ids[r]`` should be a sample of ``p`` given
    ``prompt_ids[r]`` (then the mean of ``k`` is an unbiased estimate of ``KL(p ‖ q)``). The same
    adapter on both sides gives exactly 0. No gradients. With ``log_ratio=True`` also returns the
    single-sample ``log p(a) - log q(a)`` from the same forward passes: ``(k, log_ratio)``.
    """
    if len(prompt_ids) != len(cont_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(cont_ids)} continuations.")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}.")
    if adapter == ref_adapter:
        zero = np.zeros(len(cont_ids))
        return (zero, zero.copy()) if log_ratio else zero
    device = next(model.parameters()).device
    out, ratios = [], []
    with torch.no_grad():
        for s in range(0, len(cont_ids), int(batch_size)):
            P, C = prompt_ids[s : s + batch_size], cont_ids[s : s + batch_size]
            with use_adapter(model, adapter):
                lp, cont, mask = continuation_log_softmax(model, P, C, temperature, pad_id, device)
            with use_adapter(model, ref_adapter):
                lq, _, _ = continuation_log_softmax(model, P, C, temperature, pad_id, device)
            per_tok = (lp.exp() * (lp - lq)).sum(-1).clamp(min=0.0)  # (B, Lc), rounding < 0
            out.append((per_tok * mask).sum(-1).double().cpu().numpy())
            if log_ratio:
                d = (lp - lq).gather(-1, cont.unsqueeze(-1)).squeeze(-1)  # (B, Lc)
                ratios.append((d * mask).sum(-1).double().cpu().numpy())
    k = np.concatenate(out) if out else np.zeros(0)
    if log_ratio:
        return k, (np.concatenate(ratios) if ratios else np.zeros(0))
    return k


def clustered_mean_ci(values, clusters, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` with a ``level`` t-interval over CLUSTER means (e.g. one per prompt):
    ``(mean, low, high)``. The grand mean weighs clusters equally; with one cluster the interval
    is NaN."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    c = np.asarray(clusters)
    if v.shape != c.shape or v.size == 0:
        raise ValueError("values and clusters need the same non-zero length.")
    _, inv = np.unique(c, return_inverse=True)
    m = np.bincount(inv, weights=v) / np.bincount(inv)
    mean = float(m.mean())
    if len(m) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(m) - 1) * m.std(ddof=1) / np.sqrt(len(m)))
    return mean, mean - half, mean + half
