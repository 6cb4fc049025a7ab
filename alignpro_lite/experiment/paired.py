"""Paired statistics for the evaluation samples: every method answers the same prompts.

``samples`` has one row per ``(task, method, prompt_id, sample)`` with a score column (``reward``,
the training reward, or ``gold``, a held-out judge). Each method answers the same prompts ``x``
with the same samples ``k = 0..K-1``, and sample ``k`` of prompt ``x`` uses the same random stream
for every method (common random numbers). So methods are compared PAIRED: by prompt, through the
per-prompt means, and where needed by ``(prompt, k)``. The prompt is the unit of replication:
answers to one prompt are correlated, so every interval resamples or counts prompts, never single
answers (except the Wilson interval of :func:`win_rates`, see there).

With ``r_m(x, k)`` the score of method ``m`` on sample ``k`` of prompt ``x``, ``K_x`` samples of
prompt ``x`` and ``n`` prompts:

* per-prompt mean (:func:`prompt_means`): ``m_m(x) = (1/K_x) sum_k r_m(x, k)``;
  ``J_m = (1/n) sum_x m_m(x)``;
* paired difference (:func:`paired_difference`): ``d(x) = m_a(x) - m_b(x)``,
  ``diff = mean_x d(x) = J_a - J_b``, ``se = sd(d, ddof=1) / sqrt(n)``, ``t = diff / se``,
  ``p_t = 2 P(T_{n-1} > |t|)`` (the paired t-test, ``scipy.stats.ttest_rel``),
  t-interval ``diff ± t_{n-1, (1+level)/2} se``;
* gap closed (:func:`gap_closed`): ``gap = (J_ap - J_base) / (J_rlhf - J_base)``;
* variances (:func:`variance_table`): ``variance = sum_{x,k} (r(x,k) - rbar)^2 / (N - 1)``
  over all ``N = sum_x K_x`` answers, ``var_within = mean_x sum_k (r(x,k) - m(x))^2 / (K_x - 1)``;
* win rate (:func:`win_rates`): on each pair ``(x, k)``, ``a`` wins if ``r_a(x,k) > r_b(x,k)``,
  loses if ``<``, ties if ``=``; ``win_rate = wins / (wins + losses)`` with a Wilson interval
  (:func:`wilson`).

Bootstrap: the percentile interval from ``n_boot`` resamples of the PROMPTS with replacement.
For each task one ``(n_boot, n)`` index matrix ``I`` is drawn with
``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))`` and every statistic is evaluated on
every row of ``I`` at once (no loop over resamples); the interval is the ``(1-level)/2`` and
``(1+level)/2`` quantiles (numpy's default linear interpolation) of the ``n_boot`` values. Each
task gets a fresh generator from ``seed``, so a task's interval does not depend on which other
tasks are in the frame, and the methods of a task share the same resamples (paired). Memory is
``O(n_boot * n)`` per task.

With fewer than 2 prompts in a task every interval (and ``se``, ``t``, ``p_t``) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from scipy import stats

KEYS = ["task", "method", "prompt_id", "sample"]
NOT_BEATEN = "RLHF does not beat the base"

PAIRED_COLUMNS = [
    "task", "a", "b", "n_prompts", "mean_a", "mean_b", "diff", "se", "t", "p_t",
    "ci_t_low", "ci_t_high", "ci_boot_low", "ci_boot_high", "significant",
]  # fmt: skip
GAP_COLUMNS = [
    "task", "ap", "rlhf", "base", "n_prompts", "mean_ap", "mean_rlhf", "mean_base", "gap",
    "ci_low", "ci_high", "frac_denominator_nonpositive", "note",
]  # fmt: skip
VARIANCE_COLUMNS = [
    "task", "method", "n_prompts", "n_samples", "variance", "variance_ci_low",
    "variance_ci_high", "var_within", "var_within_ci_low", "var_within_ci_high",
]  # fmt: skip
VARIANCE_DIFF_COLUMNS = [
    "task", "a", "b", "n_prompts", "variance_a", "variance_b", "variance_diff",
    "variance_diff_ci_low", "variance_diff_ci_high", "var_within_a", "var_within_b",
    "var_within_diff", "var_within_diff_ci_low", "var_within_diff_ci_high",
]  # fmt: skip
WIN_COLUMNS = [
    "task", "a", "b", "n_pairs", "wins", "losses", "ties", "win_rate", "ci_low", "ci_high",
    "tie_rate",
]  # fmt: skip

NAN = float("nan")


# --------------------------------------------------------------------------- input checks
def _check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float | np.integer | np.floating):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def _check_boot(n_boot, seed) -> tuple[int, int]:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(
            f"n_boot must be an integer >= 100 (percentile intervals need many resamples; "
            f"10_000 is the default), got {n_boot!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return int(n_boot), int(seed)


def _check_frame(samples, col: str) -> None:
    if not isinstance(samples, pd.DataFrame):
        raise ValueError(
            f"samples must be a pandas DataFrame with columns {KEYS + [col]}, "
            f"got {type(samples).__name__}."
        )
    missing = [c for c in [*KEYS, col] if c not in samples.columns]
    if missing:
        which = "col" if missing == [col] else "samples"
        raise ValueError(
            f"{which}: samples lacks the column(s) {missing}; it has {list(samples.columns)}."
        )
    if not pd.api.types.is_numeric_dtype(samples[col]) or pd.api.types.is_bool_dtype(samples[col]):
        raise ValueError(
            f"col={col!r} must be a numeric column of samples, got dtype {samples[col].dtype}."
        )
    if samples.empty:
        raise ValueError(
            "samples is empty; it needs one row per (task, method, prompt_id, sample)."
        )


def _show(v) -> str:
    """``repr`` of a key value, without numpy's ``np.int64(...)`` wrapper."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _available(samples: pd.DataFrame) -> list:
    return list(pd.unique(samples["method"]))


