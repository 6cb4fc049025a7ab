"""Monte-Carlo prompt values ``R(x, x') = E_{y ~ pi_F(.|x')} r(x, y)`` with standard errors.

For each user prompt ``x`` and each candidate rewrite ``x'`` we draw ``n`` responses
``y_1..y_n ~ pi_F(.|x')`` from the frozen LLM and score them **against the original prompt**
``x`` (the reward judges the answer to what the user asked, not to the rewrite):

    R_hat(x, x') = (1/n) sum_k r(x, y_k)                      unbiased for R(x, x')
    V_hat(x, x') = 1/(n-1) sum_k (r(x, y_k) - R_hat)^2         unbiased for Var_{pi_F} r(x, y)
    se(x, x')    = sqrt(V_hat / n)                             standard error of R_hat

    est = estimate_prompt_values(prompts, candidates, reward_fn, make_lm_sampler(model, tok), n=8)
    problem = est.to_problem()          # a DiscreteProblem in its estimated (R, V) form

The sampler is injectable: any ``sampler(prompts: list[str], n: int, seed: int) ->
list[list[str]]`` works (tests use a synthetic "language model" with a known answer
distribution). All missing (prompt, candidate) pairs of a call go to the sampler in one list,
so :func:`make_lm_sampler` fills big ``generate`` batches.

Disk cache (``cache_dir()/estimates/``), two levels, one small JSON file per entry:

* ``samples/``: the ``n`` responses to ``x'``, keyed by (sampler id, ``x'``, ``n``, ``seed``);
* ``rewards/``: their ``n`` rewards against ``x``, keyed by (samples key, reward id, ``x``).

Changing the reward re-scores cached responses without resampling. Every file carries its key
and a SHA-256 checksum of its payload and is written atomically (temp file + ``os.replace``);
a truncated, altered or foreign file is reported with a warning and recomputed, never used.
Caching needs to know *what* produced the numbers: the sampler's and the reward's
``cache_id`` attribute (``make_lm_sampler`` sets one from the model fingerprint and the
sampling parameters), or ``sampler_id=`` / ``reward_id=``; without them nothing is cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alignpro_lite.config import cache_dir
from alignpro_lite.llm.frozen import PI_F_DECODING

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the estimator's meaning changes
Sampler = Callable[[list[str], int, int], list[list[str]]]
RewardFn = Callable[[list[str], list[str]], np.ndarray]
LM_SAMPLER_KWARGS = {
    "max_new_tokens",
    "min_new_tokens",
    "temperature",
    "top_p",
    "system",
    "chat",
    "batch_size",
    "progress",
}


# ----------------------------------------------------------------------------- result
@dataclass
class PromptValueEstimate:
    """Monte-Carlo estimates for ``n_x`` prompts with up to ``n_c`` candidates each.

    Prompts with fewer candidates are padded: ``mask[i, j]`` is False there and ``rewards``,
    ``R``, ``V``, ``se`` hold NaN (:meth:`to_problem` fills the padding as problems.py does).
    """

    prompts: list[str]  # (n_x,) original prompts x
    candidates: list[list[str]]  # ragged, candidates[i][j] = x'; candidates[i][0] = x
    rewards: np.ndarray  # (n_x, n_c, n) r(x, y_k), NaN in padding
    responses: list[list[list[str]]]  # responses[i][j][k] = y_k ~ pi_F(.|x'_ij)
    n: int
    seed: int
    meta: dict = field(default_factory=dict)  # sampler / reward ids, cache hits

    @property
    def mask(self) -> np.ndarray:
        """``(n_x, n_c)`` True where a real candidate sits."""
        return ~np.isnan(self.rewards[..., 0])

    @property
    def R(self) -> np.ndarray:
        """``(n_x, n_c)`` sample means ``R_hat(x, x')``."""
        return self.rewards.mean(axis=-1)

    @property
    def V(self) -> np.ndarray:
        """``(n_x, n_c)`` unbiased within-candidate response variances ``V_hat(x, x')``."""
        return self.rewards.var(axis=-1, ddof=1)

    @property
    def se(self) -> np.ndarray:
        """``(n_x, n_c)`` standard errors ``sqrt(V_hat / n)`` of ``R_hat``."""
        return np.sqrt(self.V / self.n)

    def ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Student-t confidence interval ``R_hat ± t_{n-1} se``, two ``(n_x, n_c)`` arrays."""
        from scipy import stats

        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}.")
        half = stats.t.ppf(0.5 + level / 2, df=self.n - 1) * self.se
        return self.R - half, self.R + half

    def to_frame(self, level: float = 0.95):
        """One row per (prompt, candidate): texts, ``R``, ``se``, ``V``, CI bounds."""
        import pandas as pd

        lo, hi = self.ci(level)
        rows = []
        for i, x in enumerate(self.prompts):
            for j, xp in enumerate(self.candidates[i]):
                rows.append(
                    {
                        "prompt": i,
                        "candidate": j,
                        "x": x,
                        "x_prime": xp,
                        "R": self.R[i, j],
                        "se": self.se[i, j],
                        "V": self.V[i, j],
                        "ci_low": lo[i, j],
                        "ci_high": hi[i, j],
                    }
                )
        return pd.DataFrame(rows)

    def to_problem(self, rho_sft=None, P=None, name: str = "estimated", description: str = ""):
        """A :class:`~alignpro_lite.exact.problems.DiscreteProblem` in estimated form.

        ``rho_sft`` defaults to uniform over each prompt's real candidates; padded candidates
        get ``rho_sft = 0`` (so they stay at 0 in ``rho*``), ``R`` = the row's minimum, ``V`` and
        ``se`` = 0. ``P`` defaults to uniform. ``r_range`` is the observed reward range.
        """
        from alignpro_lite.exact.problems import DiscreteProblem

        mask = self.mask
        if rho_sft is None:
            rho_sft = mask / mask.sum(axis=1, keepdims=True)
        else:
            rho_sft = np.asarray(rho_sft, dtype=float)
            if rho_sft.shape != mask.shape:
                raise ValueError(
                    f"rho_sft has shape {rho_sft.shape}; expected (n_x, n_c) = {mask.shape}."
                )
            if (rho_sft[~mask] != 0).any():
                raise ValueError("rho_sft puts mass on padded (non-existent) candidates.")
        row_min = np.nanmin(self.R, axis=1, keepdims=True)
        R = np.where(mask, self.R, row_min)
        V = np.where(mask, self.V, 0.0)
        se = np.where(mask, self.se, 0.0)
        P = np.full(len(self.prompts), 1.0 / len(self.prompts)) if P is None else P
        return DiscreteProblem(
            rho_sft=rho_sft,
            P=P,
            R_table=R,
            V_table=V,
            se=se,
            r_range=(float(np.nanmin(self.rewards)), float(np.nanmax(self.rewards))),
            prompts=list(self.prompts),
            candidates=[list(c) for c in self.candidates],
            name=name,
            description=description,
        )


# ----------------------------------------------------------------------------- cache
def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _entry_path(kind: str, key: str) -> Path:
    return cache_dir() / "estimates" / kind / key[:2] / f"{key}.json"


def _cache_read(kind: str, key: str, field_name: str, n: int) -> list | None:
    """The cached list under ``field_name`` for ``key``, or None (missing, or corrupt: warned)."""
    path = _entry_path(kind, key)
    if not path.is_file():
        return None
    problem = None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        payload = entry["payload"]
        if entry.get("key") != key:
            problem = "its key does not match its file name"
        elif entry.get("sha256") != _digest(payload):
            problem = "its checksum does not match its content"
        elif not isinstance(payload.get(field_name), list) or len(payload[field_name]) != n:
            problem = f"it does not hold {n} {field_name}"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        problem = f"it cannot be read ({type(err).__name__}: {err})"
    if problem:
        msg = f"estimate cache entry {path} is corrupt ({problem}); recomputing it."
        log.warning(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        return None
    return payload[field_name]


def _cache_write(kind: str, key: str, field_name: str, values: list) -> None:
    path = _entry_path(kind, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {field_name: values}
    entry = {"key": key, "sha256": _digest(payload), "payload": payload}
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _identity(obj, given: str | None, what: str) -> str | None:
    """What identifies ``obj`` in cache keys: ``given``, ``obj.cache_id``, or name + version."""
    if given is not None:
        return str(given)
    if getattr(obj, "cache_id", None) is not None:
        return str(obj.cache_id)
    name, version = getattr(obj, "name", None), getattr(obj, "version", None)
    if name is not None and version is not None:
        return f"{name}@{version}"
    log.warning(
        "%s has no cache_id (or name + version) and no id was given: results are not cached.",
        what,
    )
    return None


# ----------------------------------------------------------------------------- checks
def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer, float)) and not isinstance(v, bool) and int(v) == v


def _check_inputs(prompts, candidates, n, seed) -> tuple[list[str], list[list[str]]]:
    if isinstance(prompts, str) or not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError("prompts must be a non-empty list of strings (the user prompts x).")
    if isinstance(candidates, str) or not isinstance(candidates, Sequence):
        raise ValueError("candidates must be a list (one list of rewrites x' per prompt).")
    if len(candidates) != len(prompts):
        raise ValueError(
            f"candidates has {len(candidates)} lists but there are {len(prompts)} prompts; "
            "give one list of rewrites per prompt."
        )
    for i, (x, cs) in enumerate(zip(prompts, candidates, strict=True)):
        if not isinstance(x, str) or not x.strip():
            raise ValueError(f"prompts[{i}] must be a non-empty string, got {x!r}.")
        if isinstance(cs, str) or not isinstance(cs, Sequence) or len(cs) == 0:
            raise ValueError(f"candidates[{i}] must be a non-empty list of strings.")
        for j, c in enumerate(cs):
            if not isinstance(c, str) or not c.strip():
                raise ValueError(f"candidates[{i}][{j}] must be a non-empty string, got {c!r}.")
    if not _is_int(n) or n < 2:
        raise ValueError(
            "n must be an integer >= 2 (the variance and standard error need two samples), "
            f"got {n!r}."
        )
    if not _is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    return list(prompts), [list(c) for c in candidates]


def _check_samples(samples, prompts: list[str], n: int) -> list[list[str]]:
    if not isinstance(samples, Sequence) or len(samples) != len(prompts):
        got = len(samples) if isinstance(samples, Sequence) else type(samples).__name__
        raise ValueError(f"sampler must return one list per prompt ({len(prompts)}), got {got}.")
    for i, ys in enumerate(samples):
        if not isinstance(ys, Sequence) or len(ys) != n or not all(isinstance(y, str) for y in ys):
            raise ValueError(
                f"sampler returned {ys!r:.80} for prompt {i}; expected a list of {n} strings."
            )
    return [list(ys) for ys in samples]


def _check_rewards(values, m: int) -> np.ndarray:
    try:
        r = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"reward_fn must return {m} numbers, got {type(values).__name__}."
        ) from None
    if r.shape != (m,):
        raise ValueError(f"reward_fn returned shape {r.shape}; expected ({m},), one per response.")
    if not np.isfinite(r).all():
        raise ValueError(
            f"reward_fn returned {int((~np.isfinite(r)).sum())} NaN/infinite rewards; "
            "rewards must be finite numbers."
        )
    return r


# ----------------------------------------------------------------------------- estimator
def estimate_prompt_values(
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    reward_fn: RewardFn,
    sampler: Sampler,
    *,
    n: int = 8,
    seed: int = 0,
    add_original: bool = True,
    cache: bool = True,
    sampler_id: str | None = None,
    reward_id: str | None = None,
) -> PromptValueEstimate:
    """Monte-Carlo ``R(x, x')``, ``V(x, x')`` and ``se`` for every prompt and candidate.

    Args:
        prompts: ``n_x`` user prompts ``x``.
        candidates: one list of rewrites ``x'`` per prompt.
        reward_fn: ``reward_fn(prompts, responses) -> (m,)`` rewards; called with the
            **original** prompts ``x`` repeated once per response.
        sampler: ``sampler(texts, n, seed) -> list of n responses per text`` (e.g.
            :func:`make_lm_sampler`). For consistent caching a response set should depend only
            on its own ``(x', n, seed)``, as :func:`make_lm_sampler`'s does.
        n: responses per candidate (>= 2: the variance needs two).
        seed: sampling seed (part of the cache key).
        add_original: prepend ``x`` as candidate 0 where it is not already there (the
            convention that makes ``pi_ref`` the frozen model on the unmodified prompt).
        cache: read and write the disk cache (needs sampler and reward ids, see module doc).
        sampler_id, reward_id: override the ``cache_id`` attributes.

    Returns:
        A :class:`PromptValueEstimate`; ``meta`` records the ids and the cache hits.
    """
    prompts, candidates = _check_inputs(prompts, candidates, n, seed)
    n, seed = int(n), int(seed)
    if add_original:
        candidates = [cs if cs[0] == x else [x, *cs] for x, cs in zip(prompts, candidates)]
    s_id = _identity(sampler, sampler_id, "sampler") if cache else None
    r_id = _identity(reward_fn, reward_id, "reward_fn") if cache else None
    pairs = [(i, j) for i, cs in enumerate(candidates) for j in range(len(cs))]
    s_keys = {
        p: _digest(["samples", CACHE_VERSION, s_id, candidates[p[0]][p[1]], n, seed]) for p in pairs
    }
    r_keys = {p: _digest(["rewards", CACHE_VERSION, s_keys[p], r_id, prompts[p[0]]]) for p in pairs}

    # 1. responses: cached, else one sampler call for every missing pair
    responses: dict[tuple[int, int], list[str]] = {}
    if s_id is not None:
        for p in pairs:
            got = _cache_read("samples", s_keys[p], "responses", n)
            if got is not None and all(isinstance(y, str) for y in got):
                responses[p] = got
    todo = [p for p in pairs if p not in responses]
    if todo:
        texts = [candidates[i][j] for i, j in todo]
        sampled = _check_samples(sampler(texts, n, seed), texts, n)
        for p, ys in zip(todo, sampled, strict=True):
            responses[p] = ys
            if s_id is not None:
                _cache_write("samples", s_keys[p], "responses", ys)

    # 2. rewards r(x, y_k) against the ORIGINAL prompt x: cached, else one reward_fn call
    rewards_of: dict[tuple[int, int], np.ndarray] = {}
    cached_r = s_id is not None and r_id is not None
    if cached_r:
        for p in pairs:
            got = _cache_read("rewards", r_keys[p], "rewards", n)
            if got is not None:
                vals = np.asarray(got, dtype=float)
                if np.isfinite(vals).all():
                    rewards_of[p] = vals
    r_todo = [p for p in pairs if p not in rewards_of]
    if r_todo:
        xs = [prompts[i] for i, _ in r_todo for _ in range(n)]
        ys = [y for p in r_todo for y in responses[p]]
        flat = _check_rewards(reward_fn(xs, ys), len(ys)).reshape(len(r_todo), n)
        for p, vals in zip(r_todo, flat, strict=True):
            rewards_of[p] = vals
            if cached_r:
                _cache_write("rewards", r_keys[p], "rewards", [float(v) for v in vals])

    n_c = max(len(cs) for cs in candidates)
    rewards = np.full((len(prompts), n_c, n), np.nan)
    out_responses = [[[] for _ in cs] for cs in candidates]
    for i, j in pairs:
        rewards[i, j] = rewards_of[(i, j)]
        out_responses[i][j] = responses[(i, j)]
    meta = {
        "sampler_id": s_id,
        "reward_id": r_id,
        "sampled": len(todo),
        "scored": len(r_todo),
        "entries": len(pairs),
    }
    return PromptValueEstimate(
        prompts=prompts,
        candidates=candidates,
        rewards=rewards,
        responses=out_responses,
        n=n,
        seed=seed,
        meta=meta,
    )


def make_lm_sampler(model, tok, **gen_kwargs) -> Sampler:
    """Wrap :func:`alignpro_lite.llm.lm.generate` as a sampler ``(texts, n, seed) -> responses``.

    ``gen_kwargs`` go to ``generate`` (``max_new_tokens``, ``temperature``, ``top_p``,
    ``system``, ``chat``, ``batch_size``, ``progress``...). The sampler's ``cache_id`` joins the
    model fingerprint with every argument that changes the texts (not ``batch_size`` or
    ``progress``), so a cached estimate is reused only for the same model and sampling.
    """
    from alignpro_lite.llm import lm

    for bad in ("n", "seed", "prompts"):
        if bad in gen_kwargs:
            raise ValueError(
                f"{bad!r} is set per call by the estimator; remove it from gen_kwargs."
            )
    unknown = set(gen_kwargs) - LM_SAMPLER_KWARGS
    if unknown:
        raise ValueError(
            f"unknown generate arguments {sorted(unknown)}; allowed: {sorted(LM_SAMPLER_KWARGS)}."
        )
    fingerprint = getattr(model, "alignpro_fingerprint", None) or lm.model_fingerprint(model)
    defaults = {  # the one frozen model's decoding unless the caller overrides it
        **PI_F_DECODING.kwargs(),
        "min_new_tokens": 0,
        "system": None,
        "chat": True,
    }
    answer_kwargs = {**defaults, **{k: v for k, v in gen_kwargs.items() if k in defaults}}

    def sampler(texts: list[str], n: int, seed: int) -> list[list[str]]:
        return lm.generate(model, tok, texts, n=n, seed=seed, **gen_kwargs)

    sampler.cache_id = f"lm:{fingerprint}:{_digest(answer_kwargs)[:16]}"
    sampler.gen_kwargs = answer_kwargs
    return sampler


# ----------------------------------------------------------------------------- stability
def rho_stability(
    rho_sft: np.ndarray,
    R: np.ndarray,
    V: np.ndarray,
    lam: float,
    ns: Sequence[int] = (2, 4, 8, 16, 32, 64),
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """How many samples per rewrite before ``rho*`` is stable (a parametric bootstrap).

    Treat the table ``(R, V)`` as the truth, draw ``R_hat ~ N(R, V/n)`` as an ``n``-sample
    estimate would be (CLT), and measure ``TV(rho*(R_hat), rho*(R))`` averaged over prompts.

    Returns ``{"n": (len(ns),), "tv_mean": ..., "tv_p90": ...}`` (TV in ``[0, 1]``).
    """
    from alignpro_lite.exact.discrete import optimal_prompter, total_variation

    rng = np.random.default_rng(seed)
    rho_true = optimal_prompter(rho_sft, R, lam)
    means, p90 = [], []
    for n in ns:
        if int(n) < 1:
            raise ValueError(f"every n in ns must be >= 1, got {n}.")
        noise = rng.standard_normal((n_boot,) + R.shape) * np.sqrt(np.maximum(V, 0) / n)
        tv = np.array(
            [total_variation(optimal_prompter(rho_sft, R + e, lam), rho_true).mean() for e in noise]
        )
        means.append(tv.mean())
        p90.append(np.quantile(tv, 0.9))
    return {"n": np.asarray(ns), "tv_mean": np.asarray(means), "tv_p90": np.asarray(p90)}
