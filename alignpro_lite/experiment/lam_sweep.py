"""``alignpro-lite lam-sweep``: the λ sweep of the generative prompter, refit by NCA from one bank.

The bank of a replication (``RUNS/bank/{task}``: rewrites of ``rho_sft``, ``R̂`` from the frozen
model's answers) does not depend on λ, so every λ costs one refit
(:func:`alignpro_lite.learn.distill.fit_nca`, starting at ``rho_sft``) and one evaluation on the
test prompts. For each factor ``c`` of ``λ = c·λ0`` (λ0: the replication's preregistered λ;
``c = inf`` is the uniform-weight refit, which must return ``rho_sft`` exactly):

    OUT/fits/lam{λ}/   adapter/, fit.json, curve.csv, rows.csv         one resumable unit each
    OUT/eval/lam{λ}.csv (+ .json: what it was made from)               one resumable unit each
    OUT/report/        sweep.csv, samples.csv, rows.csv, curves.csv, sweep.png, report.json

``sweep.csv`` has, per λ, the prompter's KL to ``rho_sft`` on the TEST prompts as the exact
per-token KL along its own rewrites (:mod:`alignpro_lite.llm.kl`) with a prompt-clustered
interval, the single-sample log-ratio estimate beside it, the frozen model's mean reward with its
interval and the paired difference to the ``λ = ∞`` refit, the weights' ESS, the adapter's
distance from the SFT adapter, and the fit's own diagnostics (:func:`fit_diagnostics`): NCA loss
before and after on the train rows and on the held-out rewrites, the slope of the learned
log-ratio ``f`` on its target ``log(N w)`` and the Spearman correlation of the implicit reward with
``R̂`` on held-out rewrites, each with a prompt-bootstrap interval.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alignpro_lite.atomic import (
    check_out_dir,
    out_lock,
    replace_folder,
    staged_dir,
    tmp_path,
    write_sealed_json,
)
from alignpro_lite.exact.distill import snis_weights
from alignpro_lite.exact.nca import nca_loss, noise_floor
from alignpro_lite.exact.validate import what_changed
from alignpro_lite.learn import bank as B
from alignpro_lite.learn import generative as G
from alignpro_lite.learn.distill import fit_nca, group_rows, prompt_weights
from alignpro_lite.learn.monitor import kl_monitor
from alignpro_lite.llm import lora

__all__ = [
    "FACTORS",
    "SweepConfig",
    "FAST_SWEEP",
    "lam_sweep",
    "fit_diagnostics",
    "sweep_table",
    "lam_label",
    "REPORT_FILES",
]

FACTORS = (0.25, 1.0, 4.0, 16.0, 64.0, math.inf)
REPORT_FILES = ("sweep.csv", "samples.csv", "rows.csv", "curves.csv", "sweep.png", "report.json")


@dataclass(frozen=True)
class SweepConfig:
    """Every setting of a λ sweep (saved in each unit; a resume must match).

    The fit: ``steps`` momentum-SGD steps (``lr``, ``momentum``) of ``prompts_per_step`` train
    prompts with all their bank rows; the evaluation: ``n_samples`` rewrites per test prompt on
    the preregistered evaluation's streams; the monitor: per-token KL on ``monitor_prompts``
    train prompts x 2 rewrites, ``monitor_points`` times per fit.
    """

    task: str = "kindness"
    factors: tuple[float, ...] = FACTORS
    steps: int = 24
    prompts_per_step: int = 1
    lr: float = 2e-4
    momentum: float = 0.9
    seed: int = 0
    n_test_prompts: int | None = None
    n_samples: int = 4
    monitor_prompts: int = 6
    monitor_points: int = 3

    def __post_init__(self) -> None:
        from alignpro_lite.llm.tasks import TASKS

        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r}; tasks are {TASKS}.")
        if not self.factors or any(not f > 0 for f in self.factors):
            raise ValueError(f"factors must be > 0 (inf allowed), got {self.factors!r}.")
        for name in ("steps", "prompts_per_step", "n_samples", "monitor_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")
        if self.n_samples < 2:
            raise ValueError("n_samples must be >= 2 (a within-prompt spread needs two).")

    def to_json(self) -> dict:
        d = asdict(self)
        d["factors"] = [("inf" if math.isinf(f) else f) for f in self.factors]
        return d

    @classmethod
    def from_json(cls, d: dict) -> SweepConfig:
        kw = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        if "factors" in kw:
            kw["factors"] = tuple(math.inf if f == "inf" else float(f) for f in kw["factors"])
        return cls(**kw)


FAST_SWEEP = dict(factors=(1.0, math.inf), steps=2, n_test_prompts=2, n_samples=2,
                  monitor_prompts=1, monitor_points=1)  # fmt: skip
"""The ``--fast`` settings: two λ, two steps, two test prompts (seconds on the tiny model)."""


def lam_label(lam: float) -> str:
    """The folder/label spelling of a λ: ``lam0.06945``, ``laminf``."""
    return "laminf" if math.isinf(lam) else f"lam{lam:.4g}"


def _adapter_distance(model, a: str, b: str) -> tuple[float, float]:
    """L2 norm and max |·| of the difference of two adapters' LoRA weights."""
    pa, pb = lora.lora_params(model, a), lora.lora_params(model, b)
    sq, mx = 0.0, 0.0
    for n, p in pa.items():
        d = (p.detach().double() - pb[n.replace(f".{a}.", f".{b}.")].detach().double()).abs()
        sq += float((d**2).sum())
        mx = max(mx, float(d.max()))
    return math.sqrt(sq), mx


