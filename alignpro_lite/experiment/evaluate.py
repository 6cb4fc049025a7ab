"""Evaluation of the paper's experiment on the held-out TEST prompts (notebook 08): paired.

Every method answers the same test prompts ``n_samples`` times, and **sample k of prompt x uses
the same random stream for every method** (common random numbers, :func:`answer_streams`):
NoFT, every prompter (whose rewrite ``x'`` the frozen model answers with the stream of
``(x, k)``, not of ``x'``), RLHF and the baselines. A prompter that copies ``x`` therefore gets
NoFT's answer (99.4-99.7% of copies in the shipped report; the rest differ by float rounding
between batch shapes, which can flip a token at the same uniform), and a difference between two
methods is a difference in what they do, not in their luck. The frozen model decodes with the one setting
:data:`~alignpro_lite.llm.frozen.PI_F_DECODING`. Each answer is scored twice, against the
ORIGINAL prompt: by the task's training reward (``reward``) and by its gold judge (``gold``,
:mod:`alignpro_lite.llm.judges`). The statistics (:mod:`alignpro_lite.experiment.paired`):

* :func:`summary_table`: per method the mean reward with a 95% t-interval over prompt means,
  total and within-prompt variance (ddof = 1) with bootstrap CIs, the gold mean, refusal and
  copy rates;
* :func:`paired_table`: paired differences between methods (t and bootstrap CIs over prompts);
* :func:`variance_differences`: differences of total and within-prompt variance between methods,
  with paired bootstrap CIs;
* :func:`gap_closed`: ``(J_AP - J_NoFT) / (J_RLHF - J_NoFT)`` with a bootstrap CI (the paper's
  median ≈ 74%);
* :func:`win_rates`: gold-judge win rates over NoFT with Wilson intervals.

The preregistration (``runs/PREREGISTRATION.md``) fixes these before any test number is seen.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.experiment import paired
from alignpro_lite.experiment.runs import ADAPTER_DIR, load_model, read_run, sft_reference_path
from alignpro_lite.learn import generative as G
from alignpro_lite.llm import lora
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.llm.lm import SAMPLE_BATCH, row_seed, sample_ids

EVAL_SEED = 20250105
PAPER_GAP_MEDIAN = 0.74  # the paper's results figure: Align-Pro closes a median ≈ 74% of the gap
METHOD_ORDER = ["NoFT", "Align-Pro", "RLHF"]
PROMPTERS = ("Align-Pro", "SFT prompter")  # the methods that rewrite x (a copy rate is theirs)
N_SAMPLES = 8  # answers per test prompt (the preregistered evaluation)


# --------------------------------------------------------------------------- evaluation
def answer_streams(xs: list[str], n: int, seed: int = EVAL_SEED) -> list[list[int]]:
    """The random stream of answer ``k`` to user prompt ``x``: ``row_seed(seed, k, x)``,
    ``(len(xs), n)``. The same for every method: the pairing of the evaluation."""
    return [[row_seed(seed, k, x) for k in range(n)] for x in xs]


def rewrite_streams(xs: list[str], n: int, seed: int = EVAL_SEED) -> list[list[int]]:
    """The random stream of the prompter's rewrite ``k`` of ``x`` (shared by every prompter)."""
    return answer_streams(xs, n, seed + 1)


def _decode(tok, ids) -> list[list[str]]:
    return [[t.strip() for t in tok.batch_decode(row, skip_special_tokens=True)] for row in ids]


