"""Round 2 of the capstone pooled over seeds: paired differences with prompts and seeds random.

A round is ``ROOT/seed{s}/`` for the seeds run (each a :func:`~alignpro_lite.experiment.replicate.
replicate` folder: ``report/samples.csv`` and the evaluation caches ``eval/{task}/*.csv``). The
frozen model's answers do not depend on the seed (the evaluation's streams are fixed by
``EVAL_SEED``), so NoFT is the mean of its **pool** of answers per test prompt (32 in round 2,
``eval/{task}/NoFT_pool.csv``), shared by every seed; each seed's methods answer 8 times.

For a comparison ``a - b``, task and prompt ``i`` (``n`` prompts) and seed ``s`` (``S`` seeds),
``d_is = m_a,s(x_i) - m_b,s(x_i)`` (per-prompt means; NoFT's is the same for every ``s``).

* **Per seed**: mean of ``d_is`` over prompts, paired t-interval (``n - 1`` df).
* **Pooled, prompts and seeds random** (the primary estimator, :func:`crossed_mean_ci`): the
  grand mean ``d..`` with the two-way crossed ANOVA's variance
  ``se² = MS_p/(nS) + max(0, MS_s - MS_e)/(nS)``, i.e. ``σ²_p/n + σ²_s/S + σ²_e/(nS)`` estimated
  from the prompt, seed and residual mean squares, and a Satterthwaite t-interval. It carries the
  seed-to-seed variation of the fitted models (three seeds: few degrees of freedom, so the
  interval widens when the seeds disagree).
* **Pooled, conditional on the fitted models** (shown beside it): the paired t-interval over the
  prompts of the seed-averaged ``d_i.``.

Best-of-n's per-prompt value is the U-statistic of the pool (:func:`bon_ustat`): unbiased for the
expected maximum of ``n`` independent answers. Its variances are never computed (its answers are
the pool's, reused).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from alignpro_lite.atomic import file_sha256, verify_sealed
from alignpro_lite.experiment.baselines import bon_kl  # re-exported: the formula's bound

__all__ = [
    "crossed_mean_ci",
    "conditional_mean_ci",
    "bon_ustat",
    "bon_kl",
    "load_round",
    "prompt_table",
    "COMPARISONS",
    "pooled_differences",
    "variance_table",
    "gap_table",
    "frontier_table",
    "sweep_contrast",
    "lam_sweep_rows",
    "round_samples",
    "compute_table",
    "targets_table",
    "pool_round",
    "load_pooled",
]

NOFT = "NoFT"
AP = "Align-Pro"
RLHF = "RLHF"
SFT = "SFT prompter (λ=∞)"
BON = "Best-of-n"
CF = "closed-form rho* (candidates)"
COMPARISONS = ((AP, NOFT), (RLHF, NOFT), (SFT, NOFT), (BON, NOFT), (AP, SFT), (RLHF, AP), (AP, CF))
"""The preregistered pairs ``(a, b)``: ``a - b`` per task, per seed and pooled."""


# --------------------------------------------------------------------------- estimators
def _check_matrix(d) -> np.ndarray:
    d = np.asarray(d, dtype=float)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 1:
        raise ValueError(f"d must be a (prompts >= 2, seeds >= 1) array, got shape {d.shape}.")
    if not np.isfinite(d).all():
        raise ValueError("d holds NaN or infinite values: every prompt needs every seed.")
    return d


def crossed_mean_ci(d, level: float = 0.95) -> dict:
    """Grand mean of ``d`` (shape ``(n prompts, S seeds)``) and its CI with prompts and seeds
    random (two-way crossed ANOVA without replication).

    With ``MS_p = S Σ_i (d_i. - d..)² / (n-1)``, ``MS_s = n Σ_s (d_.s - d..)² / (S-1)``,
    ``MS_e = Σ (d_is - d_i. - d_.s + d..)² / ((n-1)(S-1))``:
    ``se² = a + b``, ``a = MS_p/(nS)``, ``b = max(0, MS_s - MS_e)/(nS)`` (unbiased for
    ``σ²_p/n + σ²_s/S + σ²_e/(nS)`` when ``MS_s >= MS_e``); Satterthwaite
    ``df = (a+b)² / (a²/(n-1) + b²/(S-1))``; interval ``d.. ± t_df((1+level)/2) se``.
    One seed: the paired t-interval. Returns ``mean, se, df, ci_low, ci_high, seed_sd``
    (``sqrt(max(0, MS_s - MS_e)/n)``, the seed-to-seed sd of the effect), ``n_prompts, n_seeds``.
    """
    from scipy import stats

    d = _check_matrix(d)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}.")
    n, S = d.shape
    m = float(d.mean())
    pm, sm = d.mean(axis=1), d.mean(axis=0)
    ms_p = S * float(((pm - m) ** 2).sum()) / (n - 1)
    if S == 1:
        a, b, seed_var = ms_p / n, 0.0, math.nan
    else:
        ms_s = n * float(((sm - m) ** 2).sum()) / (S - 1)
        e = d - pm[:, None] - sm[None, :] + m
        ms_e = float((e**2).sum()) / ((n - 1) * (S - 1))
        seed_var = max(0.0, ms_s - ms_e) / n
        a, b = ms_p / (n * S), seed_var / S
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (n - 1) + (b**2 / (S - 1) if S > 1 else 0.0)) if se > 0 else n - 1
    h = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {"mean": m, "se": se, "df": float(df), "ci_low": m - h, "ci_high": m + h,
            "seed_sd": math.sqrt(seed_var) if S > 1 else math.nan, "n_prompts": n,
            "n_seeds": S}  # fmt: skip


def conditional_mean_ci(d, level: float = 0.95) -> dict:
    """The paired t-interval over prompts of the seed-averaged ``d_i.``: conditional on the
    fitted models (seed-to-seed variation is not in it)."""
    d = _check_matrix(d)
    return crossed_mean_ci(d.mean(axis=1, keepdims=True), level)


def bon_ustat(r, n: int) -> float:
    """Unbiased estimate of ``E max(r_1, …, r_n)`` (``n`` independent answers) from a pool ``r``
    of ``m >= n`` independent answers: the mean of the maximum over all ``C(m, n)`` subsets,
    ``Σ_j r_(j) C(j-1, n-1) / C(m, n)`` with ``r_(1) <= … <= r_(m)``."""
    r = np.sort(np.asarray(r, dtype=float))
    m = len(r)
    if int(n) != n or not 1 <= n <= m:
        raise ValueError(f"n must be an integer in 1..{m} (the pool size), got {n!r}.")
    j = np.arange(1, m + 1)
    w = np.array([math.comb(int(k) - 1, int(n) - 1) for k in j], dtype=float) / math.comb(m, int(n))
    return float(w @ r)


# --------------------------------------------------------------------------- loading
def _verify_cache(path: Path) -> None:
    """An evaluation cache whose key (``PATH.json``) records its SHA-256 must still match it."""
    key = path.with_suffix(".json")
    recorded = (
        json.loads(key.read_text(encoding="utf-8")).get("csv_sha256") if key.is_file() else None
    )
    if recorded is not None and file_sha256(path) != recorded:
        raise ValueError(f"{path} was changed after the evaluation wrote it (its SHA-256 no longer "
                         f"matches {key}); restore it or delete both to re-evaluate.")  # fmt: skip


def load_round(root: str | Path, seeds=(0, 1, 2)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(samples, pool)``: every seed's ``report/samples.csv`` with a ``seed`` column, and NoFT's
    pool of answers (``eval/{task}/NoFT_pool.csv`` of the first seed; the others' copies must be
    identical, as the streams do not depend on the seed)."""
    root = Path(root)
    parts, pools = [], {}
    for s in seeds:
        f = root / f"seed{s}" / "report" / "samples.csv"
        if not f.is_file():
            raise ValueError(f"{f} is missing: run alignpro-lite replicate --round2 --seed {s} "
                             f"--out {root / f'seed{s}'} first.")  # fmt: skip
        verify_sealed(f.parent, files=("samples.csv",))  # an edited seed report is refused
        parts.append(pd.read_csv(f).assign(seed=s))
        for p in sorted((root / f"seed{s}" / "eval").glob("*/NoFT_pool.csv")):
            _verify_cache(p)
            pools.setdefault(p.parent.name, []).append(pd.read_csv(p))
    if not pools:
        raise ValueError(f"no eval/*/NoFT_pool.csv under {root}/seed*: the NoFT pool is needed.")
    pool = []
    for task, frames in pools.items():
        key = ["prompt_id", "sample", "reward"]
        for f in frames[1:]:
            if not f[key].reset_index(drop=True).equals(frames[0][key].reset_index(drop=True)):
                raise ValueError(f"the NoFT pools of {task} differ between seeds: they must be "
                                 "the same answers (one EVAL_SEED).")  # fmt: skip
        pool.append(frames[0].assign(task=task))
    return pd.concat(parts, ignore_index=True), pd.concat(pool, ignore_index=True)