def _bootstrap(stat, groups: list[np.ndarray], n_boot: int = 1000, seed: int = 0, level=0.95):
    """Percentile interval of ``stat(index)`` over prompt-bootstrap resamples of ``groups``."""
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(groups), len(groups))
        v = stat(np.concatenate([groups[i] for i in pick]))
        if np.isfinite(v):
            vals.append(v)
    if len(vals) < n_boot // 2:
        return math.nan, math.nan
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _slope(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan
    xc = x - x.mean()
    return float(xc @ (y - y.mean()) / (xc @ xc))


def _spearman(x, y) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def fit_diagnostics(rows: pd.DataFrame, lam: float) -> dict:
    """The checks that would have caught a fit that does not fit, from one fit's ``rows`` frame.

    ``rows``: one row per bank rewrite with ``prompt_id``, ``heldout``, ``R_hat``, ``w`` (train
    rows' normalised weights), ``f_star`` (``log(N w)``) and ``f`` (the fitted
    ``log rho_θ - log rho_sft``; NaN for train prompts the fit never visited). Returns:

    * ``loss_train_0`` / ``loss_train``: mean NCA loss of the visited train prompts at
      ``rho_sft`` (``f = 0``) and after the fit (lower is better);
    * ``loss_held_0`` / ``loss_held``: the same loss on each prompt's held-out rewrites, taken as
      a bank of their own (weights ``∝ exp(R̂/λ)`` among them): it falls only if what the fit
      learned carries over to rewrites it never saw;
    * ``slope``: OLS slope of ``f`` on ``f_star`` over the visited train rows (1 at the
      optimum, 0 for a fit that learned nothing) with a prompt-bootstrap interval, and
      ``spearman_train``, their rank correlation (the slope is dominated by the rows whose
      target ``log(N w)`` is very negative at small λ);
    * ``spearman_held``: Spearman correlation of the within-prompt-centred implicit reward
      ``λ f`` with the centred ``R̂`` on the held-out rewrites, with a prompt-bootstrap interval.
    """
    tr = rows[~rows["heldout"]]
    seen = tr[tr["f"].notna()]
    out: dict = {}
    lt0, lt = [], []
    for _, g in seen.groupby("prompt_id"):
        w = g["w"].to_numpy()
        lt0.append(float(nca_loss(np.zeros(len(g)), w)))
        lt.append(float(nca_loss(g["f"].to_numpy(), w)))
    out["loss_train_0"] = float(np.mean(lt0)) if lt0 else math.nan
    out["loss_train"] = float(np.mean(lt)) if lt else math.nan
    held = rows[rows["heldout"] & rows["f"].notna()]
    lh0, lh = [], []
    for _, g in held.groupby("prompt_id"):
        nh = len(g)
        p = np.full(nh, 1.0 / nh) if math.isinf(lam) else snis_weights(g["R_hat"].to_numpy(), lam)
        lh0.append(float(nca_loss(np.zeros(nh), p)))
        lh.append(float(nca_loss(g["f"].to_numpy(), p)))
    out["loss_held_0"] = float(np.mean(lh0)) if lh0 else math.nan
    out["loss_held"] = float(np.mean(lh)) if lh else math.nan
    ok = seen[np.isfinite(seen["f_star"])]
    idx = [np.flatnonzero(ok["prompt_id"].to_numpy() == p) for p in ok["prompt_id"].unique()]
    fs, f = ok["f_star"].to_numpy(), ok["f"].to_numpy()
    out["slope"] = _slope(fs, f)
    out["slope_low"], out["slope_high"] = _bootstrap(lambda i: _slope(fs[i], f[i]), idx)
    out["spearman_train"] = _spearman(fs, f)
    out["spearman_train_low"], out["spearman_train_high"] = _bootstrap(
        lambda i: _spearman(fs[i], f[i]), idx
    )
    hc = held.assign(
        fc=held["f"] - held.groupby("prompt_id")["f"].transform("mean"),
        rc=held["R_hat"] - held.groupby("prompt_id")["R_hat"].transform("mean"),
    )
    hidx = [np.flatnonzero(hc["prompt_id"].to_numpy() == p) for p in hc["prompt_id"].unique()]
    fc, rc = hc["fc"].to_numpy(), hc["rc"].to_numpy()
    out["spearman_held"] = _spearman(fc, rc)
    out["spearman_low"], out["spearman_high"] = _bootstrap(lambda i: _spearman(fc[i], rc[i]), hidx)
    out["n_prompts_visited"] = int(seen["prompt_id"].nunique())
    return out


def _heldout_f(model, tok, values: pd.DataFrame, adapter: str, rcfg, pad: int) -> np.ndarray:
    """``log rho_θ - log rho_sft`` of the held-out rewrites (each prompt's rows in one call)."""
    from alignpro_lite.llm.lm import chat_format, token_logprobs

    xs = list(dict.fromkeys(values["x"]))
    p_ids = dict(zip(xs, tok([chat_format(tok, x, G.REWRITE_SYSTEM) for x in xs],
                             add_special_tokens=False)["input_ids"], strict=True))  # fmt: skip
    out = np.zeros(len(values))
    with torch.no_grad():
        for ix in group_rows(values["prompt_id"].to_numpy()):
            P = [p_ids[values["x"].iloc[i]] for i in ix]
            C = [list(map(int, values["ids"].iloc[i])) for i in ix]
            lp = []
            for name in (adapter, "sft"):
                with lora.use_adapter(model, name):
                    lp.append(token_logprobs(model, P, C, temperature=rcfg.temperature,
                                             pad_id=pad).double().cpu().numpy())  # fmt: skip
            out[ix] = lp[0] - lp[1]
    return out


def _fit_unit(folder: Path, lam: float, factor: float, cfg: SweepConfig, rcfg, made_from: dict,
              rows: dict, values: pd.DataFrame, model, tok, pad: int, progress: bool) -> dict:  # fmt: skip
    """One NCA refit at ``lam`` into ``folder`` (skipped when already there, made from the same,
    its adapter unchanged since the fit wrote it)."""
    from alignpro_lite.experiment.replicate import adapter_digest, verify_fit_adapter

    info_path = folder / "fit.json"
    if (folder / "adapter" / "adapter_config.json").is_file() and info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("made_from") != made_from:
            changed = what_changed(info.get("made_from") or {}, made_from)
            raise ValueError(
                f"{folder} holds a fit made with other settings, bank or SFT adapter: {changed}. "
                "Delete it to refit, or use another --out."
            )
        verify_fit_adapter(folder, info)  # an edited adapter is refused by name
        return info
    w, ess = prompt_weights(rows["groups"], rows["R"], lam)
    name = "fit_" + lam_label(lam).replace(".", "_")
    torch.manual_seed(cfg.seed)
    model = lora.add_lora(model, name, lora.LoRASpec(r=rcfg.lora_r))
    lora.copy_lora(model, "sft", name)  # the fit starts at rho_sft
    xs = list(dict.fromkeys(rows["df"]["x"]))[: cfg.monitor_prompts]
    t0 = time.perf_counter()
    fit = fit_nca(model, name, rows["P"], rows["C"], w, groups=rows["groups"], ref_adapter="sft",
                  temperature=rcfg.temperature, steps=cfg.steps,
                  prompts_per_step=cfg.prompts_per_step, lr=cfg.lr, momentum=cfg.momentum,
                  seed=cfg.seed, pad_id=pad, monitor=kl_monitor(model, tok, xs, name, "sft", system=G.REWRITE_SYSTEM,
                                     max_new_tokens=rcfg.rewrite_tokens,
                                     temperature=rcfg.temperature, pad_id=pad),
                  monitor_every=max(1, cfg.steps // cfg.monitor_points), progress=progress,
                  desc=f"NCA fit λ={lam:.4g}")  # fmt: skip
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    held = values[values["heldout"]].reset_index(drop=True)
    train = rows["df"]
    frame = pd.concat([
        pd.DataFrame({"prompt_id": train["prompt_id"], "j": train["j"], "heldout": False,
                      "R_hat": rows["R"], "se": train["se"], "w": w, "f_star": fit.f_star,
                      "f": fit.f}),
        pd.DataFrame({"prompt_id": held["prompt_id"], "j": held["j"], "heldout": True,
                      "R_hat": held["R_hat"], "se": held["se"], "w": np.nan, "f_star": np.nan,
                      "f": _heldout_f(model, tok, held, name, rcfg, pad)}),
    ], ignore_index=True)  # fmt: skip
    diag = fit_diagnostics(frame, lam)
    l2, mx = _adapter_distance(model, name, "sft")
    tmp = tmp_path(folder)
    lora.save_lora(model, name, tmp / "adapter")
    model.delete_adapter(name)
    fit.curve.to_csv(tmp / "curve.csv", index=False)
    frame.to_csv(tmp / "rows.csv", index=False)
    info = {"lam": "inf" if math.isinf(lam) else lam, "factor": "inf" if math.isinf(factor) else factor,
            "route": "b (NCA on the bank)", "rows": len(w), "ess_mean": float(ess.mean()),
            "ess_median": float(np.median(ess)), "adapter_l2_from_sft": l2,
            "adapter_maxabs_from_sft": mx, "seconds_fit": round(fit.seconds_train, 1),
            "seconds_monitor": round(fit.seconds_monitor, 1),
            "seconds_fit_call": round(seconds, 1),
            "seconds_diagnostics": round(time.perf_counter() - t1, 1),
            "threads": torch.get_num_threads(), **diag, "made_from": made_from,
            "adapter_sha256": adapter_digest(tmp / "adapter")}  # fmt: skip
    (tmp / "fit.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    replace_folder(tmp, folder)
    return info


def _eval_unit(path: Path, lam: float, adapter_dir: Path, made_from: dict, cfg: SweepConfig, rcfg,
               prompts, model, tok) -> pd.DataFrame:  # fmt: skip
    """The test samples of the prompter at ``lam`` (cached in ``path``)."""
    from alignpro_lite.experiment.evaluate import eval_samples
    from alignpro_lite.experiment.replicate import adapter_digest, cache_is_fresh, write_cache_key

    key = {**made_from, "adapter": adapter_digest(adapter_dir)}
    if path.is_file() and cache_is_fresh(path, key):  # same inputs, CSV unchanged since written
        return pd.read_csv(path, keep_default_na=False, na_values={"reward": [""], "gold": [""]})
    model = lora.load_lora(model, adapter_dir, "_eval")
    label = "Align-Pro λ=∞" if math.isinf(lam) else f"Align-Pro λ={lam:.4g}"
    df = eval_samples("align-pro", cfg.task, model, tok, adapter="_eval", n_samples=cfg.n_samples,
                      rewrite_tokens=rcfg.rewrite_tokens, temperature=rcfg.temperature,
                      answer_tokens=rcfg.answer_tokens, label=label, prompts=prompts,
                      log_ratio=True, kl_tok=True, ref_adapter="sft")  # fmt: skip
    model.delete_adapter("_eval")
    df["lam"] = lam
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    write_cache_key(path, key)  # the inputs and the CSV's SHA-256
    return df


def sweep_table(samples: pd.DataFrame, fits: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per λ: KL (per-token, and the single-sample log-ratio) and reward with
    prompt-clustered ``level`` intervals, the paired reward difference to the ``λ = ∞`` refit,
    and the fit's own numbers (``fits``: one row per λ, the ``fit.json`` of each unit)."""
    from alignpro_lite.llm.kl import clustered_mean_ci

    ref = samples[np.isinf(samples["lam"])]
    ref_m = ref.groupby("prompt_id")["reward"].mean() if not ref.empty else None
    out = []
    for lam, g in samples.groupby("lam", sort=True):
        row = {"lam": float(lam), "n_prompts": int(g["prompt_id"].nunique()), "n_samples": len(g)}
        for col, name in (("kl_tok", "kl"), ("log_ratio", "kl_log_ratio"), ("reward", "reward")):
            m, lo, hi = clustered_mean_ci(g[col].to_numpy(float), g["prompt_id"].to_numpy(), level)
            row.update({name: m, f"{name}_low": lo, f"{name}_high": hi})
        row["variance"] = float(g["reward"].var(ddof=1))  # total, the paper's measure
        row["var_within"] = float(g.groupby("prompt_id")["reward"].var(ddof=1).mean())
        row["kl_negative_share"] = float((g["log_ratio"] < 0).mean())
        row["copy_rate"] = float(g["copy"].mean())
        if ref_m is not None:
            d = g.groupby("prompt_id")["reward"].mean() - ref_m
            d = d.dropna()
            m, lo, hi = clustered_mean_ci(d.to_numpy(), d.index.to_numpy(), level)
            row.update({"reward_vs_inf": m, "reward_vs_inf_low": lo, "reward_vs_inf_high": hi})
        out.append(row)
    t = pd.DataFrame(out)
    # the names notebook 08's dashboard reads (SweepDashboard): mean reward and its interval
    t["mean"], t["ci_low"], t["ci_high"] = t["reward"], t["reward_low"], t["reward_high"]
    f = fits.copy()
    for col in ("lam", "factor"):
        if col in f:
            f[col] = [math.inf if v == "inf" else float(v) for v in f[col]]
    keep = [c for c in f.columns if c not in ("made_from", "route", "rows")]
    t = t.merge(f[keep], on="lam", how="left").sort_values("lam").reset_index(drop=True)
    first = [c for c in ("lam", "factor") if c in t]
    return t[[*first, *[c for c in t.columns if c not in first]]]


def lam_sweep(runs: str | Path, out: str | Path, cfg: SweepConfig | None = None,
              **kw) -> dict[str, pd.DataFrame]:  # fmt: skip
    """Run (or resume) the λ sweep of ``cfg.task`` from the replication in ``runs`` into ``out``.

    ``runs`` must hold ``replicate.json``, ``sft/`` and ``bank/{task}/`` (as the shipped ``runs/``
    does). Returns ``{"sweep", "samples", "rows", "curves"}``; writes ``out/report`` as one set.
    Holds ``out``'s lock (:func:`~alignpro_lite.atomic.out_lock`) throughout: a second sweep on the
    same folder stops at once. Keywords: ``model``, ``tok``, ``device``, ``progress``.
    """
    out = check_out_dir(out, flag="--out")
    with out_lock(out):
        return _lam_sweep(runs, out, cfg, **kw)


def _lam_sweep(
    runs: str | Path,
    out: str | Path,
    cfg: SweepConfig | None = None,
    *,
    model=None,
    tok=None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, pd.DataFrame]:
    from alignpro_lite.experiment.replicate import (
        CONFIG_FILE,
        adapter_digest,
        fit_rows,
        read_saved_config,
    )
    from alignpro_lite.llm.tasks import load_task

    cfg = cfg or SweepConfig()
    runs, out = Path(runs), check_out_dir(out, flag="--out")
    if not (runs / CONFIG_FILE).is_file():
        raise ValueError(f"{runs} holds no replication ({CONFIG_FILE} is missing); give the "
                         "folder `alignpro-lite replicate --out` wrote, e.g. --runs runs.")  # fmt: skip
    rcfg, saved = read_saved_config(runs / CONFIG_FILE)  # the pydantic-checked replicate.json
    if cfg.task not in saved.get("weights", {}):
        raise ValueError(
            f"{runs} has no {cfg.task!r} bank; its tasks are {list(saved.get('weights', {}))}."
        )
    lam0 = float(saved["weights"][cfg.task][0])
    bank_dir = runs / "bank" / cfg.task
    bank = B.load_bank(bank_dir)  # every file checked against its checksum
    t_start = time.perf_counter()
    if model is None or tok is None:
        from alignpro_lite.llm.lm import load_causal_lm

        model, tok = load_causal_lm(rcfg.model, device=device)
    model = lora.load_lora(model, runs / "sft", "sft")
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    rows = fit_rows(rcfg, "align-pro", bank, tok)
    values = B.rewrite_values(bank, rcfg.mu, rcfg.tau)
    made_from = {"config": cfg.to_json(), "sft": adapter_digest(runs / "sft"),
                 "bank": bank["manifest"]["stages"]["answers"]["sha256"],
                 "mu": rcfg.mu, "tau": rcfg.tau}  # fmt: skip
    grid = [(lam0 * f, f) for f in cfg.factors]
    fits = []
    for lam, f in tqdm(grid, desc="λ sweep: fits", disable=not progress):
        info = _fit_unit(out / "fits" / lam_label(lam), lam, f, cfg, rcfg, made_from, rows,
                         values, model, tok, pad, progress)  # fmt: skip
        fits.append({k: v for k, v in info.items() if k != "made_from"})
    ps = load_task(cfg.task, "test")
    ps = ps if cfg.n_test_prompts is None else ps[: cfg.n_test_prompts]
    parts = []
    for lam, _ in tqdm(grid, desc="λ sweep: evaluation", disable=not progress):
        parts.append(_eval_unit(out / "eval" / f"{lam_label(lam)}.csv", lam,
                                out / "fits" / lam_label(lam) / "adapter", made_from, cfg, rcfg,
                                ps, model, tok))  # fmt: skip
    samples = pd.concat(parts, ignore_index=True)
    fits_df = pd.DataFrame(fits)
    table = sweep_table(samples, fits_df)
    fit_vals = values[~values["heldout"]]
    floor = noise_floor(fit_vals["se"].to_numpy())
    table["above_noise_floor"] = table["lam"] >= floor
    rows_all = []
    curves = []
    for lam, _ in grid:
        d = out / "fits" / lam_label(lam)
        rows_all.append(pd.read_csv(d / "rows.csv").assign(lam=lam))
        curves.append(pd.read_csv(d / "curve.csv").assign(lam=lam))
    # the diagnostics from each fit's rows.csv (the current definitions, not the fit.json copy)
    for lam, r in zip([g for g, _ in grid], rows_all, strict=True):
        i = np.flatnonzero(np.isclose(table["lam"], lam) | (np.isinf(table["lam"]) & np.isinf(lam)))
        for k, v in fit_diagnostics(r, lam).items():
            table.loc[i, k] = v
    tables = {"sweep": table, "samples": samples, "rows": pd.concat(rows_all, ignore_index=True),
              "curves": pd.concat(curves, ignore_index=True)}  # fmt: skip
    meta = {"config": cfg.to_json(), "runs": str(runs), "task": cfg.task, "lam0": lam0,
            "noise_floor": floor, "se_R_hat_median": float(np.nanmedian(fit_vals["se"])),
            "threads": torch.get_num_threads(), "seconds_this_call": round(time.perf_counter() - t_start, 1)}  # fmt: skip
    _write(out / "report", tables, meta)
    return tables


def _write(folder: Path, tables: dict, meta: dict) -> None:
    import matplotlib.pyplot as plt

    from alignpro_lite.experiment.report import machine
    from alignpro_lite.ui.plots import plot_generative_sweep, set_style

    check_out_dir(folder, REPORT_FILES, flag="report folder")
    set_style()
    fig = plot_generative_sweep(tables["sweep"], title=f"{meta['task']}: NCA refits of one bank")
    with staged_dir(folder, flag="report folder", owned=REPORT_FILES) as tmp:
        for name in ("sweep", "samples", "rows", "curves"):
            tables[name].to_csv(tmp / f"{name}.csv", index=False)
        fig.savefig(tmp / "sweep.png", dpi=100)
        plt.close(fig)
        write_sealed_json(tmp, "report.json", {**meta, "machine": machine()}, default=str)


def fast_sweep_config(**overrides) -> SweepConfig:
    """The ``--fast`` sweep (:data:`FAST_SWEEP`), with ``overrides``."""
    return replace(SweepConfig(**FAST_SWEEP), **overrides)