def eval_samples(
    method: str,
    task: str,
    model,
    tok,
    *,
    adapter: str | None = None,
    n_samples: int = N_SAMPLES,
    rewrite_tokens: int = 32,
    temperature: float = 0.7,
    answer_tokens: int | None = None,
    split: str = "test",
    seed: int = EVAL_SEED,
    label: str | None = None,
    prompts: list | None = None,
    log_ratio: bool = False,
    ref_adapter: str | None = None,
    kl_tok: bool = False,
) -> pd.DataFrame:
    """One row per (prompt, sample) of ``method`` on ``task``'s ``split`` prompts, paired.

    ``method``: ``"noft"`` (the frozen model answers ``x``), ``"align-pro"`` (adapter
    ``adapter`` rewrites ``x`` into ``x'`` at ``temperature``, the frozen model answers ``x'``;
    ``adapter=None`` is the un-tuned instruct prompter) or ``"rlhf"`` (adapter ``adapter``
    answers ``x`` at ``temperature``). The frozen model decodes with ``PI_F_DECODING``
    (``answer_tokens`` overrides its budget, e.g. in fast mode). Answer ``k`` to ``x`` draws
    from :func:`answer_streams` whatever the method.

    Columns: ``task, method, prompt_id, prompt_key, sample, stream, x, x_prime, y, reward, gold,
    refusal, copy, preservation`` and, with ``log_ratio=True``, ``log_ratio``: the sampled
    action's ``log rho_θ(a|x) - log rho_ref(a|x)`` at ``temperature`` (the rewrite for a prompter,
    the answer for RLHF; ``ref_adapter`` names the reference, ``None`` = adapters disabled), whose
    mean over the rows estimates ``KL(rho_θ ‖ rho_ref)``; 0 for NoFT. With ``kl_tok=True``,
    ``kl_tok``: the exact per-token KL summed along the sampled action
    (:func:`alignpro_lite.llm.kl.token_kl`; same mean, far smaller variance, never negative).
    """
    from alignpro_lite.llm.judges import gold_judge
    from alignpro_lite.llm.rewards import get_reward, is_refusal
    from alignpro_lite.llm.tasks import load_task

    if method not in ("noft", "align-pro", "rlhf"):
        raise ValueError(f"method must be 'noft', 'align-pro' or 'rlhf', got {method!r}.")
    ps = prompts if prompts is not None else load_task(task, split)
    xs = [p if isinstance(p, str) else p.prompt for p in ps]
    n = int(n_samples)
    streams = answer_streams(xs, n, seed)
    pi_f = {
        **PI_F_DECODING.kwargs(),
        "max_new_tokens": answer_tokens or PI_F_DECODING.max_new_tokens,
    }
    kw = dict(batch_size=SAMPLE_BATCH, progress=False)
    with torch.no_grad():
        if method == "align-pro":
            with lora.sampling(model, adapter):
                ids = sample_ids(model, tok, xs, n=n, system=G.REWRITE_SYSTEM,
                                 max_new_tokens=rewrite_tokens, temperature=temperature, top_p=1.0,
                                 streams=rewrite_streams(xs, n, seed), **kw)  # fmt: skip
            acts = [r for row in ids for r in row]
            xps = [[G.clean_rewrite(t) for t in row] for row in _decode(tok, ids)]
            flat_xp = [xp for row in xps for xp in row]
            with lora.use_adapter(model, None):
                ids = sample_ids(model, tok, flat_xp, n=1, **pi_f, **kw,
                                 streams=[[s] for row in streams for s in row])  # fmt: skip
            flat_y = [row[0] for row in _decode(tok, ids)]
        else:
            dec = pi_f if method == "noft" else {**pi_f, "temperature": temperature, "top_p": 1.0}
            with lora.sampling(model, adapter if method == "rlhf" else None):
                ids = sample_ids(model, tok, xs, n=n, streams=streams, **dec, **kw)
            acts = [r for row in ids for r in row]
            flat_xp = [x for x in xs for _ in range(n)]
            flat_y = [y for row in _decode(tok, ids) for y in row]
    flat_x = [x for x in xs for _ in range(n)]
    if method == "align-pro":
        from alignpro_lite.llm.semantics import preservation

        pres = preservation(flat_x, flat_xp)
    else:
        pres = np.ones(len(flat_x))
    keys = [p if isinstance(p, str) else p.id for p in ps]
    extra = {}
    if log_ratio:
        extra["log_ratio"] = np.zeros(len(flat_x))
    if kl_tok:
        extra["kl_tok"] = np.zeros(len(flat_x))
    if method != "noft" and kl_tok:  # both from one pair of forward passes
        extra["kl_tok"], ratio = _kl_tok(model, tok, method, xs, n, acts, adapter, ref_adapter,
                                         temperature)  # fmt: skip
        if log_ratio:
            extra["log_ratio"] = ratio
    elif method != "noft" and log_ratio:
        extra["log_ratio"] = _log_ratio(model, tok, method, xs, n, acts, adapter, ref_adapter,
                                        temperature)  # fmt: skip
    return pd.DataFrame(
        {
            "task": task,
            "method": label or {"noft": "NoFT", "align-pro": "Align-Pro", "rlhf": "RLHF"}[method],
            "prompt_id": np.repeat(np.arange(len(xs)), n),
            "prompt_key": np.repeat(keys, n),
            "sample": np.tile(np.arange(n), len(xs)),
            "stream": np.array([s for row in streams for s in row], dtype=np.int64),
            "x": flat_x,
            "x_prime": flat_xp,
            "y": flat_y,
            "reward": get_reward(task)(flat_x, flat_y),
            "gold": gold_judge(task)(flat_x, flat_y),
            "refusal": is_refusal(flat_y),
            "copy": [xp.strip() == x.strip() for x, xp in zip(flat_x, flat_xp, strict=True)],
            "preservation": pres,
            **extra,
        }
    )