def _check_methods(samples: pd.DataFrame, **named) -> None:
    """Every ``name=value`` is a method of ``samples``; the error names the argument."""
    available = _available(samples)
    for arg, value in named.items():
        if value not in available:
            raise ValueError(f"{arg}={value!r} is not a method in samples; available: {available}.")


def _check_values(df: pd.DataFrame, col: str) -> None:
    bad = ~np.isfinite(df[col].to_numpy(dtype=float))
    if bad.any():
        row = df.loc[bad].iloc[0]
        raise ValueError(
            f"samples[{col!r}] has {int(bad.sum())} NaN or infinite values among the rows used "
            f"(e.g. task={_show(row['task'])}, method={_show(row['method'])}, "
            f"prompt_id={_show(row['prompt_id'])}, sample={_show(row['sample'])}); drop those rows or pick "
            "another col."
        )


def _check_unique(df: pd.DataFrame) -> None:
    dup = df.duplicated(KEYS, keep=False)
    if dup.any():
        row = df.loc[dup].iloc[0]
        raise ValueError(
            f"samples has {int(dup.sum())} rows sharing a (task, method, prompt_id, sample) key "
            f"(e.g. task={_show(row['task'])}, method={_show(row['method'])}, "
            f"prompt_id={_show(row['prompt_id'])}, sample={_show(row['sample'])}); each answer must "
            "appear once."
        )


PAIRING_COLUMNS = ("x", "prompt_key", "stream")  # where present: one value per (prompt, k)


def _check_pairing(df: pd.DataFrame) -> None:
    """Within each task, every method has the same set of (prompt_id, sample) keys, and where
    the samples carry them, the same user prompt ``x``/``prompt_key`` and random ``stream`` per
    key (so rows from another test file or seed cannot pair by position)."""
    for task, g in df.groupby("task", sort=False):
        methods = list(pd.unique(g["method"]))
        if len(methods) < 2:
            continue
        for col in PAIRING_COLUMNS:
            if col in g:
                n = g.groupby(["prompt_id", "sample"], sort=False)[col].nunique()
                if (n > 1).any():
                    p, k = n.index[(n > 1).to_numpy()][0]
                    raise ValueError(
                        f"pairing broken in task {task!r}: the methods disagree on {col!r} for "
                        f"prompt_id={_show(p)}, sample={_show(k)}; paired rows must come from "
                        "the same test prompts, in the same order, with the same random streams."
                    )
        size = g.groupby(["prompt_id", "sample"], sort=False).size()
        if (size == len(methods)).all():
            continue
        all_keys = size.index
        all_prompts = set(all_keys.get_level_values(0))
        parts = []
        for m in methods:
            gm = g[g["method"] == m]
            lacking = all_keys.difference(pd.MultiIndex.from_frame(gm[["prompt_id", "sample"]]))
            if len(lacking) == 0:
                continue
            no_prompt = sorted(all_prompts - set(gm["prompt_id"]), key=repr)
            part = (
                f"method {m!r} lacks {len(lacking)} of the {len(all_keys)} (prompt_id, sample) keys"
            )
            if no_prompt:
                part += f" ({len(no_prompt)} whole prompts, e.g. prompt_id={_show(no_prompt[0])})"
            else:
                p, k = lacking[0]
                part += f" (e.g. prompt_id={_show(p)}, sample={_show(k)})"
            parts.append(part)
        raise ValueError(
            f"pairing broken in task {task!r}: methods {methods} must answer the same prompts "
            f"with the same samples k (common random numbers); " + "; ".join(parts) + "."
        )


