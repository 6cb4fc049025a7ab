"""The sampler's inner loop: one prefill per distinct prompt, a preallocated KV cache, exact draws.

:func:`~alignpro_lite.llm.lm.sample_ids` draws ``n`` continuations of each prompt. Done with
``model.generate`` (the ``"generate"`` engine) every row runs its own prompt through the model,
and the growing ``DynamicCache`` copies every layer's keys and values at every token
(``torch.cat``: ≈ 29 % of a decode step on a 2-core CPU). :func:`decode` (the ``"cache"``
engine, the default) instead

1. prefills each DISTINCT prompt once (left-padded, explicit position ids); the token prefix that
   every prompt of a call shares (the chat template's system turn: 20-40 of a prompt's 45-60
   tokens) is prefilled once per call (:func:`prefix_cache`) and only the rest per prompt,
2. copies its keys and values into a buffer allocated once per batch, ``(B, H, L + T, d)`` per
   layer, one row per sample (:func:`buffer_cache`: later tokens are written in place and the
   attention reads a view, so nothing is copied per token),
3. draws every token with :func:`draw` — the same inverse-CDF temperature/top-``p`` draw, with
   the same per-row uniforms, as the ``generate`` engine's logits processor — and
4. drops finished rows from the batch once a quarter of it has ended, and stops when all have.

So both engines return the same tokens (tests compare them token for token), up to
floating-point near-ties between candidate tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["buffer_cache", "common_prefix", "decode", "draw", "prefix_cache"]


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row from ``softmax(logits / T)`` cut to its top-``p`` nucleus, ``(B,)``.

    The nucleus is the smallest set of most likely tokens whose mass reaches ``top_p``; the token
    is picked by inverse CDF with the row's own uniform ``u[b]`` (never a zero-probability token).
    ``top_p = 1`` walks the vocabulary in its own order (a binary search in the cumulative
    weights, computed in place: no normalisation, no comparison pass; ~6× cheaper than a
    normalised CDF at ``B = 64``, ``V = 49152`` on one CPU thread, where every pass over a
    ``(B, V)`` tensor costs milliseconds). Otherwise the nucleus is first searched
    among the 256 most likely tokens (cheap) and rows whose nucleus is larger fall back to a full
    sort, so the draw is exact either way. ``temperature = 0`` is greedy (argmax).

    Args:
        logits: ``(B, V)`` next-token logits (any float dtype; computed in float32).
        u: ``(B,)`` uniforms in ``[0, 1)``.
    """
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(-1)
    if top_p >= 1:  # the whole vocabulary: unnormalised weights, a binary search in their CDF
        cum = logits - logits.amax(-1, keepdim=True)  # (B, V): one new tensor, then in place
        cum.div_(temperature).exp_().cumsum_(-1)  # weights exp((l - max) / T), accumulated
        # the first token whose cumulative weight exceeds u * total (never a zero-weight token;
        # a cumulative sum of non-negative floats never decreases, so the search is exact)
        j = torch.searchsorted(cum, (u * cum[:, -1]).unsqueeze(-1), right=True).squeeze(-1)
        return j.clamp_max(logits.shape[-1] - 1)
    logits = logits / temperature
    log_Z = torch.logsumexp(logits, dim=-1, keepdim=True)  # (B, 1)

    def pick(probs: torch.Tensor, idx: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        # probs (B, K) in descending order, idx (B, K) their token ids, u (B,)
        probs = probs * ((probs.cumsum(-1) - probs) < top_p)  # keep while the mass before < top_p
        cum = probs.cumsum(-1)  # (B, K)
        j = (cum <= u.unsqueeze(-1) * cum[:, -1:]).sum(-1).clamp_max(probs.shape[-1] - 1)
        return idx.gather(-1, j.unsqueeze(-1)).squeeze(-1)

    k = min(256, logits.shape[-1])
    vals, idx = logits.topk(k, dim=-1)  # (B, k), descending
    probs = (vals - log_Z).exp()
    full = probs.sum(-1) < top_p  # (B,) rows whose nucleus is not inside the top k
    choice = pick(probs, idx, u)
    if full.any():
        vals_f, idx_f = logits[full].sort(dim=-1, descending=True)
        choice[full] = pick((vals_f - log_Z[full]).exp(), idx_f, u[full])
    return choice


def _buffer_layer_class():
    from transformers.cache_utils import DynamicLayer

    class BufferLayer(DynamicLayer):
        """One attention layer's keys and values in a buffer allocated once,
        ``(B, H, capacity, d)``: :meth:`update` writes the new positions in place and the layer
        exposes views of the filled part, so a decode step copies only the new token's keys."""

        is_croppable = False

        def __init__(self, keys: torch.Tensor, values: torch.Tensor, capacity: int) -> None:
            super().__init__()
            B, H, L, D = keys.shape
            self.k = keys.new_empty((B, H, capacity, D))
            self.v = values.new_empty((B, H, capacity, values.shape[-1]))
            self.k[:, :, :L] = keys
            self.v[:, :, :L] = values
            self.length = L
            self.device, self.dtype, self.is_initialized = keys.device, keys.dtype, True
            self._views()

        def _views(self) -> None:
            self.keys = self.k[:, :, : self.length]
            self.values = self.v[:, :, : self.length]

        def update(self, key_states, value_states, *args, **kwargs):
            t = key_states.shape[-2]
            if self.length + t > self.k.shape[2]:
                raise RuntimeError(f"KV buffer full ({self.k.shape[2]} positions).")
            self.k[:, :, self.length : self.length + t] = key_states
            self.v[:, :, self.length : self.length + t] = value_states
            self.length += t
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def get_max_length(self) -> int:
            return self.k.shape[2]

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            """Keep only batch rows ``indices`` (finished rows leave the batch)."""
            self.k, self.v = self.k[indices], self.v[indices]
            self._views()

    return BufferLayer


def buffer_cache(cache, rows: torch.Tensor, capacity: int):
    """A ``DynamicCache`` whose layers are :class:`BufferLayer` s holding the prefilled keys and
    values of ``cache`` for batch rows ``rows`` (a prompt's row repeated once per sample)."""
    layer_class = _buffer_layer_class()
    for i, layer in enumerate(cache.layers):
        cache.layers[i] = layer_class(layer.keys[rows], layer.values[rows], capacity)
    return cache


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all ``rows`` share, leaving every row at least one own token
    (the last prompt token must be run per row: its logits start the continuation)."""
    first = rows[0]
    n = min(len(r) for r in rows) - 1
    for r in rows[1:]:
        i = 0
        while i < n and r[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


@torch.no_grad()
def prefix_cache(model, prefix: Sequence[int], device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Keys and values of ``prefix`` (positions ``0..s-1``), ``[(k, v)]`` per layer, each
    ``(1, H, s, d)``: prefilled once, then shared by every prompt that starts with it."""
    from transformers import DynamicCache

    cache = DynamicCache()
    ids = torch.as_tensor([list(prefix)], dtype=torch.long, device=device)
    model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in cache.layers]