def _log_ratio(model, tok, method, xs, n, acts, adapter, ref_adapter, temperature) -> np.ndarray:
    """``log rho_θ(a|x) - log rho_ref(a|x)`` of the sampled actions, prompt-major ``(len(xs)*n,)``."""
    from alignpro_lite.llm.lm import chat_format, token_logprobs

    system = G.REWRITE_SYSTEM if method == "align-pro" else None
    p_ids = tok([chat_format(tok, x, system) for x in xs], add_special_tokens=False)["input_ids"]
    P = [p_ids[i] for i in range(len(xs)) for _ in range(n)]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out = []
    with torch.no_grad():
        for name in (adapter, ref_adapter):
            with lora.use_adapter(model, name):
                out.append(token_logprobs(model, P, acts, temperature=temperature, pad_id=pad))
    return (out[0] - out[1]).double().cpu().numpy()


def _kl_tok(model, tok, method, xs, n, acts, adapter, ref_adapter, temperature):
    """Per-token KL of the sampled actions to the reference and their log-ratios, prompt-major
    ``(len(xs)*n,)`` each."""
    from alignpro_lite.llm.kl import token_kl
    from alignpro_lite.llm.lm import chat_format

    system = G.REWRITE_SYSTEM if method == "align-pro" else None
    p_ids = tok([chat_format(tok, x, system) for x in xs], add_special_tokens=False)["input_ids"]
    P = [p_ids[i] for i in range(len(xs)) for _ in range(n)]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return token_kl(model, P, acts, adapter, ref_adapter, temperature=temperature, pad_id=pad,
                    log_ratio=True)  # fmt: skip


