"""Baselines beyond the paper, in the same paired table (notebook 08).

* **Best-of-n** on the frozen model: draw ``n`` answers to ``x``, keep the one the reward ranks
  highest. Its KL to ``pi_F`` is at most ``log n - (n - 1)/n`` (:func:`bon_kl`, exact for
  continuous rewards), so ``n`` is chosen to match the KL Align-Pro's prompter spends
  (:func:`bon_n_for_kl`). :func:`best_of_n_samples` builds its evaluation rows from a pool of
  ``m`` paired answers per prompt: sample ``k`` is the best of the ``n`` answers ``k, k+1, …,
  k+n-1`` (cyclically) of the pool, so it contains NoFT's answer ``k`` and pairs with it by stream.
* **The closed-form rho\\*** over the fixed candidate sets of notebook 05, at the preregistered λ,
  cross-fitted on the TEST table's answers (:func:`closed_form_candidates`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["bon_kl", "bon_kl_plugin", "bon_n_for_kl", "best_of_n_samples", "closed_form_candidates"]


def bon_kl(n) -> float:
    """``KL(best-of-n ‖ pi) <= log n - (n - 1)/n`` nats: an upper bound, exact only in the limit of
    a continuous reward distribution; on a finite set of answers, even without ties, the true KL
    is smaller (two equally likely answers, n = 2: 0.131 vs 0.193)."""
    n = float(n)
    if not n >= 1:
        raise ValueError(f"n must be >= 1, got {n!r}.")
    return math.log(n) - (n - 1) / n


def bon_kl_plugin(rewards, n: int) -> float:
    """The KL of best-of-``n`` to ``pi`` when ``pi`` is the empirical distribution of ``rewards``
    (``m`` equally likely answers), ties included: with the distinct values ``v_1 < … < v_K``, their
    counts ``c_i`` and CDF ``F_i``, ``P(max = v_i) = F_i^n - F_{i-1}^n`` spread evenly over the
    ``c_i`` tied answers, so ``KL = sum_i P_i log(P_i m / c_i)``. Equals ``log n - (n-1)/n`` in the
    limit of many distinct values; ties (a 0/1 reward) make it smaller."""
    r = np.asarray(rewards, dtype=float)
    if r.ndim != 1 or len(r) == 0 or not np.isfinite(r).all():
        raise ValueError("rewards must be a non-empty 1-d array of finite numbers.")
    m = len(r)
    _, counts = np.unique(r, return_counts=True)
    F = np.cumsum(counts) / m
    P = F ** int(n) - np.concatenate([[0.0], F[:-1]]) ** int(n)
    keep = P > 0
    return float(np.sum(P[keep] * np.log(P[keep] * m / counts[keep])))


def bon_n_for_kl(kl: float, n_max: int) -> int:
    """The ``n`` in ``1..n_max`` whose :func:`bon_kl` is closest to ``kl`` (nats)."""
    if not (kl >= 0 and math.isfinite(kl)):
        raise ValueError(f"kl must be a finite number >= 0, got {kl!r}.")
    if int(n_max) != n_max or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1, got {n_max!r}.")
    return min(range(1, int(n_max) + 1), key=lambda n: (abs(bon_kl(n) - kl), n))


def best_of_n_samples(
    pool: pd.DataFrame, n: int, n_samples: int, label: str = "Best-of-n"
) -> pd.DataFrame:
    """Evaluation rows of best-of-``n`` from a pool of NoFT answers (``sample`` ``0..m-1`` per
    prompt): row ``k < n_samples`` is the pool answer with the highest ``reward`` among samples
    ``k, …, k+n-1 (mod m)`` (first one on ties), keeping sample ``k``'s ``stream`` for the pairing.
    Adds the columns ``bon_n``, ``source_sample`` (the pool answer chosen), ``log_ratio``
    (``bon_kl(n)``, the formula) and ``kl_plugin`` (:func:`bon_kl_plugin` of the prompt's pool).

    Each row is a valid best-of-``n`` draw, but overlapping windows share answers: per-prompt means
    are unbiased, within-prompt variances are not (the report leaves them out)."""
    m = int(pool.groupby(["task", "prompt_id"])["sample"].nunique().min())
    if not 1 <= n <= m:
        raise ValueError(f"n must be in 1..{m} (the pool's answers per prompt), got {n!r}.")
    if n_samples > m:
        raise ValueError(f"n_samples ({n_samples}) exceeds the pool's {m} answers per prompt.")
    rows = []
    for _, g in pool.sort_values("sample").groupby(["task", "prompt_id"], sort=False):
        g = g.reset_index(drop=True)
        r = g["reward"].to_numpy(dtype=float)
        kl = bon_kl_plugin(r, n)
        for k in range(int(n_samples)):
            window = [(k + i) % m for i in range(int(n))]
            best = window[int(np.argmax(r[window]))]
            row = g.iloc[best].to_dict()
            row.update(sample=k, stream=int(g.iloc[k]["stream"]), source_sample=int(best),
                       kl_plugin=kl)  # fmt: skip
            rows.append(row)
    out = pd.DataFrame(rows)
    return out.assign(method=label, bon_n=int(n), log_ratio=bon_kl(n))


def closed_form_candidates(task: str, lam: float, split: str = "test") -> dict:
    """The closed-form ``rho*`` over the fixed candidates (notebook 05) at ``lam``, cross-fitted:
    chosen on half of the table's answers, scored on the other half, and the other way round.

    Returns per-prompt gains over the original prompt (``gain``), the original's value
    (``original``) and the paired mean, t-interval and the number of prompts.
    """
    from scipy import stats

    from alignpro_lite.llm.headroom import crossfit_rho_star_gain, table_arrays

    rewards, _types, allowed, _labels, _responses = table_arrays(task, split)
    gain = crossfit_rho_star_gain(rewards, allowed, lam)
    original = np.nanmean(rewards[:, 0, :], axis=1)
    n = len(gain)
    half = float(stats.t.ppf(0.975, n - 1) * gain.std(ddof=1) / math.sqrt(n))
    return {"gain": gain, "original": original, "diff": float(gain.mean()),
            "ci_low": float(gain.mean() - half), "ci_high": float(gain.mean() + half),
            "n_prompts": n, "mean_original": float(original.mean())}  # fmt: skip