def prompt_table(samples: pd.DataFrame, pool: pd.DataFrame, col: str = "reward",
                 closed_form=None) -> pd.DataFrame:  # fmt: skip
    """Per-prompt means: index ``(task, prompt_id)``, columns ``(method, seed)``. NoFT is the
    mean of the pool (every seed), best-of-n its U-statistic at the seed's ``bon_n``;
    ``closed_form(task, lam)`` (e.g. :func:`~alignpro_lite.experiment.baselines.
    closed_form_candidates`, whose ``original + gain`` per prompt is used, at the λ of the seed's
    Align-Pro) adds the closed-form rho* over the candidate rewrites (test table: the frozen
    model's own answers to them, cross-fitted; paired with the methods by prompt only)."""
    main = samples[~samples["method"].str.startswith(("Align-Pro λ=", "RLHF β="))]
    main = main[~main["method"].isin([NOFT, BON])]
    t = (
        main.groupby(["task", "prompt_id", "method", "seed"])[col]
        .mean()
        .unstack(["method", "seed"])
    )
    noft = pool.groupby(["task", "prompt_id"])[col].mean()
    seeds = sorted(samples["seed"].unique())
    for s in seeds:
        t[(NOFT, s)] = noft.reindex(t.index).to_numpy()
        b = samples[(samples["method"] == BON) & (samples["seed"] == s)]
        for task in b["task"].unique():
            n = int(b.loc[b["task"] == task, "bon_n"].iloc[0])
            g = pool[pool["task"] == task].groupby("prompt_id")[col]
            u = g.apply(lambda r, n=n: bon_ustat(r.to_numpy(), n))
            idx = t.index.get_level_values("task") == task
            t.loc[idx, (BON, s)] = u.reindex(t.index[idx].get_level_values("prompt_id")).to_numpy()
        if closed_form:
            for task in t.index.get_level_values("task").unique():
                a = samples[(samples["method"] == AP) & (samples["seed"] == s)
                            & (samples["task"] == task)]  # fmt: skip
                if a.empty:
                    continue
                cf = closed_form(task, float(a["lam"].iloc[0]))
                idx = t.index.get_level_values("task") == task
                ids = t.index[idx].get_level_values("prompt_id")
                t.loc[idx, (CF, s)] = (cf["original"] + cf["gain"])[ids]
    return t.sort_index(axis=1)