def summary_table(
    samples: pd.DataFrame, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per (task, method): mean reward with a ``level`` t-interval over the prompt means (answers
    to one prompt are not independent), total and within-prompt variance (ddof = 1) with
    bootstrap CIs over prompts (:func:`~alignpro_lite.experiment.paired.variance_table`), and,
    where the samples have them, the gold judge's mean, the refusal rate and, for the prompters
    (:data:`PROMPTERS`), the copy rate (``x' = x``). Best-of-n's variances are NaN: its answers
    are overlapping windows of one pool, so their spread is not the method's variance."""
    from scipy import stats

    var = paired.variance_table(samples, level=level, n_boot=n_boot, seed=seed)
    var = var.set_index(["task", "method"])
    rows = []
    for (task, method), g in samples.groupby(["task", "method"], sort=False):
        per_prompt = g.groupby("prompt_id")["reward"].mean()
        n = len(per_prompt)
        mean = float(per_prompt.mean())
        half = (
            float(stats.t.ppf(0.5 + level / 2, n - 1) * per_prompt.std(ddof=1) / math.sqrt(n))
            if n > 1
            else math.nan
        )
        v = var.loc[(task, method)]
        row = {
            "task": task,
            "method": method,
            "n_prompts": n,
            "n_samples": len(g),
            "mean": mean,
            "ci_low": mean - half,
            "ci_high": mean + half,
            **{c: float(v[c]) for c in ("variance", "variance_ci_low", "variance_ci_high",
                                        "var_within", "var_within_ci_low", "var_within_ci_high")},
            "preservation": float(g["preservation"].mean()),
        }  # fmt: skip
        for col, name in (("gold", "gold"), ("refusal", "refusal_rate"), ("copy", "copy_rate")):
            if col in g:
                row[name] = float(g[col].astype(float).mean())
        if "copy_rate" in row and not str(method).startswith(PROMPTERS):
            row["copy_rate"] = math.nan  # the method does not rewrite: no copy rate
        if str(method).startswith("Best-of-n"):  # overlapping windows of one pool: not a variance
            for c in ("variance", "variance_ci_low", "variance_ci_high", "var_within",
                      "var_within_ci_low", "var_within_ci_high"):  # fmt: skip
                row[c] = math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _main_methods(samples: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(samples["method"]))
    return [m for m in METHOD_ORDER if m in present] + [
        m
        for m in present
        if m not in METHOD_ORDER and not m.startswith(("Align-Pro λ=", "RLHF β="))
    ]


def paired_table(
    samples: pd.DataFrame, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Paired differences of the training reward and of the gold judge (``measure`` column)
    between every pair of the main methods, each against NoFT first (paired t and bootstrap
    CIs over prompts, :func:`~alignpro_lite.experiment.paired.compare_all`)."""
    parts = []
    for _task, g in samples.groupby("task", sort=False):
        methods = _main_methods(g)
        if len(methods) < 2 or "NoFT" not in methods:
            continue
        others = [m for m in methods if m != "NoFT"]
        for col in ("reward", "gold"):
            if col in g:
                t = paired.compare_all(g, base="NoFT", methods=others, all_pairs=True, col=col,
                                       level=level, n_boot=n_boot, seed=seed)  # fmt: skip
                parts.append(t.assign(measure=col))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def variance_differences(
    samples: pd.DataFrame, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """For every pair of the main methods (each against NoFT first): the differences of the total
    and of the within-prompt reward variance (ddof = 1), with paired bootstrap CIs over prompts
    (:func:`~alignpro_lite.experiment.paired.variance_difference`). Best-of-n is left out."""
    parts = []
    for _task, g in samples.groupby("task", sort=False):
        methods = _main_methods(g)
        if "NoFT" not in methods:
            continue
        # best-of-n's answers are overlapping windows of one pool: no variance to compare
        others = [m for m in methods if m != "NoFT" and not m.startswith("Best-of-n")]
        pairs = [(m, "NoFT") for m in others] + [
            (a, b) for i, a in enumerate(others) for b in others[i + 1 :]
        ]
        for a, b in pairs:
            parts.append(paired.variance_difference(g, a, b, level=level, n_boot=n_boot, seed=seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def gap_closed(
    samples: pd.DataFrame, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Per task: gap closed ``(J_AP - J_NoFT) / (J_RLHF - J_NoFT)`` with a bootstrap CI over
    prompts — NaN, with ``gap_status`` saying why, where RLHF does not beat NoFT (a ratio over a
    denominator not distinguishable from 0 is not a fraction of a gap) — and the preregistered
    targets: ``rlhf_beats_noft`` / ``ap_beats_noft`` (the
    difference to NoFT is > 0 with both paired 95% CIs excluding 0) and ``ap_lower_var_within``
    (Align-Pro's within-prompt variance below NoFT's)."""
    rows = []
    for task, g in samples.groupby("task", sort=False):
        if not {"NoFT", "Align-Pro", "RLHF"} <= set(g["method"]):
            continue
        g = g[g["method"].isin(["NoFT", "Align-Pro", "RLHF"])]
        gap = paired.gap_closed(g, level=level, n_boot=n_boot, seed=seed).iloc[0]
        d = {m: paired.paired_difference(g, m, "NoFT", level=level, n_boot=n_boot, seed=seed)
             .iloc[0] for m in ("Align-Pro", "RLHF")}  # fmt: skip
        vd = paired.variance_difference(g, "Align-Pro", "NoFT", level=level, n_boot=n_boot,
                                        seed=seed).iloc[0]  # fmt: skip
        rlhf_beats = bool(d["RLHF"]["significant"] and d["RLHF"]["diff"] > 0)
        defined = rlhf_beats  # the preregistered rule: no gap to close unless RLHF beats NoFT
        rows.append(
            {
                "task": task,
                "noft": gap["mean_base"],
                "align_pro": gap["mean_ap"],
                "rlhf": gap["mean_rlhf"],
                "gap_closed": gap["gap"] if defined else math.nan,
                "gap_ci_low": gap["ci_low"] if defined else math.nan,
                "gap_ci_high": gap["ci_high"] if defined else math.nan,
                "gap_status": "defined"
                if defined
                else (
                    f"undefined: RLHF - NoFT {d['RLHF']['diff']:+.3f} is not above 0 with both "
                    "paired 95% CIs (no gap to close)"
                ),
                "paper_median": PAPER_GAP_MEDIAN,
                "ap_minus_noft": d["Align-Pro"]["diff"],
                "ap_beats_noft": bool(d["Align-Pro"]["significant"] and d["Align-Pro"]["diff"] > 0),
                "rlhf_minus_noft": d["RLHF"]["diff"],
                "rlhf_beats_noft": rlhf_beats,
                "var_within_diff": vd["var_within_diff"],
                "ap_lower_var_within": bool(vd["var_within_diff"] < 0),
                "note": gap["note"],
            }
        )
    return pd.DataFrame(rows)


def win_rates(samples: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Gold-judge win rates of every main method over NoFT, and of Align-Pro over RLHF, paired
    by (prompt, sample), ties excluded, with Wilson intervals
    (:func:`~alignpro_lite.experiment.paired.win_rates`)."""
    if "gold" not in samples:
        return pd.DataFrame()
    parts = []
    for _task, g in samples.groupby("task", sort=False):
        methods = _main_methods(g)
        pairs = [(m, "NoFT") for m in methods if m != "NoFT" and "NoFT" in methods]
        if {"Align-Pro", "RLHF"} <= set(methods):
            pairs.append(("Align-Pro", "RLHF"))
        for a, b in pairs:
            parts.append(paired.win_rates(g, a, b, col="gold", level=level))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def lam_sweep_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Mean/CI/variance per λ of the λ-sweep rows (``Align-Pro λ=…``; λ = ∞ is ``rho_sft``),
    with the ``lam`` column of the samples (see :func:`evaluate_runs`)."""
    sweep = samples[samples["method"].str.startswith("Align-Pro λ=")]
    if sweep.empty:
        return pd.DataFrame()
    t = summary_table(sweep)
    g = sweep.groupby(["task", "method"])
    lams = g["lam"].first()
    key = list(zip(t["task"], t["method"], strict=True))
    t["lam"] = [float(lams[k]) for k in key]
    if "log_ratio" in sweep:  # the prompter's KL to rho_sft, estimated on its own rewrites
        col = "kl_tok" if "kl_tok" in sweep and sweep["kl_tok"].notna().all() else "log_ratio"
        kl = g[col].mean()  # the per-token KL where measured (round 2), else the log-ratio
        t["kl"] = [float(kl[k]) for k in key]
    if "route" in sweep:
        route = g["route"].first()
        t["route"] = [str(route[k]) for k in key]
    return t.sort_values(["task", "lam"]).reset_index(drop=True)


# --------------------------------------------------------------------------- the report
def migrate_samples(
    samples: pd.DataFrame,
    main_lam: dict[str, float] | None = None,
    beta: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Evaluation samples written before the KL weights were columns: add ``lam`` and ``beta``.

    A λ-sweep row's λ is in its label (``Align-Pro λ=0.01``; ∞ for ``rho_sft``). The main
    ``Align-Pro`` rows and the ``RLHF`` rows take ``main_lam[task]`` and ``beta[task]`` from the
    run folders (:func:`kl_weights_of_report`), NaN where unknown. A current table comes back
    unchanged.
    """
    if {"lam", "beta"} <= set(samples.columns):
        return samples
    out = samples.copy()
    label = out["method"].astype(str)
    swept = label.str.extract(r"^Align-Pro λ=([0-9.e+-]+|∞)", expand=False)
    lam = swept.map(lambda v: math.inf if v == "∞" else float(v), na_action="ignore").astype(float)
    task_lam = out["task"].map(main_lam or {}).astype(float)
    task_beta = out["task"].map(beta or {}).astype(float)
    out["lam"] = lam.where(~label.eq("Align-Pro"), task_lam)
    out["beta"] = task_beta.where(label.eq("RLHF"), math.nan)
    return out


def kl_weights_of_report(run_dirs: list[str | Path]) -> tuple[dict, dict]:
    """``(main λ per task, β per task)`` of the runs a report evaluated, chosen as
    :func:`evaluate_runs` chooses them (the Align-Pro run whose λ equals the RLHF run's β, else
    the first). Runs that cannot be read are skipped."""
    configs = []
    for d in run_dirs:
        try:
            configs.append(read_run(d))
        except ValueError:
            continue
    main_lam, beta = {}, {}
    for task in dict.fromkeys(c.task for c in configs):
        aps = [c for c in configs if c.task == task and c.method == "align-pro"]
        rl = [c for c in configs if c.task == task and c.method == "rlhf"]
        if rl:
            beta[task] = rl[0].beta
        main = next((c for c in aps if rl and c.lam == rl[0].beta), aps[0] if aps else None)
        if main is not None:
            main_lam[task] = main.lam
    return main_lam, beta


def evaluate_runs(
    run_dirs: list[str | Path],
    *,
    n_samples: int = N_SAMPLES,
    split: str = "test",
    model=None,
    tok=None,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluation samples of NoFT, every run, and (for a task with several Align-Pro runs,
    a λ sweep) the reference prompter ``rho_sft`` as ``Align-Pro λ=∞``.

    Per task the *main* Align-Pro run (method label ``Align-Pro``) is the one whose λ equals
    the RLHF run's β, else the first given; the others appear as ``Align-Pro λ=…`` (and the
    main one again under its λ). All runs must share the base model.
    """
    runs = [(Path(d), read_run(d)) for d in run_dirs]
    if not runs:
        raise ValueError("give at least one run folder to report on.")
    pi_f = PI_F_DECODING
    for d, c in runs:
        if (c.answer_temperature, c.answer_top_p) != (pi_f.temperature, pi_f.top_p):
            warnings.warn(
                f"{d} was trained with the frozen model decoding at temperature "
                f"{c.answer_temperature:g}, top_p {c.answer_top_p:g}, but the evaluation uses "
                f"PI_F_DECODING ({pi_f.temperature:g}, {pi_f.top_p:g}): it is evaluated against "
                "another frozen model than it was trained with.",
                stacklevel=2,
            )
    models = {c.model for _, c in runs}
    if len(models) > 1:
        raise ValueError(
            f"the runs use different base models {sorted(models)}; report them separately."
        )
    for d, _ in runs:
        if not (d / ADAPTER_DIR / "adapter_config.json").is_file():
            raise ValueError(
                f"{d} has no trained adapter ({ADAPTER_DIR}/); finish training it first."
            )
    model, tok = load_model(runs[0][1].model, model, tok)
    if not lora.is_peft(model):
        model = lora.add_lora(model, "_eval_anchor")  # so adapters can be loaded and disabled
    parts = []
    tasks = list(dict.fromkeys(c.task for _, c in runs))
    jobs = []
    for task in tasks:
        trs = [(d, c) for d, c in runs if c.task == task]
        aps = [(d, c) for d, c in trs if c.method == "align-pro"]
        rl = [(d, c) for d, c in trs if c.method == "rlhf"]
        tokens = dict(answer_tokens=trs[0][1].answer_tokens, rewrite_tokens=trs[0][1].rewrite_tokens,
                      temperature=trs[0][1].temperature)  # fmt: skip
        nan = math.nan
        jobs.append(("noft", task, None, "NoFT", nan, nan, tokens))
        main = next((x for x in aps if rl and x[1].lam == rl[0][1].beta), aps[0] if aps else None)
        for d, c in aps:
            if (d, c) == main:
                jobs.append(("align-pro", task, d / ADAPTER_DIR, "Align-Pro", c.lam, nan, tokens))
            if len(aps) > 1:
                jobs.append(("align-pro", task, d / ADAPTER_DIR, f"Align-Pro λ={c.lam:g}", c.lam,
                             nan, tokens))  # fmt: skip
        if len(aps) > 1:
            sft = sft_reference_path(aps[0][0], aps[0][1])  # None: rho_sft is the base model
            jobs.append(("align-pro", task, sft, "Align-Pro λ=∞ (rho_sft)", math.inf, nan, tokens))
        for d, c in rl:
            jobs.append(("rlhf", task, d / ADAPTER_DIR, "RLHF", nan, c.beta, tokens))
    done: dict = {}
    for method, task, adapter, label, lam, beta, tokens in tqdm(
        jobs, desc="evaluate", disable=not progress
    ):
        key = (method, task, str(adapter))
        if key in done:  # the main Align-Pro run again under its λ label
            parts.append(done[key].assign(method=label, lam=lam, beta=beta))
            continue
        name = None
        if adapter is not None:
            model = lora.load_lora(model, adapter, "_eval")
            name = "_eval"
        df = eval_samples(
            method,
            task,
            model,
            tok,
            adapter=name,
            n_samples=n_samples,
            split=split,
            label=label,
            **tokens,
        ).assign(lam=lam, beta=beta)  # the KL weights as data, not parsed back from labels
        done[key] = df
        parts.append(df)
    return pd.concat(parts, ignore_index=True)