@torch.no_grad()
def decode(
    model,
    ids: torch.Tensor,
    mask: torch.Tensor,
    rows: Sequence[int],
    uniforms: torch.Tensor | None,
    *,
    max_new_tokens: int,
    min_new_tokens: int,
    temperature: float,
    top_p: float,
    eos: Sequence[int],
    pad_id: int,
    prefix: Sequence[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> list[list[int]]:
    """New tokens for each row (``rows[b]`` = the prompt of row ``b``), EOS included.

    Args:
        ids, mask: ``(P, L)`` the distinct prompts, left-padded (``lm.pad_left``), prefilled once.
            With ``prefix``: the prompts WITHOUT their shared first ``s`` tokens.
        rows: ``(B,)`` the prompt of every row; a prompt repeated ``n`` times gives ``n`` samples.
        uniforms: ``(B, max_new_tokens)`` the rows' random streams (``None`` when greedy).
        prefix: :func:`prefix_cache` of the ``s`` tokens every prompt starts with. The cache
            then holds ``[prefix | padding | rest of the prompt]`` per row: the padding sits in
            the middle, masked, and the positions stay those of the whole prompt
            (``s + (mask.cumsum(-1) - 1)``), so the draws are those without it (up to float rounding).
    """
    from transformers import DynamicCache

    device = ids.device
    P = ids.shape[0]
    if prefix is None:
        s, cache = 0, DynamicCache()
    else:
        s = prefix[0][0].shape[2]
        cache = DynamicCache(ddp_cache_data=[(k.expand(P, -1, -1, -1), v.expand(P, -1, -1, -1))
                                             for k, v in prefix])  # fmt: skip
        mask = torch.cat([torch.ones((P, s), dtype=mask.dtype, device=device), mask], dim=1)
    L = mask.shape[1]
    pos = (mask[:, s:].cumsum(-1) - 1).clamp(min=0) + s
    logits = model(
        input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
        use_cache=True, logits_to_keep=1,
    ).logits[:, -1]  # fmt: skip
    index = torch.as_tensor(list(rows), dtype=torch.long, device=device)  # (B,)
    B, T = len(rows), int(max_new_tokens)
    cache = buffer_cache(cache, index, L + T)
    logits = logits[index]  # (B, V)
    full_mask = torch.ones((B, L + T), dtype=torch.long, device=device)
    full_mask[:, :L] = mask[index]
    next_pos = pos[index, -1] + 1  # (B,) position of the first new token
    eos_t = torch.as_tensor(sorted(set(eos)), dtype=torch.long, device=device)
    if uniforms is not None:
        uniforms = uniforms.to(device)

    out: list[list[int]] = [[] for _ in range(B)]
    live = torch.arange(B, device=device)  # original row of every row still in the batch
    done = torch.zeros(B, dtype=torch.bool, device=device)
    for t in range(T):
        scores = logits.float()
        if t < min_new_tokens and eos_t.numel():
            scores[:, eos_t] = float("-inf")
        u = uniforms[live, t] if uniforms is not None else None
        tok = draw(scores, u, temperature, top_p)  # (B_live,)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)  # ended rows: padding
        for b, v, ended in zip(live.tolist(), tok.tolist(), done.tolist(), strict=True):
            if not ended:
                out[b].append(v)
        done = done | torch.isin(tok, eos_t)
        if bool(done.all()) or t == T - 1:
            break
        if int(done.sum()) * 4 >= done.numel():  # a quarter finished: shrink the batch
            keep = (~done).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            live, tok, done = live[keep], tok[keep], done[keep]
            full_mask, next_pos = full_mask[keep], next_pos[keep]
        L_now = L + t + 1
        logits = model(
            input_ids=tok[:, None], attention_mask=full_mask[:, :L_now],
            position_ids=next_pos[:, None], past_key_values=cache, use_cache=True,
        ).logits[:, -1]  # fmt: skip
        next_pos = next_pos + 1
    return out