def _prepare(samples, col: str, paired: bool = True, **methods) -> pd.DataFrame:
    """Checked rows of ``samples`` restricted to ``methods`` (all methods if none given)."""
    _check_frame(samples, col)
    df = samples
    if methods:
        _check_methods(samples, **methods)
        df = samples[samples["method"].isin(list(methods.values()))]
    _check_values(df, col)
    _check_unique(df)
    if paired:
        _check_pairing(df)
    return df


# --------------------------------------------------------------------------- building blocks
def _per_prompt(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """Per (task, prompt_id, method): ``n`` answers, their ``mean`` and within sum of squares
    ``ss = sum_k (r - mean)^2``."""
    out = df.groupby(["task", "prompt_id", "method"], sort=True)[col].agg(["count", "mean", "var"])
    out = out.rename(columns={"count": "n"})
    out["ss"] = out["var"].fillna(0.0) * (out["n"] - 1)
    return out


def _task_matrix(per: pd.DataFrame, task, stat: str, methods: list) -> np.ndarray:
    """``(n_prompts, len(methods))`` array of ``stat`` for ``task`` (prompts sorted)."""
    table = per.xs(task, level="task")[stat].unstack("method")
    return table[methods].to_numpy(dtype=float)


def _tasks_with(df: pd.DataFrame, methods: list) -> list:
    have = df.groupby("task", sort=False)["method"].agg(lambda s: set(s))
    return [t for t, ms in have.items() if set(methods) <= ms]


def _boot_index(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n)`` prompt indices drawn with replacement: one resample per row."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentile(boot: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- means
def prompt_means(samples: pd.DataFrame, col: str = "reward") -> pd.DataFrame:
    """Per-prompt mean of ``col`` over the samples ``k``, one column per method.

    ``m_m(x) = (1/K_x) sum_k r_m(x, k)``.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)`` with the score column ``col``.
    col : str
        The score to average (``"reward"`` or ``"gold"``).

    Returns
    -------
    DataFrame
        Shape ``(sum over tasks of n_prompts, n_methods)``: index ``(task, prompt_id)`` (sorted),
        columns the methods in order of first appearance (``columns.name == "method"``). A
        method absent from a whole task has NaN in that task's rows.

    Raises
    ------
    ValueError
        If a key ``(task, method, prompt_id, sample)`` appears twice, if within a task the methods
        do not answer the same prompts with the same set of ``k`` (the pairing is broken; the
        message names the task and methods), or on a missing / non-numeric / non-finite ``col``.
    """
    df = _prepare(samples, col)
    table = _per_prompt(df, col)["mean"].unstack("method")
    table = table[_available(df)]
    table.columns.name = "method"
    return table


def paired_difference(
    samples: pd.DataFrame,
    a: str,
    b: str,
    col: str = "reward",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Paired comparison ``a - b`` per task over the per-prompt means.

    With ``d(x) = m_a(x) - m_b(x)`` over the ``n`` prompts of a task:

    * ``diff = (1/n) sum_x d(x) = mean_a - mean_b``;
    * ``se = sd(d, ddof=1) / sqrt(n)``; ``t = diff / se``;
      ``p_t = 2 * (1 - F_{t, n-1}(|t|))``, identical to ``scipy.stats.ttest_rel(m_a, m_b)``
      (``se = 0``: ``t = ±inf, p_t = 0`` if ``diff != 0``, NaN if ``diff == 0``, as scipy);
    * t-interval ``diff ± t_{n-1}((1+level)/2) * se``;
    * bootstrap: ``diff*_b = mean_j d(x_{I[b, j]})`` for the ``(n_boot, n)`` prompt index
      matrix ``I`` (see the module docstring), percentile interval;
    * ``significant``: both intervals exclude 0.

    Only ``a`` and ``b`` need to be paired; other methods in ``samples`` are ignored. Tasks
    lacking ``a`` or ``b`` are left out.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``.
    a, b : str
        The two methods; the difference is ``a - b``.
    col : str
        The score column.
    level : float
        Confidence level in (0, 1).
    n_boot : int
        Number of bootstrap resamples (>= 100).
    seed : int
        Seed of ``numpy.random.default_rng`` (fresh per task).

    Returns
    -------
    DataFrame
        One row per task, columns ``task, a, b, n_prompts, mean_a, mean_b, diff, se, t, p_t,
        ci_t_low, ci_t_high, ci_boot_low, ci_boot_high, significant``. With ``n_prompts < 2``
        ``se, t, p_t`` and all interval ends are NaN and ``significant`` is False.
    """
    rows = _paired_rows(samples, a, b, col, level, n_boot, seed)
    if not rows:
        raise ValueError(f"no task has both a={a!r} and b={b!r}.")
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def _paired_rows(samples, a, b, col, level, n_boot, seed) -> list[dict]:
    level = _check_level(level)
    n_boot, seed = _check_boot(n_boot, seed)
    df = _prepare(samples, col, a=a, b=b)
    if a == b:
        raise ValueError(f"a and b must be two different methods, got a = b = {a!r}.")
    per = _per_prompt(df, col)
    rows = []
    for task in _tasks_with(df, [a, b]):
        m = _task_matrix(per, task, "mean", [a, b])
        d = m[:, 0] - m[:, 1]
        n = len(d)
        diff = float(d.mean())
        row = {
            "task": task, "a": a, "b": b, "n_prompts": n,
            "mean_a": float(m[:, 0].mean()), "mean_b": float(m[:, 1].mean()), "diff": diff,
            "se": NAN, "t": NAN, "p_t": NAN, "ci_t_low": NAN, "ci_t_high": NAN,
            "ci_boot_low": NAN, "ci_boot_high": NAN, "significant": False,
        }  # fmt: skip
        if n >= 2:
            se = float(d.std(ddof=1) / math.sqrt(n))
            with np.errstate(divide="ignore", invalid="ignore"):
                t = float(np.float64(diff) / np.float64(se))
            p = float(2 * stats.t.sf(abs(t), n - 1))
            half = float(stats.t.ppf((1 + level) / 2, n - 1) * se)
            boot = d[_boot_index(n, n_boot, seed)].mean(axis=1)
            b_lo, b_hi = _percentile(boot, level)
            row.update(
                se=se, t=t, p_t=p, ci_t_low=diff - half, ci_t_high=diff + half,
                ci_boot_low=b_lo, ci_boot_high=b_hi,
                significant=bool(
                    (diff - half > 0 or diff + half < 0) and (b_lo > 0 or b_hi < 0)
                ),
            )  # fmt: skip
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- gap closed
def gap_closed(
    samples: pd.DataFrame,
    ap: str = "Align-Pro",
    rlhf: str = "RLHF",
    base: str = "NoFT",
    col: str = "reward",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Fraction of the RLHF-over-base gap that Align-Pro closes, per task, with a bootstrap CI.

    ``gap = (J_ap - J_base) / (J_rlhf - J_base)`` with ``J_m`` the mean over prompts of the
    per-prompt means. Bootstrap: for each row ``b`` of the ``(n_boot, n)`` prompt index matrix
    the SAME resampled prompts give ``num*_b = mean_j (m_ap - m_base)(x_{I[b,j]})`` and
    ``den*_b = mean_j (m_rlhf - m_base)(x_{I[b,j]})``, and ``gap*_b = num*_b / den*_b``.

    Non-positive denominators. A gap is only defined when RLHF beats the base (``den > 0``).

    * Point estimate: if ``den <= 0``, ``gap`` and the interval are NaN and ``note`` is
      ``"RLHF does not beat the base"``.
    * Resamples with ``den*_b <= 0`` have no gap. Their share is reported as
      ``frac_denominator_nonpositive``, and they are counted, not dropped (dropping them would
      condition on RLHF winning and narrow the interval): the lower end is the
      ``(1-level)/2`` quantile of all ``n_boot`` values with the undefined ones put at
      ``-inf``, the upper end the ``(1+level)/2`` quantile with them at ``+inf``. The interval
      thus contains the percentile interval for any values the undefined resamples might take.
      It is finite only while the undefined resamples fit inside each tail (a share of about
      ``(1-level)/2`` or less); otherwise both ends are NaN and ``note`` says so. With no such
      resample it is the ordinary percentile interval.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``.
    ap, rlhf, base : str
        The three methods (Align-Pro, RLHF, no fine-tuning); they must be paired.
    col, level, n_boot, seed
        As in :func:`paired_difference`.

    Returns
    -------
    DataFrame
        One row per task having all three methods, columns ``task, ap, rlhf, base, n_prompts,
        mean_ap, mean_rlhf, mean_base, gap, ci_low, ci_high, frac_denominator_nonpositive,
        note`` (``note`` is ``""`` when nothing is to be said).
    """
    level = _check_level(level)
    n_boot, seed = _check_boot(n_boot, seed)
    df = _prepare(samples, col, ap=ap, rlhf=rlhf, base=base)
    if len({ap, rlhf, base}) < 3:
        raise ValueError(
            f"ap, rlhf and base must be three different methods, got {ap, rlhf, base}."
        )
    per = _per_prompt(df, col)
    tasks = _tasks_with(df, [ap, rlhf, base])
    if not tasks:
        raise ValueError(f"no task has all of ap={ap!r}, rlhf={rlhf!r} and base={base!r}.")
    rows = []
    q = (1 - level) / 2
    for task in tasks:
        m = _task_matrix(per, task, "mean", [ap, rlhf, base])
        num_x, den_x = m[:, 0] - m[:, 2], m[:, 1] - m[:, 2]
        n = len(num_x)
        num, den = float(num_x.mean()), float(den_x.mean())
        row = {
            "task": task, "ap": ap, "rlhf": rlhf, "base": base, "n_prompts": n,
            "mean_ap": float(m[:, 0].mean()), "mean_rlhf": float(m[:, 1].mean()),
            "mean_base": float(m[:, 2].mean()), "gap": num / den if den > 0 else NAN,
            "ci_low": NAN, "ci_high": NAN, "frac_denominator_nonpositive": NAN,
            "note": "" if den > 0 else NOT_BEATEN,
        }  # fmt: skip
        if n >= 2:
            idx = _boot_index(n, n_boot, seed)
            num_b, den_b = num_x[idx].mean(axis=1), den_x[idx].mean(axis=1)
            ok = den_b > 0
            n_bad = int(n_boot - ok.sum())
            row["frac_denominator_nonpositive"] = n_bad / n_boot
            # the lower end stays finite iff the n_bad values at -inf sit below the interpolation
            # points of the q-quantile: n_bad <= floor(q (n_boot - 1)); by symmetry the same
            # condition keeps the upper end finite.
            if den > 0 and n_bad <= math.floor(q * (n_boot - 1)):
                gap_b = np.divide(num_b, den_b, out=np.zeros_like(num_b), where=ok)
                v = gap_b[ok]
                # stand-ins at min / max (same order statistics as -inf / +inf, no inf arithmetic)
                lo = np.quantile(np.where(ok, gap_b, v.min()), q)
                hi = np.quantile(np.where(ok, gap_b, v.max()), 1 - q)
                row.update(ci_low=float(lo), ci_high=float(hi))
            elif den > 0:
                row["note"] = (
                    f"denominator <= 0 in {n_bad} of {n_boot} resamples: more than the "
                    f"(1-level)/2 tail, so the interval is not defined"
                )
        elif den > 0:
            row["note"] = "fewer than 2 prompts: no interval"
        rows.append(row)
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


# --------------------------------------------------------------------------- variances
def _boot_variances(n_k, mean, ss, idx):
    """Total variance (ddof=1) and mean within-prompt variance (ddof=1) for each row of ``idx``.

    ``n_k, mean, ss``: ``(n,)`` per-prompt counts, means and within sums of squares; ``idx``:
    ``(B, n)``. Total sum of squares = within part + between part:
    ``sum_j ss_j + sum_j K_j (m_j - M)^2`` with ``M = sum_j K_j m_j / N``, ``N = sum_j K_j``.
    """
    kk, mm = n_k[idx], mean[idx]
    N = kk.sum(axis=1)
    M = (kk * mm).sum(axis=1) / N
    total = ss[idx].sum(axis=1) + (kk * (mm - M[:, None]) ** 2).sum(axis=1)
    variance = total / (N - 1)
    var_within = (ss / (n_k - 1))[idx].mean(axis=1)
    return variance, var_within


def _check_two_samples(per: pd.DataFrame) -> None:
    few = per["n"] < 2
    if few.any():
        task, pid, method = per.index[np.argmax(few.to_numpy())]
        raise ValueError(
            f"var_within (ddof=1) needs >= 2 samples per prompt; task={_show(task)}, "
            f"method={_show(method)}, prompt_id={_show(pid)} has {int(per['n'][few].iloc[0])} "
            f"({int(few.sum())} such (prompt, method) cells). Sample each prompt at least twice."
        )


def variance_table(
    samples: pd.DataFrame,
    col: str = "reward",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Reward variance per (task, method) with bootstrap CIs over prompts.

    * ``variance = sum_{x,k} (r(x,k) - rbar)^2 / (N - 1)``: the variance of all ``N`` sampled
      scores (``x ~ test set, x' ~ rho, y ~ pi``), ddof=1;
    * ``var_within = (1/n) sum_x sum_k (r(x,k) - m(x))^2 / (K_x - 1)``: the mean over prompts of
      the within-prompt variance over ``k`` (ddof=1), i.e. the spread left once the prompt is
      fixed.

    The CIs resample whole prompts (all their samples), percentile intervals. All methods of a
    task use the same ``(n_boot, n)`` index matrix (methods must be paired).

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``; at least 2 samples per prompt.
    col, level, n_boot, seed
        As in :func:`paired_difference`.

    Returns
    -------
    DataFrame
        One row per (task, method), columns ``task, method, n_prompts, n_samples, variance,
        variance_ci_low, variance_ci_high, var_within, var_within_ci_low, var_within_ci_high``.

    Raises
    ------
    ValueError
        If a prompt has fewer than 2 samples for some method (``var_within`` needs ddof=1), or
        as :func:`prompt_means`.
    """
    level = _check_level(level)
    n_boot, seed = _check_boot(n_boot, seed)
    df = _prepare(samples, col)
    per = _per_prompt(df, col)
    _check_two_samples(per)
    rows = []
    for task, g in df.groupby("task", sort=False):
        methods = list(pd.unique(g["method"]))
        n_k, mean, ss = (_task_matrix(per, task, s, methods) for s in ("n", "mean", "ss"))
        n = n_k.shape[0]
        idx = _boot_index(n, n_boot, seed) if n >= 2 else None
        for j, method in enumerate(methods):
            point = _boot_variances(n_k[:, j], mean[:, j], ss[:, j], np.arange(n)[None, :])
            row = {
                "task": task, "method": method, "n_prompts": n, "n_samples": int(n_k[:, j].sum()),
                "variance": float(point[0][0]), "variance_ci_low": NAN, "variance_ci_high": NAN,
                "var_within": float(point[1][0]), "var_within_ci_low": NAN,
                "var_within_ci_high": NAN,
            }  # fmt: skip
            if idx is not None:
                v_b, w_b = _boot_variances(n_k[:, j], mean[:, j], ss[:, j], idx)
                row["variance_ci_low"], row["variance_ci_high"] = _percentile(v_b, level)
                row["var_within_ci_low"], row["var_within_ci_high"] = _percentile(w_b, level)
            rows.append(row)
    return pd.DataFrame(rows, columns=VARIANCE_COLUMNS)


def variance_difference(
    samples: pd.DataFrame,
    a: str,
    b: str,
    col: str = "reward",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Differences of the variances of :func:`variance_table`, ``a - b``, per task.

    ``variance_diff = variance_a - variance_b`` and ``var_within_diff = var_within_a -
    var_within_b``, each with a paired percentile bootstrap CI: every row of the ``(n_boot, n)``
    prompt index matrix resamples the prompts of BOTH methods together, so the prompt-to-prompt
    variation common to both cancels in the difference.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``; at least 2 samples per prompt.
    a, b : str
        The two methods (they must be paired); tasks lacking either are left out.
    col, level, n_boot, seed
        As in :func:`paired_difference`.

    Returns
    -------
    DataFrame
        One row per task, columns ``task, a, b, n_prompts, variance_a, variance_b,
        variance_diff, variance_diff_ci_low, variance_diff_ci_high, var_within_a, var_within_b,
        var_within_diff, var_within_diff_ci_low, var_within_diff_ci_high``.
    """
    level = _check_level(level)
    n_boot, seed = _check_boot(n_boot, seed)
    df = _prepare(samples, col, a=a, b=b)
    if a == b:
        raise ValueError(f"a and b must be two different methods, got a = b = {a!r}.")
    per = _per_prompt(df, col)
    _check_two_samples(per)
    tasks = _tasks_with(df, [a, b])
    if not tasks:
        raise ValueError(f"no task has both a={a!r} and b={b!r}.")
    rows = []
    for task in tasks:
        n_k, mean, ss = (_task_matrix(per, task, s, [a, b]) for s in ("n", "mean", "ss"))
        n = n_k.shape[0]
        ident = np.arange(n)[None, :]
        va, wa = (float(x[0]) for x in _boot_variances(n_k[:, 0], mean[:, 0], ss[:, 0], ident))
        vb, wb = (float(x[0]) for x in _boot_variances(n_k[:, 1], mean[:, 1], ss[:, 1], ident))
        row = {
            "task": task, "a": a, "b": b, "n_prompts": n,
            "variance_a": va, "variance_b": vb, "variance_diff": va - vb,
            "variance_diff_ci_low": NAN, "variance_diff_ci_high": NAN,
            "var_within_a": wa, "var_within_b": wb, "var_within_diff": wa - wb,
            "var_within_diff_ci_low": NAN, "var_within_diff_ci_high": NAN,
        }  # fmt: skip
        if n >= 2:
            idx = _boot_index(n, n_boot, seed)
            va_b, wa_b = _boot_variances(n_k[:, 0], mean[:, 0], ss[:, 0], idx)
            vb_b, wb_b = _boot_variances(n_k[:, 1], mean[:, 1], ss[:, 1], idx)
            lo, hi = _percentile(va_b - vb_b, level)
            row.update(variance_diff_ci_low=lo, variance_diff_ci_high=hi)
            lo, hi = _percentile(wa_b - wb_b, level)
            row.update(var_within_diff_ci_low=lo, var_within_diff_ci_high=hi)
        rows.append(row)
    return pd.DataFrame(rows, columns=VARIANCE_DIFF_COLUMNS)


# --------------------------------------------------------------------------- win rates
def wilson(k, n, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    With ``p = k/n`` and ``z = Phi^{-1}((1+level)/2)``::

        centre = (p + z^2/(2n)) / (1 + z^2/n)
        half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))

    and the interval ``[centre - half, centre + half]`` (clipped to [0, 1] against rounding).

    Parameters
    ----------
    k : int or float
        Successes, ``0 <= k <= n``.
    n : int
        Trials, ``>= 0``; ``n = 0`` gives ``(nan, nan)``.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    (low, high) : tuple of float
    """
    level = _check_level(level)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative integer (number of trials), got {n!r}.")
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise ValueError(f"k must be a number of successes, got {k!r}.")
    if not 0 <= k <= n:
        raise ValueError(f"k must lie in [0, n] = [0, {n}], got {k!r}.")
    if n == 0:
        return NAN, NAN
    z = float(stats.norm.ppf((1 + level) / 2))
    p = k / n
    d = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / d
    half = z / d * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rates(
    samples: pd.DataFrame, a: str, b: str, col: str = "gold", level: float = 0.95
) -> pd.DataFrame:
    """Win rate of ``a`` over ``b`` per task on the paired answers ``(prompt_id, sample)``.

    On each pair ``(x, k)``: a win if ``r_a(x,k) > r_b(x,k)``, a loss if ``<``, a tie if equal
    (exact equality). ``win_rate = wins / (wins + losses)``: ties are EXCLUDED from the rate
    (reported separately as ``tie_rate = ties / n_pairs``), so ``win_rate`` answers "when they
    differ, how often is ``a`` better"; it is NaN when every pair is a tie. ``ci_low, ci_high``:
    the Wilson interval (:func:`wilson`) of ``wins`` out of ``wins + losses``.

    Caveat: the Wilson interval treats the pairs as independent; the ``K`` samples of one prompt
    are correlated, so with ``K > 1`` the interval is optimistic (too narrow). For a
    prompt-level test use :func:`paired_difference` on the same ``col``.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``.
    a, b : str
        The two methods (they must be paired); tasks lacking either are left out.
    col : str
        The score compared, by default the held-out judge ``"gold"``.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    DataFrame
        One row per task, columns ``task, a, b, n_pairs, wins, losses, ties, win_rate, ci_low,
        ci_high, tie_rate``.
    """
    level = _check_level(level)
    df = _prepare(samples, col, a=a, b=b)
    if a == b:
        raise ValueError(f"a and b must be two different methods, got a = b = {a!r}.")
    tasks = _tasks_with(df, [a, b])
    if not tasks:
        raise ValueError(f"no task has both a={a!r} and b={b!r}.")
    wide = df.set_index(["task", "prompt_id", "sample", "method"])[col].unstack("method")
    rows = []
    for task in tasks:
        pair = wide.xs(task, level="task")[[a, b]].to_numpy(dtype=float)
        ra, rb = pair[:, 0], pair[:, 1]
        wins, losses = int((ra > rb).sum()), int((ra < rb).sum())
        ties = len(ra) - wins - losses
        decided = wins + losses
        lo, hi = wilson(wins, decided, level)
        rows.append(
            {
                "task": task,
                "a": a,
                "b": b,
                "n_pairs": len(ra),
                "wins": wins,
                "losses": losses,
                "ties": ties,
                "win_rate": wins / decided if decided else NAN,
                "ci_low": lo,
                "ci_high": hi,
                "tie_rate": ties / len(ra),
            }  # fmt: skip
        )
    return pd.DataFrame(rows, columns=WIN_COLUMNS)


# --------------------------------------------------------------------------- all comparisons
def compare_all(
    samples: pd.DataFrame,
    base: str = "NoFT",
    methods: Iterable[str] | None = None,
    all_pairs: bool = False,
    col: str = "reward",
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`paired_difference` for every method against ``base`` (and every pair of methods).

    Pairs, in this order: ``(m, base)`` for each ``m`` in ``methods``; then, if ``all_pairs``,
    ``(methods[i], methods[j])`` for ``i < j``. A pair no task has in common is skipped.

    Parameters
    ----------
    samples : DataFrame
        One row per ``(task, method, prompt_id, sample)``.
    base : str
        The reference method (``b`` of the first pairs).
    methods : iterable of str, optional
        The methods compared; default: every method of ``samples`` except ``base``, in order of
        first appearance. ``base`` itself is dropped from the list.
    all_pairs : bool
        Also compare the methods with each other.
    col, level, n_boot, seed
        As in :func:`paired_difference`.

    Returns
    -------
    DataFrame
        The :func:`paired_difference` rows concatenated (same columns), pair by pair.
    """
    _check_frame(samples, col)
    _check_methods(samples, base=base)
    if methods is None:
        methods = [m for m in _available(samples) if m != base]
    else:
        if isinstance(methods, str):
            raise ValueError(f"methods must be a list of method names, got the string {methods!r}.")
        methods = list(dict.fromkeys(m for m in methods if m != base))
        for m in methods:
            _check_methods(samples, methods=m)
    pairs = [(m, base) for m in methods]
    if all_pairs:
        pairs += [(x, y) for i, x in enumerate(methods) for y in methods[i + 1 :]]
    rows = []
    for a, b in pairs:
        rows += _paired_rows(samples, a, b, col, level, n_boot, seed)
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)