# --------------------------------------------------------------------------- tables
def pooled_differences(table: pd.DataFrame, pairs=COMPARISONS, level: float = 0.95) -> pd.DataFrame:
    """One row per (task, a, b, seed or "pooled"): the mean of ``a - b`` over prompts with its
    CI — per seed (paired t), pooled with prompts and seeds random (``estimator = "crossed"``,
    primary) and pooled conditional on the fits (``"conditional"``)."""
    rows = []
    for task in table.index.get_level_values("task").unique():
        g = table.loc[task]
        for a, b in pairs:
            if a not in g.columns.get_level_values(0) or b not in g.columns.get_level_values(0):
                continue
            seeds = sorted(set(g[a].columns) & set(g[b].columns))
            d = (g[a][seeds] - g[b][seeds]).to_numpy()
            if np.isnan(d).all():
                continue
            base = {"task": task, "a": a, "b": b, "mean_a": float(np.nanmean(g[a][seeds])),
                    "mean_b": float(np.nanmean(g[b][seeds]))}  # fmt: skip
            for j, s in enumerate(seeds):
                r = crossed_mean_ci(d[:, [j]], level)
                rows.append({**base, "seed": str(s), "estimator": "paired t", **r})
            for est, f in (("crossed", crossed_mean_ci), ("conditional", conditional_mean_ci)):
                rows.append({**base, "seed": "pooled", "estimator": est, **f(d, level)})
    out = pd.DataFrame(rows)
    out["significant"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    return out


def _variances(r: np.ndarray) -> tuple[float, float]:
    """(total, within) variance of a (prompts, answers) array, ddof 1 each."""
    return float(np.var(r.reshape(-1), ddof=1)), float(np.mean(np.var(r, axis=1, ddof=1)))


def _answers(df: pd.DataFrame, col: str) -> np.ndarray:
    return df.pivot_table(index="prompt_id", columns="sample", values=col).sort_index().to_numpy()


def variance_table(samples: pd.DataFrame, pool: pd.DataFrame, col: str = "reward",
                   n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Total and within-prompt variance (ddof 1) per task, method and seed (and their mean over
    seeds), with the difference to NoFT (its pool) and a percentile-bootstrap 95% CI over prompts
    (the same prompt resample for the method and NoFT). Best-of-n is left out: its answers are
    the pool's, reused by overlapping windows."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in pool["task"].unique():
        r0 = _answers(pool[pool["task"] == task], col)
        n = r0.shape[0]
        idx = rng.integers(0, n, size=(n_boot, n))
        v0 = _variances(r0)
        rows.append({"task": task, "method": NOFT, "seed": "all", "total": v0[0], "within": v0[1],
                     "n_answers": r0.shape[1]})  # fmt: skip
        for method in (AP, SFT, RLHF):
            per_seed = []
            for s in sorted(samples["seed"].unique()):
                g = samples[(samples["task"] == task) & (samples["method"] == method)
                            & (samples["seed"] == s)]  # fmt: skip
                if g.empty:
                    continue
                r = _answers(g, col)
                per_seed.append(r)
                v = _variances(r)
                rows.append({"task": task, "method": method, "seed": str(s), "total": v[0],
                             "within": v[1], "n_answers": r.shape[1]})  # fmt: skip
            if not per_seed:
                continue
            vs = np.array([_variances(r) for r in per_seed]).mean(axis=0)
            boot = np.array([[np.mean([_variances(r[i])[k] for r in per_seed]) - _variances(r0[i])[k]
                              for k in (0, 1)] for i in idx])  # fmt: skip
            lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
            rows.append({"task": task, "method": method, "seed": "mean", "total": vs[0],
                         "within": vs[1], "n_answers": per_seed[0].shape[1],
                         "total_minus_noft": vs[0] - v0[0], "total_ci_low": lo[0],
                         "total_ci_high": hi[0], "within_minus_noft": vs[1] - v0[1],
                         "within_ci_low": lo[1], "within_ci_high": hi[1]})  # fmt: skip
    return pd.DataFrame(rows)


def gap_table(table: pd.DataFrame, diffs: pd.DataFrame, n_boot: int = 4000, seed: int = 0,
              level: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """Gap closed ``G = (J_AP - J_NoFT) / (J_RLHF - J_NoFT)`` per task (pooled over seeds), with a
    percentile-bootstrap CI resampling prompts and seeds (both with replacement). ``G`` is
    ``"undefined"`` (NaN, with the reason) where RLHF - NoFT's pooled crossed CI does not
    exclude 0 or is negative (the preregistered rule): a ratio over a denominator not
    distinguishable from 0 is not a fraction of a gap."""
    rng = np.random.default_rng(seed)
    rows = []
    for task in table.index.get_level_values("task").unique():
        g = table.loc[task]
        seeds = sorted(set(g[AP].columns) & set(g[RLHF].columns))
        num = (g[AP][seeds] - g[NOFT][seeds]).to_numpy()
        den = (g[RLHF][seeds] - g[NOFT][seeds]).to_numpy()
        pr = diffs[(diffs["task"] == task) & (diffs["a"] == RLHF) & (diffs["b"] == NOFT)
                   & (diffs["estimator"] == "crossed")].iloc[0]  # fmt: skip
        row = {"task": task, "ap_minus_noft": float(num.mean()),
               "rlhf_minus_noft": float(den.mean()), "seeds": len(seeds)}  # fmt: skip
        if not pr["ci_low"] > 0:
            rows.append({**row, "gap_closed": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                         "status": "undefined: RLHF - NoFT's pooled CI does not exclude 0 "
                                   f"[{pr['ci_low']:+.3f}, {pr['ci_high']:+.3f}]"})  # fmt: skip
            continue
        n, S = num.shape
        bi = rng.integers(0, n, size=(n_boot, n))
        bs = rng.integers(0, S, size=(n_boot, S))
        ratios = np.array(
            [num[i][:, s].mean() / den[i][:, s].mean() for i, s in zip(bi, bs, strict=True)]
        )
        a = (1 - level) / 2
        rows.append({**row, "gap_closed": float(num.mean() / den.mean()),
                     "ci_low": float(np.nanpercentile(ratios, 100 * a)),
                     "ci_high": float(np.nanpercentile(ratios, 100 * (1 - a))), "status": "defined"})  # fmt: skip
    return pd.DataFrame(rows)


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    r = crossed_mean_ci(np.asarray(x, dtype=float)[:, None])
    return r["mean"], r["ci_low"], r["ci_high"]


def frontier_table(samples: pd.DataFrame, pool: pd.DataFrame, task: str = "kindness",
                   bon_ns=(1, 2, 4, 8, 16)) -> pd.DataFrame:  # fmt: skip
    """The reward-KL frontier of one seed's refits on ``task``: Align-Pro at each λ (KL per token
    of its rewrites to rho_sft), RLHF at each β (of its answers to pi_ref), best-of-n at each
    ``n`` (the formula's KL, an upper bound, and the pool's U-statistic); each point's mean KL
    and reward with 95% t-intervals over prompts, and ``slope``: ΔJ/ΔKL to the next point of
    the same method in order of KL (theory: λ, β at the exact frontier). ``noft_same_streams``
    and ``gain`` (with its paired t-interval): NoFT's mean on the same answer streams as the point
    (the refits answer on streams 0-3, the main fits on 0-7, best-of-n uses the whole pool), and
    the point's paired gain over it — the streams differ in luck, so rewards of points with
    different numbers of answers are compared through ``gain``, not ``reward``."""
    s = samples[samples["task"] == task]
    rows = []
    groups = [("Align-Pro", "lam", s[s["method"].str.startswith("Align-Pro λ=")
                                     & ~s["method"].str.contains("route")]),
              ("RLHF", "beta", s[s["method"].str.startswith("RLHF β=") | (s["method"] == RLHF)])]  # fmt: skip
    for method, wcol, g in groups:
        for (label, w), h in g.groupby(["method", wcol], dropna=False):
            per = h.groupby("prompt_id")[["reward", "kl_tok"]].mean()
            kl = _mean_ci(per["kl_tok"]) if per["kl_tok"].notna().all() else (math.nan,) * 3
            rw = _mean_ci(per["reward"])
            same = pool[(pool["task"] == task) & pool["sample"].isin(set(h["sample"]))]
            noft = same.groupby("prompt_id")["reward"].mean().reindex(per.index)
            gain = _mean_ci((per["reward"] - noft).to_numpy())
            rows.append({"task": task, "method": method, "label": label, "weight": float(w),
                         "n_answers": int(h.groupby("prompt_id").size().min()),
                         "kl": kl[0], "kl_low": kl[1], "kl_high": kl[2], "reward": rw[0],
                         "reward_low": rw[1], "reward_high": rw[2],
                         "noft_same_streams": float(noft.mean()), "gain": gain[0],
                         "gain_low": gain[1], "gain_high": gain[2],
                         "kl_estimator": "per-token, own space"})  # fmt: skip
    p = pool[pool["task"] == task]
    m = int(p.groupby("prompt_id").size().min())
    for n in [n for n in bon_ns if n <= m]:  # the pool bounds n
        u = p.groupby("prompt_id")["reward"].apply(lambda r, n=n: bon_ustat(r.to_numpy(), n))
        rw = _mean_ci(u)
        noft = p.groupby("prompt_id")["reward"].mean().reindex(u.index)
        gain = _mean_ci((u - noft).to_numpy())
        rows.append({"task": task, "method": "Best-of-n", "label": f"Best-of-{n}", "weight": float(n),
                     "n_answers": int(p.groupby("prompt_id").size().min()), "kl": bon_kl(n),
                     "kl_low": math.nan, "kl_high": math.nan, "reward": rw[0], "reward_low": rw[1],
                     "reward_high": rw[2], "noft_same_streams": float(noft.mean()), "gain": gain[0],
                     "gain_low": gain[1], "gain_high": gain[2],
                     "kl_estimator": "log n - (n-1)/n (upper bound)"})  # fmt: skip
    out = pd.DataFrame(rows)
    out["slope"] = math.nan
    for _, g in out.groupby("method"):
        g = g.sort_values("kl")
        dk, dj = g["kl"].diff().shift(-1), g["reward"].diff().shift(-1)
        out.loc[g.index, "slope"] = (dj / dk).to_numpy()
    return out


def monotone_in_weight(frontier: pd.DataFrame, method: str) -> bool:
    """Whether a method's mean KL falls strictly as its weight (λ or β) rises (for best-of-n:
    rises with ``n``)."""
    g = frontier[frontier["method"] == method].sort_values("weight")
    k = g["kl"].to_numpy()
    return bool(np.all(np.diff(k) > 0)) if method == "Best-of-n" else bool(np.all(np.diff(k) < 0))


def lam_sweep_rows(samples: pd.DataFrame, task: str = "kindness", seed: int = 0) -> pd.DataFrame:
    """One seed's Align-Pro refits on ``task`` (``Align-Pro λ=…``, λ = ∞ the SFT prompter refit)
    as :func:`~alignpro_lite.experiment.lam_sweep.sweep_table` rows: per λ the mean reward, the
    total and within-prompt variance and the per-token KL to rho_sft, with prompt-clustered
    95% CIs — what notebook 08's λ dashboard moves over. Empty when the seed has none."""
    from alignpro_lite.experiment.lam_sweep import sweep_table

    s = samples[(samples["task"] == task) & (samples["seed"] == seed)
                & samples["method"].str.startswith("Align-Pro λ=")]  # fmt: skip
    if s.empty:
        return pd.DataFrame()
    return sweep_table(s, pd.DataFrame({"lam": sorted(s["lam"].unique())}))


def sweep_contrast(samples: pd.DataFrame, task: str = "kindness", seed: int = 0,
                   factor: float = 16.0, level: float = 0.95) -> pd.DataFrame:  # fmt: skip
    """Align-Pro at its λ0 minus Align-Pro refitted at ``factor`` × λ0, from one seed's frontier
    refits (``Align-Pro λ=…`` rows: the same number of answers each, paired by prompt and
    stream): the mean over prompts of the per-prompt mean difference with its paired
    t-interval; reward and per-token KL (``kl_tok``, to rho_sft) both. Empty when the seed has no
    such refits."""
    s = samples[(samples["task"] == task) & (samples["seed"] == seed)]
    main = s[s["method"] == AP]
    sweep = s[s["method"].str.startswith("Align-Pro λ=")]
    if main.empty or sweep.empty:
        return pd.DataFrame()
    lam0 = float(main["lam"].iloc[0])
    lams = sweep.groupby("method")["lam"].first()

    def pick(lam):
        k = lams[np.isclose(lams.to_numpy(dtype=float), lam, rtol=1e-3)]
        if k.empty:
            raise ValueError(f"seed {seed} {task}: no Align-Pro refit at λ = {lam:.4g} among "
                             f"{sorted(lams)}; run replicate --round2 --seed {seed} to make it.")  # fmt: skip
        return k.index[0]

    a, b = pick(lam0), pick(factor * lam0)
    key = ["prompt_id", "sample"]
    m = sweep[sweep["method"] == a].merge(
        sweep[sweep["method"] == b], on=key, suffixes=("_a", "_b")
    )
    if not (m["stream_a"] == m["stream_b"]).all():
        raise ValueError(f"{a} and {b} were not answered on the same streams: cannot pair them.")
    rows = []
    for col in ("reward", "kl_tok"):
        if f"{col}_a" not in m or m[f"{col}_a"].isna().any():
            continue
        d = (m[f"{col}_a"] - m[f"{col}_b"]).groupby(m["prompt_id"]).mean().to_numpy()
        r = crossed_mean_ci(d[:, None], level)
        rows.append({"task": task, "a": f"Align-Pro λ0 ({a.split('=')[1]})",
                     "b": f"Align-Pro {factor:g}λ0 ({b.split('=')[1]})", "measure": col,
                     "mean_a": float(m[f"{col}_a"].mean()), "mean_b": float(m[f"{col}_b"].mean()),
                     "seed": str(seed), "estimator": "paired t (by stream)",
                     "n_answers": int(m.groupby("prompt_id").size().min()), **r})  # fmt: skip
    out = pd.DataFrame(rows)
    out["significant"] = (out["ci_low"] > 0) | (out["ci_high"] < 0)
    return out


SAMPLE_COLUMNS = ("seed", "task", "method", "prompt_id", "prompt_key", "sample", "stream", "reward",
                  "gold", "refusal", "copy", "kl_tok", "lam", "beta", "bon_n")  # fmt: skip


def round_samples(samples: pd.DataFrame, pool: pd.DataFrame, seeds) -> pd.DataFrame:
    """Every answer of the round in one table, without the texts (each seed's
    ``report/samples.csv`` has them): each seed's methods, and NoFT's pool (32 answers per
    prompt, the same for every seed) repeated under each seed so that a seed's rows are a
    complete paired comparison. Best-of-n is not a row: its value is the pool's U-statistic."""
    own = samples[samples["method"] != BON]
    own = own[own["method"] != NOFT]  # the pool is NoFT's answers (its first 8 included)
    parts = [own]
    for s in seeds:
        parts.append(pool.assign(seed=s, method=NOFT))
    out = pd.concat(parts, ignore_index=True)
    cols = [c for c in SAMPLE_COLUMNS if c in out.columns]
    return out[cols].sort_values(["seed", "task", "method", "prompt_id", "sample"], kind="stable")


def compute_table(root: str | Path, seeds) -> pd.DataFrame:
    """Seconds per stage and seed, summed over every call that worked on it (resumed runs
    included), from the stages' own records: the bank manifests (``bank/{task}/manifest.json``),
    the fits (``*/fit.json``) and the evaluation's seconds in the call that wrote
    ``report/report.json``, or, where that call only verified the caches, ``ROOT/timings.csv``
    (``seed, evaluation_s``: the wall time from the last fit to the last evaluation cache)."""
    root = Path(root)
    rows = []
    wall = {}
    if (root / "timings.csv").is_file():  # seed, evaluation_s: wall times of whole evaluations
        t = pd.read_csv(root / "timings.csv")
        wall = {int(r.seed): float(r.evaluation_s) for r in t.itertuples()}
    for s in seeds:
        d = root / f"seed{s}"
        bank = 0.0
        for m in sorted(d.glob("bank/*/manifest.json")):
            st = json.loads(m.read_text(encoding="utf-8")).get("stages", {})
            bank += sum(float(v.get("seconds", 0.0)) for v in st.values())
        fits = {"main": 0.0, "frontier": 0.0}
        for f in sorted(d.glob("**/fit.json")):
            info = json.loads(f.read_text(encoding="utf-8"))
            fits["frontier" if "sweep" in f.parts else "main"] += float(info.get("seconds", 0.0))
        rep = d / "report" / "report.json"
        meta = json.loads(rep.read_text(encoding="utf-8")) if rep.is_file() else {}
        ev = meta.get("seconds_this_call", {}).get("evaluation")
        if s in wall:  # the evaluation's wall time, recorded when its call did not write the report
            ev = wall[s]
        rows.append({"seed": s, "bank_s": round(bank, 1), "fits_s": round(fits["main"], 1),
                     "frontier_fits_s": round(fits["frontier"], 1),
                     "evaluation_s_last_call": ev,
                     "threads": meta.get("threads"), "machine": meta.get("machine")})  # fmt: skip
    return pd.DataFrame(rows)


def report_json(path: Path, meta: dict) -> None:
    """The round report's ``report.json``: ``meta`` and the SHA-256 of every other file of the
    set (:func:`~alignpro_lite.atomic.write_sealed_json`)."""
    from alignpro_lite.atomic import write_sealed_json

    write_sealed_json(path.parent, path.name, meta, default=str)


# --------------------------------------------------------------------------- the round's report
POWER_STATUS = {("kindness", RLHF): "confirmatory", ("helpfulness", RLHF): "confirmatory",
                ("kindness", AP): "estimation", ("helpfulness", AP): "estimation",
                ("harmlessness", RLHF): "control", ("harmlessness", AP): "control"}  # fmt: skip
"""Each (task, method) cell's status in the round-2 preregistration (its power analysis)."""
PREDICTED = {("kindness", AP): 0.059, ("kindness", RLHF): 0.153, ("helpfulness", AP): 0.056,
             ("helpfulness", RLHF): 0.176, ("harmlessness", AP): 0.030,
             ("harmlessness", RLHF): 0.014}  # fmt: skip
"""The preregistered predicted effect − NoFT of each cell (train data, fit-shrunk)."""
ROUND2_FILES = ("per_seed.csv", "pooled.csv", "variance.csv", "gap.csv", "frontier.csv",
                "targets.csv", "compute.csv", "samples.csv", "sweep.csv", "report.json")  # fmt: skip


def targets_table(diffs: pd.DataFrame, variance: pd.DataFrame, gap: pd.DataFrame,
                  frontier: pd.DataFrame | None, compute: pd.DataFrame | None = None,
                  control: str = "harmlessness") -> pd.DataFrame:  # fmt: skip
    """The preregistered targets of round 2, each with its expectation, what was observed and
    whether it was met (``met``: the observation is what was expected; ``None`` for a control's
    estimate, judged by the control's own rows; target 5: the ``control`` task's four predictions; target 8: the bank
    ≤ 45 min and the fits ≤ 60 min of seeds 1 and 2, from ``compute``; the evaluation's share of
    the 60 minutes is judged in the notebook from the calls' own timings)."""
    crossed = diffs[(diffs["estimator"] == "crossed")].set_index(["task", "a", "b"])
    rows = []

    def cell(task, m):
        r = crossed.loc[(task, m, NOFT)]
        return r, f"{r['mean']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"

    tasks = list(dict.fromkeys(diffs["task"]))
    for task in tasks:
        for m in (RLHF, AP):
            if (task, m, NOFT) not in crossed.index:
                continue
            r, txt = cell(task, m)
            status = POWER_STATUS.get((task, m), "estimation")
            if status == "control":  # judged by its four predictions below, not by "> 0"
                rows.append({"target": "5", "task": task, "what": f"{m} − NoFT (control: estimate)",
                             "expected": f"{PREDICTED.get((task, m), math.nan):+.3f}",
                             "observed": txt, "met": None})  # fmt: skip
                continue
            target = "1" if (m == RLHF and status == "confirmatory") else "2"
            rows.append({"target": target, "task": task, "what": f"{m} − NoFT > 0 ({status})",
                         "expected": f"{PREDICTED.get((task, m), math.nan):+.3f}",
                         "observed": txt, "met": bool(r["ci_low"] > 0)})  # fmt: skip
    for g in gap.itertuples():
        obs = (
            g.status
            if g.status != "defined"
            else f"{g.gap_closed:.2f} [{g.ci_low:.2f}, {g.ci_high:.2f}]"
        )
        exp = {"kindness": "0.39", "helpfulness": "0.32", "harmlessness": "undefined"}.get(
            g.task, ""
        )
        met = (g.status != "defined") if exp == "undefined" else (g.status == "defined")
        rows.append({"target": "3", "task": g.task, "what": "gap closed (met: defined or not, as predicted)",
                     "expected": exp, "observed": obs, "met": bool(met)})  # fmt: skip
    v = variance[(variance["method"] == AP) & (variance["seed"] == "mean")]
    below = int((v["total_minus_noft"] < 0).sum())
    rows.append({"target": "4", "task": "all", "what": "Align-Pro total variance < NoFT's on ≥ 2/3",
                 "expected": "weakly (3/3 predicted, inside the noise)",
                 "observed": f"{below}/{len(v)}: " + ", ".join(f"{r.task} {r.total_minus_noft:+.4f}" for r in v.itertuples()),
                 "met": below >= 2})  # fmt: skip
    for task in tasks:
        if (task, AP, NOFT) not in crossed.index or (task, RLHF, NOFT) not in crossed.index:
            continue
        a, r = crossed.loc[(task, AP, NOFT), "mean"], crossed.loc[(task, RLHF, NOFT), "mean"]
        exp = "no" if task == "harmlessness" else "yes"
        shape = bool(0 < a < r)
        rows.append({"target": "6", "task": task,
                     "what": "paper's shape NoFT < Align-Pro < RLHF (met: as predicted)",
                     "expected": exp, "observed": f"{'yes' if shape else 'no'}: AP {a:+.3f}, RLHF {r:+.3f}",
                     "met": shape == (exp == "yes")})  # fmt: skip
    if control in tasks and (control, AP, NOFT) in crossed.index:
        ap, rl = crossed.loc[(control, AP, NOFT)], crossed.loc[(control, RLHF, NOFT)]
        w = variance[(variance["task"] == control) & (variance["method"] == AP)
                     & (variance["seed"] == "mean")]  # fmt: skip
        g = gap[gap["task"] == control]
        checks = [
            ("Align-Pro − NoFT ≈ +0.03, CI includes 0", f"{ap['mean']:+.3f} [{ap['ci_low']:+.3f}, {ap['ci_high']:+.3f}]",
             bool(ap["ci_low"] <= 0 <= ap["ci_high"])),
            ("RLHF − NoFT ≈ +0.014, not significant", f"{rl['mean']:+.3f} [{rl['ci_low']:+.3f}, {rl['ci_high']:+.3f}]",
             bool(rl["ci_low"] <= 0 <= rl["ci_high"])),
            ("Align-Pro within-prompt variance above NoFT's", "" if w.empty else
             f"{w['within_minus_noft'].iloc[0]:+.4f} [{w['within_ci_low'].iloc[0]:+.4f}, {w['within_ci_high'].iloc[0]:+.4f}]",
             bool(not w.empty and w["within_minus_noft"].iloc[0] > 0)),
            ("gap closed undefined", "" if g.empty else str(g["status"].iloc[0]),
             bool(not g.empty and g["status"].iloc[0] != "defined")),
        ]  # fmt: skip
        for what, obs, met in checks:
            rows.append({"target": "5", "task": control, "what": f"control: {what}",
                         "expected": "yes", "observed": obs, "met": met})  # fmt: skip
    if frontier is not None and not frontier.empty:
        for m in ("Align-Pro", "RLHF"):
            g = frontier[frontier["method"] == m].sort_values("weight")
            g = g[np.isfinite(g["weight"])]
            rows.append({"target": "7", "task": frontier["task"].iloc[0],
                         "what": f"{m}: KL strictly decreasing in {'λ' if m == 'Align-Pro' else 'β'}",
                         "expected": "yes", "observed": ", ".join(f"{k:.3g}" for k in g["kl"]),
                         "met": bool(np.all(np.diff(g["kl"].to_numpy()) < 0))})  # fmt: skip
    if compute is not None and not compute.empty:
        for c in compute[compute["seed"] != 0].itertuples():
            rows.append({"target": "8", "task": f"seed {c.seed}", "what": "bank ≤ 45 min",
                         "expected": "yes", "observed": f"{c.bank_s / 60:.1f} min",
                         "met": bool(c.bank_s <= 45 * 60)})  # fmt: skip
            ev = c.evaluation_s_last_call
            timed = (
                ev is not None and np.isfinite(ev) and ev >= 300
            )  # a verifying call reads caches
            obs = f"fits {c.fits_s / 60:.1f} min" + (
                f" + evaluation {ev / 60:.1f} min" if timed else
                "; the evaluation was not timed within one call (its report was rewritten by a "
                "verifying call)"
            )  # fmt: skip
            over = c.fits_s > 60 * 60 or (timed and c.fits_s + ev > 60 * 60)
            met = False if over else (True if timed else None)
            rows.append({"target": "8", "task": f"seed {c.seed}", "what": "fits + evaluation ≤ 60 min",
                         "expected": "yes", "observed": obs, "met": met})  # fmt: skip
    return pd.DataFrame(rows)


def pool_round(root: str | Path, out: str | Path | None = None, seeds=(0, 1, 2),
               frontier_seed: int = 0, frontier_task: str = "kindness") -> dict:  # fmt: skip
    """Every table of round 2 from ``ROOT/seed{s}/``, written as one set into ``out`` (default
    ``ROOT/report``): per-seed and pooled differences, variances, gap closed, the frontier of
    ``frontier_seed`` and the targets."""
    import time

    from alignpro_lite.atomic import check_out_dir, staged_dir
    from alignpro_lite.experiment.baselines import closed_form_candidates

    t0 = time.perf_counter()
    root = Path(root)
    out = check_out_dir(out or root / "report", ROUND2_FILES, flag="--out")
    samples, pool = load_round(root, seeds)
    table = prompt_table(samples, pool, closed_form=closed_form_candidates)
    diffs = pooled_differences(table)
    variance = variance_table(samples, pool)
    gap = gap_table(table, diffs)
    s0 = samples[samples["seed"] == frontier_seed]
    frontier = frontier_table(s0, pool, frontier_task) if frontier_seed in seeds else pd.DataFrame()
    compute = compute_table(root, seeds)
    targets = targets_table(diffs, variance, gap, frontier, compute)
    per_seed = diffs[diffs["seed"] != "pooled"].assign(measure="reward")
    if frontier_seed in seeds:
        per_seed = pd.concat([per_seed, sweep_contrast(samples, frontier_task, frontier_seed)],
                             ignore_index=True)  # fmt: skip
    tables = {"per_seed": per_seed, "pooled": diffs[diffs["seed"] == "pooled"],
              "variance": variance, "gap": gap, "frontier": frontier, "targets": targets,
              "compute": compute, "samples": round_samples(samples, pool, seeds),
              "sweep": lam_sweep_rows(samples, frontier_task, frontier_seed)}  # fmt: skip
    with staged_dir(out, flag="--out", owned=ROUND2_FILES) as tmp:
        for name, df in tables.items():
            df.to_csv(tmp / f"{name}.csv", index=False)
        report_json(tmp / "report.json", {"root": str(root), "seeds": list(seeds),
                                          "frontier_seed": frontier_seed,
                                          "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
    return tables


def load_pooled(folder: str | Path) -> dict:
    """The tables :func:`pool_round` wrote into ``folder`` (``runs/round2/report``), by name
    (``per_seed``, ``pooled``, …, ``samples``), and ``meta`` (its ``report.json``)."""
    folder = Path(folder)
    missing = [f for f in ROUND2_FILES if not (folder / f).is_file()]
    if missing:
        raise ValueError(f"{folder}: {', '.join(missing)} missing; run alignpro-lite pool --runs "
                         f"{folder.parent} to write the round's report.")  # fmt: skip
    verify_sealed(folder)  # every table as pool_round wrote it
    out = {}
    for f in ROUND2_FILES:
        if f.endswith(".csv"):
            try:
                out[f[:-4]] = pd.read_csv(folder / f)
            except pd.errors.EmptyDataError:  # a table the round has no rows for
                out[f[:-4]] = pd.DataFrame()
    out["meta"] = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    return out
