"""Headroom: how much could a prompter, or RLHF, gain at best on a task? (notebook 05)

Before training anything, the table of sampled answers ``r[i, c, m]`` (prompt ``i``, candidate
rewrite ``c``, answer ``m`` of the frozen model ``pi_F``) already says what is reachable:

* **gain of a rewrite type** ``t``: ``mean_i (R̂(x_i, x'_t) - R̂(x_i, x_i))`` with the standard
  error of a mean over prompts. ``R̂`` is the mean of the answers' rewards.
* **Align-Pro's best case, cross-fitted**: pick ``rho*`` on half of the answers, score it on the
  other half, and the other way round. With ``A``/``B`` the even/odd answers,
  ``d_i = 1/2 [J_B(rho*_A) - R̂_B(x_i, x_i) + J_A(rho*_B) - R̂_A(x_i, x_i)]`` where
  ``rho*_A ∝ rho_sft exp(R̂_A / λ)`` over the rewrites the semantic constraint allows and
  ``J_B(rho) = sum_c rho(c) R̂_B(x_i, c)``; ``λ = 0`` picks the best rewrite (argmax; the
  original prompt wins ties, see :func:`rho_star_rows`). Choosing
  and scoring on the same answers would report the luckiest noise as gain (the winner's curse);
  cross-fitting cannot, so it is a conservative estimate.
* **RLHF's room**: best-of-``n`` answers of ``pi_F`` to the original prompt, the simplest policy
  that moves reward at a known KL (``log n - (n - 1)/n``). From ``m >= n`` answers the unbiased
  estimate of ``E[max of n]`` is the U-statistic ``sum_j r_(j) C(j-1, n-1) / C(m, n)`` over the
  sorted rewards ``r_(1) <= ... <= r_(m)``; ``d_i = Ê[max_n] - mean_m r[i, 0, m]``.

Each row reports the mean of ``d_i`` over prompts, its standard error ``sd(d) / sqrt(n_x)`` and
``z = mean / se``; a task *has headroom* for a method when ``z > 2``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alignpro_lite.exact import discrete

__all__ = [
    "best_of_n_mean",
    "best_of_n_room",
    "crossfit_rho_star_gain",
    "headroom_table",
    "kl_calibrated_weight",
    "mean_kl_of_tilt",
    "refusal_rates",
    "rho_star_rows",
    "table_arrays",
    "task_headroom",
    "type_gains",
]


def _check_rewards(r) -> np.ndarray:
    r = np.asarray(r, dtype=float)
    if r.ndim != 3:
        raise ValueError(f"rewards must be (n_x, n_c, m) answers' rewards, got shape {r.shape}.")
    if np.isnan(r[:, 0]).any():
        raise ValueError("every prompt needs rewards for its original prompt (candidate 0).")
    return r


def _mean_se(d: np.ndarray) -> tuple[float, float, float]:
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return (float(d.mean()) if len(d) else math.nan), math.nan, math.nan
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
    return mean, se, (mean / se if se > 0 else math.copysign(math.inf, mean) if mean else 0.0)


def type_gains(rewards, types: list[list[str]]) -> pd.DataFrame:
    """Per rewrite type: ``mean_i (R̂(x_i, x'_t) - R̂(x_i, x_i))`` with its SE over prompts.

    ``rewards``: ``(n_x, n_c, m)`` (NaN in padding); ``types[i][c]``: candidate ``c``'s type.
    Columns ``type, n_prompts, gain, se, z``; a prompt without a candidate of a type is skipped.
    """
    r = _check_rewards(rewards)
    R = np.nanmean(r, axis=2)  # (n_x, n_c)
    names = list(dict.fromkeys(t for row in types for t in row))
    rows = []
    for t in names:
        d = np.array(
            [R[i, row.index(t)] - R[i, 0] if t in row else np.nan for i, row in enumerate(types)]
        )
        mean, se, z = _mean_se(d)
        rows.append({"type": t, "n_prompts": int(np.isfinite(d).sum()), "gain": mean, "se": se,
                     "z": z})  # fmt: skip
    return pd.DataFrame(rows)


def rho_star_rows(
    R: np.ndarray, allowed: np.ndarray, lam: float, ties: str = "original"
) -> np.ndarray:
    """``rho*(c|x_i) ∝ exp(R̂[i, c] / λ)`` over the allowed candidates (``rho_sft`` uniform on
    them), ``(n_x, n_c)``.

    ``λ = 0`` puts all mass on the best allowed candidate, and **the original prompt (candidate
    0) wins ties**: a rewrite is chosen only if it is strictly better on the answers used to
    choose (other ties are split). With 0/1-like rewards and a few answers per rewrite, ties at
    the top are common (a benign request answered 4 of 4 times under several rewrites), and
    splitting them would move mass to rewrites for no evidence at all. ``ties="split"`` splits
    every tie instead: the limit ``λ → 0`` of the closed form.
    """
    if ties not in ("original", "split"):
        raise ValueError(f"ties must be 'original' or 'split', got {ties!r}.")
    if not (lam >= 0 and math.isfinite(lam)):
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}.")
    Rm = np.where(allowed, R, -np.inf)
    if lam == 0:
        best = Rm == Rm.max(axis=1, keepdims=True)
        keep = best[:, :1] & allowed[:, :1] & (ties == "original")  # keep the original
        best = np.where(keep, np.eye(1, R.shape[1], dtype=bool), best)
        return best / best.sum(axis=1, keepdims=True)
    z = Rm / lam
    z = z - z.max(axis=1, keepdims=True)
    w = np.where(allowed, np.exp(z), 0.0)
    return w / w.sum(axis=1, keepdims=True)


def crossfit_rho_star_gain(rewards, allowed, lam: float = 0.0) -> np.ndarray:
    """Per prompt ``d_i`` (module docstring): ``rho*`` chosen on the even answers and scored on
    the odd ones, and the other way round, minus the original prompt's value on the same halves.

    ``allowed``: ``(n_x, n_c)`` bool, the rewrites the prompter may use (candidate 0 must be
    allowed). Needs ``m >= 2`` answers per candidate. Returns ``(n_x,)``.
    """
    r = _check_rewards(rewards)
    allowed = np.asarray(allowed, dtype=bool) & ~np.isnan(r).all(axis=2)
    if r.shape[2] < 2:
        raise ValueError("cross-fitting needs at least 2 answers per candidate.")
    if not allowed[:, 0].all():
        raise ValueError("the original prompt (candidate 0) must always be allowed.")
    RA, RB = np.nanmean(r[:, :, 0::2], axis=2), np.nanmean(r[:, :, 1::2], axis=2)
    d = np.zeros(r.shape[0])
    for pick, score in ((RA, RB), (RB, RA)):
        rho = rho_star_rows(np.where(allowed, pick, 0.0), allowed, lam)
        d += (np.where(allowed, rho * np.nan_to_num(score), 0.0)).sum(axis=1) - score[:, 0]
    return d / 2


def best_of_n_mean(samples, n: int) -> np.ndarray:
    """Unbiased ``E[max of n draws]`` from ``m >= n`` i.i.d. rewards per row, ``(..., m) -> (...)``.

    The U-statistic over all ``n``-subsets: ``sum_j r_(j) C(j-1, n-1) / C(m, n)`` with the rewards
    sorted ascending (``r_(j)`` is the maximum of exactly ``C(j-1, n-1)`` subsets).
    """
    s = np.sort(np.asarray(samples, dtype=float), axis=-1)
    m = s.shape[-1]
    if not (isinstance(n, int | np.integer) and 1 <= n <= m):
        raise ValueError(f"n must be an integer in [1, m={m}], got {n!r}.")
    w = np.array([math.comb(j, n - 1) for j in range(m)], dtype=float) / math.comb(m, n)
    return s @ w


def best_of_n_room(rewards, n: int = 4) -> np.ndarray:
    """Per prompt: ``Ê[max of n answers to x] - mean answer reward to x`` (candidate 0), ``(n_x,)``."""
    r = _check_rewards(rewards)[:, 0]
    r = r[:, ~np.isnan(r).any(axis=0)]
    return best_of_n_mean(r, n) - r.mean(axis=1)


def headroom_table(
    rewards,
    types: list[list[str]],
    allowed,
    *,
    lams: tuple[float, ...] = (0.0,),
    best_of: tuple[int, ...] = (4,),
    task: str = "",
) -> pd.DataFrame:
    """One table: every rewrite type's gain, Align-Pro's cross-fitted best case at each ``λ`` in
    ``lams`` and RLHF's best-of-``n`` room for each ``n`` in ``best_of``.

    Columns ``task, what, method, gain, se, z, n_prompts, kl``; ``kl`` in nats is, for a
    ``rho*`` row, ``mean_i KL(rho*_i ‖ rho_sft_i)`` of ``rho*`` chosen on all answers (at
    ``λ → 0`` the point mass on one candidate: ``log`` of the number allowed), for best-of-n
    ``log n - (n-1)/n`` (exact without ties, an upper bound with them), NaN for the rewrite
    types. ``what`` is ``"type: <name>"``, ``"rho* (λ=…)"`` or ``"best-of-<n>"``.
    """
    rows = []
    for row in type_gains(rewards, types).itertuples():
        if row.type == "original":
            continue
        rows.append({"what": f"type: {row.type}", "method": "Align-Pro", "gain": row.gain,
                     "se": row.se, "z": row.z, "n_prompts": row.n_prompts, "kl": math.nan})  # fmt: skip
    n_x = int(np.asarray(rewards).shape[0])
    R_all = np.nanmean(np.asarray(rewards, dtype=float), axis=2)
    ok = np.asarray(allowed, dtype=bool) & np.isfinite(R_all)
    for lam in lams:
        mean, se, z = _mean_se(crossfit_rho_star_gain(rewards, allowed, lam))
        label = "rho* (λ→0: best rewrite)" if lam == 0 else f"rho* (λ={lam:.3g})"
        kl = mean_kl_of_tilt(R_all, ok, lam, ties="original")  # the rho* whose gain is shown
        rows.append({"what": label, "method": "Align-Pro", "gain": mean, "se": se, "z": z,
                     "n_prompts": n_x, "kl": kl})  # fmt: skip
    for n in best_of:
        mean, se, z = _mean_se(best_of_n_room(rewards, n))
        rows.append({"what": f"best-of-{n}", "method": "RLHF", "gain": mean, "se": se, "z": z,
                     "n_prompts": n_x, "kl": math.log(n) - (n - 1) / n})  # fmt: skip
    return pd.DataFrame(rows).assign(task=task)[
        ["task", "what", "method", "gain", "se", "z", "n_prompts", "kl"]
    ]


# --------------------------------------------------------------------------- the KL-calibration rule
def mean_kl_of_tilt(R, allowed, w: float, ties: str = "split") -> float:
    """``mean_i KL(q_i ‖ u_i)`` for ``q_i ∝ u_i exp(R[i] / w)``, ``u_i`` uniform on ``allowed[i]``.

    With ``R`` the table's ``R̂(x, x')`` this is ``KL(rho* ‖ rho_sft)`` at ``λ = w``; with ``R``
    the sampled answers' rewards to the original prompt it is ``KL(pi* ‖ pi_ref)`` at ``β = w``
    on the empirical ``pi_ref``. ``w = 0`` gives the limit ``w → 0`` (ties split; ``ties`` as in
    :func:`rho_star_rows`).
    """
    allowed = np.asarray(allowed, dtype=bool)
    q = rho_star_rows(np.where(allowed, R, 0.0), allowed, float(w), ties=ties)
    uniform = allowed / allowed.sum(axis=1, keepdims=True)
    return float(discrete.kl_divergence(q, uniform).mean())


def kl_calibrated_weight(R, allowed, target: float = 1.0, lo: float = 1e-4, hi: float = 1e2):
    """The preregistered rule for λ and β: the weight ``w`` at which :func:`mean_kl_of_tilt`
    equals ``target`` nats (bisection on ``log w``; the KL falls as ``w`` grows).

    If even ``w → 0`` stays below ``target`` (rewards tie within many prompts), the target
    becomes half of that limit. Returns ``(w, kl_at_w, kl_limit)``.
    """
    R = np.asarray(R, dtype=float)
    allowed = np.asarray(allowed, dtype=bool) & np.isfinite(R)
    limit = mean_kl_of_tilt(R, allowed, 0.0)
    goal = target if limit > target else limit / 2
    if goal <= 0:
        return math.inf, 0.0, limit
    a, b = math.log(lo), math.log(hi)
    for _ in range(80):
        mid = (a + b) / 2
        if mean_kl_of_tilt(R, allowed, math.exp(mid)) > goal:
            a = mid
        else:
            b = mid
    w = math.exp((a + b) / 2)
    return w, mean_kl_of_tilt(R, allowed, w), limit


# --------------------------------------------------------------------------- shipped tables
def table_arrays(task: str, split: str = "train", folder=None):
    """``(rewards (n_x, n_c, m), types, allowed (n_x, n_c), labels, responses)`` of a shipped
    table. ``allowed``: the rewrites that keep the question, i.e. every candidate but the
    ``bad`` one. (Not ``cos(x, x') >= 0.7``: a rewrite that wraps ``x`` verbatim in a rule or
    a worked example keeps the question but scores a low whole-text cosine, about 0.47 for the
    one-shot type.)"""
    from alignpro_lite.llm.tables import load_task_table
    from alignpro_lite.llm.tasks import load_task

    table = load_task_table(task, split, folder)
    items = load_task(task, split)[: len(table.kinds)]
    n_x = len(items)
    n_c = max(len(p.candidates) for p in items)
    m = max(len(s["rewards"]) for s in table.samples)
    r = np.full((n_x, n_c, m), np.nan)
    responses = [[[] for _ in range(n_c)] for _ in range(n_x)]
    index = {p.id: i for i, p in enumerate(items)}
    for s in table.samples:
        i = index[s["prompt_id"]]
        r[i, s["c"], : len(s["rewards"])] = s["rewards"]
        responses[i][s["c"]] = list(s["responses"])
    allowed = np.zeros((n_x, n_c), dtype=bool)
    for i, p in enumerate(items):
        allowed[i, : len(p.candidates)] = [k != "bad" for k in p.candidate_kinds]
    allowed &= ~np.isnan(r).all(axis=2)
    types = [p.candidate_types for p in items]
    labels = [p.label for p in items]
    return r, types, allowed, labels, responses


def task_headroom(
    task: str, split: str = "train", folder=None, *, best_of: tuple[int, ...] = (4,)
) -> pd.DataFrame:
    """:func:`headroom_table` of a shipped table at ``λ → 0`` and at the KL-calibrated λ."""
    r, types, allowed, _, _ = table_arrays(task, split, folder)
    lam, _, _ = kl_calibrated_weight(np.nanmean(r, axis=2), allowed)
    return headroom_table(r, types, allowed, lams=(0.0, lam), best_of=best_of, task=task)


def refusal_rates(task: str = "harmlessness", split: str = "train", folder=None) -> pd.DataFrame:
    """Refusal rate of the frozen model's answers per rewrite type and prompt label: the wanted
    refusals (``harmful``) beside the over-refusals (``benign``)."""
    from alignpro_lite.llm.rewards import is_refusal

    _, types, _, labels, responses = table_arrays(task, split, folder)
    rows = []
    for i, row in enumerate(types):
        for c, t in enumerate(row):
            ys = responses[i][c]
            if ys:
                rows.append({"type": t, "label": labels[i] or "all",
                             "refusal": float(is_refusal(ys).mean())})  # fmt: skip
    df = pd.DataFrame(rows)
    out = df.pivot_table(index="type", columns="label", values="refusal", aggfunc="mean")
    order = list(dict.fromkeys(t for row in types for t in row))
    return out.reindex(order).rename_axis(columns=None).reset_index()
