"""``alignpro-lite replicate``: the capstone in resumable stages (notebooks 07–08).

    sft ──► bank (per task) ──► fits (route b) ──► evaluation (per task, per method) ──► report

1. **sft**: the reference prompter ``rho_sft`` (LoRA, supervised on the train rewrites of all three
   tasks), ``OUT/sft/``.
2. **bank** (:mod:`alignpro_lite.learn.bank`): rewrites of ``rho_sft``, the frozen model's answers
   and RLHF's responses of ``pi_ref`` on the TRAIN prompts, ``OUT/bank/{task}/``, checksummed.
3. **fits** (:mod:`alignpro_lite.learn.distill`, route (b)): the prompter at the preregistered λ,
   the RLHF model at the preregistered β, and the λ grid of the sweep tasks, each a weighted-MLE
   refit of the same bank, ``OUT/alignpro-{task}/``, ``OUT/rlhf-{task}/``,
   ``OUT/sweep/{task}-lam{λ}/`` (adapter, ``fit.json``, ``curve.csv``).
4. **evaluation**: the preregistered paired evaluation on the TEST prompts
   (:func:`~alignpro_lite.experiment.evaluate.eval_samples`), one cached CSV per (task, method)
   in ``OUT/eval/``.
5. **report**: every table and figure, written as one set into ``OUT/report/``.

Every stage checks what is already on disk and skips it, so an interrupted replication resumes at
the first unfinished piece (a fit or an evaluation is the unit: at most a few minutes are redone).
λ and β come from ``data/headroom/weights.csv`` (the preregistered rule).
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
    file_sha256,
    replace_folder,
    staged_dir,
    tmp_path,
    write_sealed_json,
    write_text_atomic,
)
from alignpro_lite.exact.validate import what_changed
from alignpro_lite.experiment import baselines
from alignpro_lite.experiment.evaluate import (
    EVAL_SEED,
    eval_samples,
    gap_closed,
    lam_sweep_table,
    paired_table,
    summary_table,
    variance_differences,
    win_rates,
)
from alignpro_lite.learn import bank as B
from alignpro_lite.learn import generative as G
from alignpro_lite.learn.distill import fit_nca, fit_weighted, group_rows, prompt_weights
from alignpro_lite.learn.monitor import kl_monitor
from alignpro_lite.llm import lora
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.llm.lm import EMBEDDED, chat_format
from alignpro_lite.llm.tasks import TASKS

__all__ = [
    "ReplicateConfig",
    "FAST",
    "preregistered_weights",
    "estimate_seconds",
    "replicate",
    "REPORT_FILES",
    "SFT_LABEL",
    "BON_LABEL",
]

CONFIG_FILE = "replicate.json"
FITS = ("nca", "wmle")
"""Route (b)'s fit: noise-contrastive alignment (round 2) or round 1's weighted MLE."""
LAM_RULES = ("noise-aware", "headroom")
"""λ from ``data/headroom/weights.csv`` raised to the bank's noise floor (``2 × median se`` of
R̂, :func:`alignpro_lite.exact.nca.noise_floor`), or the headroom value alone (round 1)."""
SFT_LABEL = "SFT prompter (λ=∞)"
BON_LABEL = "Best-of-n"
REPORT_FILES = (
    "samples.csv", "summary.csv", "paired.csv", "variance.csv", "gap.csv", "win_rates.csv",
    "lam_sweep.csv", "baselines.csv", "fits.csv", "curves.csv", "implicit.csv", "ess.csv",
    "examples.csv", "comparison.png", "curves.png", "report.json",
)  # fmt: skip


@dataclass(frozen=True)
class ReplicateConfig:
    """Every setting of a replication (saved as ``OUT/replicate.json``; a resume must match).

    The defaults are the shipped run: 60 train prompts per task; 12 rewrites x 3 answers
    (2,160 prompter rollouts) + 2 held-out rewrites per prompt; 36 RLHF responses per prompt
    (2,160 rollouts); fits of 40 Adam steps (lr 2e-3) x 16 rows (4 prompts x 4); the
    preregistered evaluation (8 answers per test prompt; best-of-n from a pool of 12); a λ sweep
    of the kindness prompter at ¼, 4 and 16 times the preregistered λ (4 answers per prompt);
    route (a) on kindness: 20 RLOO steps x 4 prompts x 4 rewrites (320 rollouts).
    """

    tasks: tuple[str, ...] = TASKS
    seed: int = 0
    n_prompts: int | None = None
    n_test_prompts: int | None = None
    n_rewrites: int = 12
    n_heldout: int = 2
    n_answers: int = 3
    n_responses: int = 36
    rewrite_tokens: int = 32
    answer_tokens: int = PI_F_DECODING.max_new_tokens
    temperature: float = 0.7
    sft_steps: int = 60
    lora_r: int = 8
    fit_steps: int = 40
    fit_batch: int = 16
    fit_lr: float = 2e-3
    fit: str = "nca"
    nca_steps: int = 24
    nca_prompts_per_step: int = 1
    nca_lr: float = 2e-4
    nca_momentum: float = 0.9
    lam_rule: str = "noise-aware"
    mu: float = 1.0
    tau: float = 0.6
    sweep_tasks: tuple[str, ...] = ("kindness",)
    sweep_factors: tuple[float, ...] = (0.25, 4.0, 16.0)
    beta_sweep_factors: tuple[float, ...] = ()
    route_a_tasks: tuple[str, ...] = ("kindness",)
    route_a_steps: int = 20
    route_a_batch: int = 4
    route_a_k: int = 4
    n_samples: int = 8
    n_sweep_samples: int = 4
    bon_pool: int = 12
    model: str = EMBEDDED

    def __post_init__(self) -> None:
        for t in (*self.tasks, *self.sweep_tasks, *self.route_a_tasks):
            if t not in TASKS:
                raise ValueError(f"unknown task {t!r}; tasks are {TASKS}.")
        if not self.tasks:
            raise ValueError("tasks is empty: give at least one of " + ", ".join(TASKS) + ".")
        for f in (*self.sweep_factors, *self.beta_sweep_factors):
            if not (f > 0 and math.isfinite(f)):
                raise ValueError(f"sweep factors must be finite and > 0, got {f!r}.")
        if self.fit not in FITS:
            raise ValueError(f"fit must be one of {FITS}, got {self.fit!r}.")
        if self.lam_rule not in LAM_RULES:
            raise ValueError(f"lam_rule must be one of {LAM_RULES}, got {self.lam_rule!r}.")
        if self.n_samples < 2 or self.bon_pool < self.n_samples:
            raise ValueError("need n_samples >= 2 and bon_pool >= n_samples.")
        for name in ("sft_steps", "fit_steps", "fit_batch", "n_sweep_samples", "route_a_steps",
                     "route_a_batch", "nca_steps", "nca_prompts_per_step"):  # fmt: skip
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}.")

    def bank_spec(self, task: str) -> B.BankSpec:
        return B.BankSpec(task=task, n_prompts=self.n_prompts, n_rewrites=self.n_rewrites,
                          n_heldout=self.n_heldout, n_answers=self.n_answers,
                          n_responses=self.n_responses, rewrite_tokens=self.rewrite_tokens,
                          answer_tokens=self.answer_tokens, temperature=self.temperature,
                          seed=self.seed)  # fmt: skip

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> ReplicateConfig:
        """The config saved in ``d``; one saved before round 2 (no ``fit`` key) was fitted by
        weighted MLE with λ from the headroom rule alone."""
        kw = {} if "fit" in d else {"fit": "wmle", "lam_rule": "headroom"}
        for f in fields(cls):
            if f.name in d:
                v = d[f.name]
                kw[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)


def replicate_file_schema():
    """The pydantic schema of ``replicate.json``: every :class:`ReplicateConfig` field (a missing
    one keeps its default: files of earlier rounds), and ``weights`` ({task: [λ, β]})."""
    from alignpro_lite.exact.schema import settings_record

    return settings_record(ReplicateConfig, "replication config", required=False,
                           extra={"weights": dict[str, list[float]]})  # fmt: skip


def read_saved_config(path: Path) -> tuple[ReplicateConfig, dict]:
    """The config saved in ``OUT/replicate.json``, or a ``ValueError`` that names the file and
    the field: not JSON, not an object, or a field of the wrong type (``"n_samples": "2"``),
    checked by the pydantic schema :func:`~alignpro_lite.exact.schema.settings_record`."""
    from alignpro_lite.exact.schema import load_json

    try:
        d = load_json(path, "replication config")
    except ValueError as err:
        raise ValueError(f"{err} Restore it or use another --out.") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(d).__name__}.")
    try:
        replicate_file_schema().check(d)
    except ValueError as err:
        raise ValueError(f"{path}: {err} Restore the file or use another --out.") from None
    try:
        return ReplicateConfig.from_json(d), d
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


STAGES = ("sft", "bank", "fits", "route_a", "evaluation", "report")
"""The stages in order; ``replicate(..., until=stage)`` stops after ``stage``."""


def round2_config(seed: int, **overrides) -> ReplicateConfig:
    """Round 2 of the capstone (``runs/PREREGISTRATION.md``, round 2): NCA fits at the
    noise-aware λ, a NoFT pool of 32 answers per test prompt (NoFT's mean and best-of-n, n = 1 … 16), no route (a); seed 0 also refits
    kindness at λ × {1/16, 1/4, 4, 16} and β × {1/16, 1/4, 4, 16} (the frontier)."""
    frontier = seed == 0
    kw = dict(seed=seed, fit="nca", lam_rule="noise-aware", route_a_tasks=(), bon_pool=32,
              sweep_tasks=("kindness",) if frontier else (),
              sweep_factors=(0.0625, 0.25, 4.0, 16.0),
              beta_sweep_factors=(0.0625, 0.25, 4.0, 16.0) if frontier else ())  # fmt: skip
    return replace(ReplicateConfig(**kw), **overrides)


FAST = dict(n_prompts=3, n_test_prompts=3, n_rewrites=2, n_heldout=1, n_answers=2, n_responses=3,
            rewrite_tokens=8, answer_tokens=8, sft_steps=2, fit_steps=2, fit_batch=2,
            sweep_factors=(4.0,), nca_steps=2, n_samples=2, n_sweep_samples=2, bon_pool=3, route_a_steps=1,
            route_a_batch=2, route_a_k=2)  # fmt: skip
"""The settings of ``ALIGNPRO_FAST=1`` / ``--fast``: every stage runs, on 3 prompts, in about a minute."""


def preregistered_weights(task: str) -> tuple[float, float]:
    """``(λ, β)`` of ``task`` from ``data/headroom/weights.csv`` (the preregistered rule)."""
    from alignpro_lite.config import data_dir

    path = data_dir() / "headroom" / "weights.csv"
    w = pd.read_csv(path).set_index("task")
    if task not in w.index:
        raise ValueError(f"{path} has no row for task {task!r}; run scripts/headroom.py.")
    return float(w.loc[task, "lam"]), float(w.loc[task, "beta"])


def fit_weights(cfg: ReplicateConfig, task: str, bank: dict) -> tuple[float, float]:
    """``(λ, β)`` the fits of ``task`` use: :func:`preregistered_weights`, with λ raised to the
    bank's noise floor ``2 × median se(R̂)`` of the fit rewrites when ``cfg.lam_rule`` is
    ``"noise-aware"`` (below it the weights ``exp(R̂/λ)`` follow the noise of ``R̂``)."""
    from alignpro_lite.exact.nca import noise_aware_lam

    lam, beta = preregistered_weights(task)
    if cfg.lam_rule == "noise-aware":
        v = B.rewrite_values(bank, cfg.mu, cfg.tau)
        lam = noise_aware_lam(lam, v.loc[~v["heldout"], "se"].to_numpy())
    return lam, beta


# --------------------------------------------------------------------------- the time estimate
# seconds per unit on the shared 2-core AMD EPYC (2 torch threads), measured in the shipped run
# (runs/bank/*/manifest.json, runs/*/fit.json, runs/report/report.json)
COST_2CORE = {"answer": 0.16, "rewrite": 0.18, "logprob": 0.03, "fit_step": 3.1, "sft_step": 4.0,
              "monitor_row": 0.1, "model_load": 15.0, "route_a_rollout": 1.2,
              "nca_row": 0.27, "nca_monitor_point": 8.0}  # fmt: skip
# nca_row: one bank row per NCA step (its gradient pass and its reference pass); nca_monitor_point:
# 6 prompts x 2 sampled rewrites and their per-token KL. Recalibrated on 2026-12-03 with
# scripts/check_estimate.py on the idle 2-core machine (2 threads): the earlier 0.54 / 16.0 (from
# the λ sweep, run beside other jobs) predicted the fits stage at 2.0x its measured time, while
# bank (1.00x) and evaluation (0.96x) matched; both NCA costs were halved.


def estimate_seconds(cfg: ReplicateConfig) -> dict[str, float]:
    """Seconds per stage on the 2-core CPU (:data:`COST_2CORE`), for the message printed up front."""
    c = COST_2CORE
    n_x = cfg.n_prompts or 60
    n_t = cfg.n_test_prompts or 60
    n_rw = cfg.n_rewrites + cfg.n_heldout
    per_task_bank = n_x * (n_rw * (c["rewrite"] + c["logprob"] + cfg.n_answers * c["answer"])
                           + cfg.n_responses * (c["answer"] + c["logprob"]))  # fmt: skip
    n_sweep = sum(len(cfg.sweep_factors) for t in cfg.tasks if t in cfg.sweep_tasks)
    n_beta = sum(len(cfg.beta_sweep_factors) for t in cfg.tasks if t in cfg.sweep_tasks)
    n_fits = 2 * len(cfg.tasks) + n_sweep
    monitor = min(6, n_x) * min(8, cfg.n_rewrites) * c["monitor_row"] * 5
    ev = n_t * cfg.n_samples
    per_task_eval = (cfg.bon_pool * n_t * c["answer"] + 2 * ev * (c["rewrite"] + c["answer"])
                     + ev * c["answer"] + 4 * ev * c["logprob"])  # fmt: skip
    sweep_eval = n_sweep * n_t * cfg.n_sweep_samples * (
        c["rewrite"] + c["answer"] + 2 * c["logprob"]
    ) + n_beta * n_t * cfg.n_sweep_samples * (c["answer"] + 2 * c["logprob"])
    n_a = sum(t in cfg.route_a_tasks for t in cfg.tasks)
    route_a = n_a * cfg.route_a_steps * cfg.route_a_batch * cfg.route_a_k * c["route_a_rollout"]
    sweep_eval += n_a * n_t * cfg.n_sweep_samples * (c["rewrite"] + c["answer"] + 2 * c["logprob"])
    if cfg.fit == "nca":  # every row of a visited prompt, once per visit (+ a final pass)
        visits = cfg.nca_steps * cfg.nca_prompts_per_step
        per_fit = {
            k: visits * rows * c["nca_row"] * 1.25 + 4 * c["nca_monitor_point"]
            for k, rows in (("align-pro", cfg.n_rewrites), ("rlhf", cfg.n_responses))
        }
        fits = (
            len(cfg.tasks) * (per_fit["align-pro"] + per_fit["rlhf"])
            + n_sweep * per_fit["align-pro"]
            + n_beta * per_fit["rlhf"]
        )
    else:
        fits = n_fits * (cfg.fit_steps * c["fit_step"] * cfg.fit_batch / 16 + monitor)
    return {
        "sft": c["model_load"] + cfg.sft_steps * c["sft_step"],
        "route_a": route_a,
        "bank": len(cfg.tasks) * per_task_bank,
        "fits": fits,
        "evaluation": len(cfg.tasks) * per_task_eval + sweep_eval,
    }


# --------------------------------------------------------------------------- stages
def verify_fit_adapter(folder: str | Path, info: dict) -> None:
    """A fit's ``adapter/`` must still have the SHA-256 its ``fit.json`` (``info``) recorded:
    an edited, truncated or swapped adapter is a ``ValueError`` naming it (fits saved before
    digests were recorded carry none and are read as they are)."""
    folder = Path(folder)
    recorded = info.get("adapter_sha256")
    if recorded is None:
        return
    try:
        now = adapter_digest(folder / "adapter")
    except OSError as err:
        raise ValueError(f"{folder / 'adapter'}: cannot read it ({err.strerror or err}); restore "
                         "it or delete the folder to refit.") from None  # fmt: skip
    if now != recorded:
        raise ValueError(f"{folder / 'adapter'} was changed after the fit wrote it (its SHA-256 "
                         f"no longer matches {folder / 'fit.json'}); restore it or delete the "
                         "folder to refit.")  # fmt: skip


def adapter_digest(folder: str | Path) -> str:
    """SHA-256 of a saved LoRA adapter's weights (what a resumed stage checks it was made from;
    :func:`alignpro_lite.llm.lora.weights_digest`)."""
    return lora.weights_digest(folder)


def _say(msg: str, progress: bool) -> None:
    if progress:
        tqdm.write(msg)


def _adapter_ready(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def _stage_sft(cfg: ReplicateConfig, out: Path, model, tok, progress: bool):
    folder = out / "sft"
    if _adapter_ready(folder):
        return lora.load_lora(model, folder, "sft")
    torch.manual_seed(cfg.seed)
    model = lora.add_lora(model, "sft", lora.LoRASpec(r=cfg.lora_r))
    curve = G.sft_prompter(model, tok, G.rewrite_pairs(TASKS, "train"), steps=cfg.sft_steps,
                           seed=cfg.seed, progress=progress)  # fmt: skip
    tmp = tmp_path(out / "sft")
    lora.save_lora(model, "sft", tmp)
    curve.to_csv(tmp / "loss.csv", index=False)
    replace_folder(tmp, folder)  # a leftover sft/ of a killed run (no adapter) is replaced
    return model


def fit_rows(cfg: ReplicateConfig, kind: str, bank: dict, tok) -> dict:
    """The rows a fit learns from: prompt ids, target ids, R̂, reference log-probs, groups."""
    if kind == "align-pro":
        df = B.rewrite_values(bank, cfg.mu, cfg.tau)
        df = df[~df["heldout"]].reset_index(drop=True)
        system, lp_col = G.REWRITE_SYSTEM, "logp_sft"
    else:
        df = B.response_values(bank).reset_index(drop=True)
        system, lp_col = None, "logp_ref"
    xs = list(dict.fromkeys(df["x"]))
    p_ids = dict(zip(xs, tok([chat_format(tok, x, system) for x in xs], add_special_tokens=False)
                     ["input_ids"], strict=True))  # fmt: skip
    return {"df": df, "P": [p_ids[x] for x in df["x"]], "C": [list(map(int, r)) for r in df["ids"]],
            "R": df["R_hat"].to_numpy(dtype=float), "lp_ref": df[lp_col].to_numpy(dtype=float),
            "groups": df["prompt_id"].to_numpy()}  # fmt: skip


def _monitor(model, tok, rows: dict, adapter: str, temperature: float, n_prompts: int = 6,
             per_prompt: int = 8):  # fmt: skip
    """Learning-curve point: SNIS estimates on the bank, from the reference's own samples, of
    ``E_{rho_θ}[R̂]`` and ``KL(rho_θ ‖ rho_ref)`` (``v ∝ rho_θ/rho_ref`` per prompt), averaged
    over the first ``n_prompts`` prompts (their first ``per_prompt`` samples)."""
    from alignpro_lite.llm.lm import token_logprobs

    groups = rows["groups"]
    first = pd.Series(groups).groupby(groups).cumcount().to_numpy() < per_prompt
    keep = np.isin(groups, list(dict.fromkeys(groups))[:n_prompts]) & first
    idx = np.flatnonzero(keep)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def point(step: int) -> dict:  # noqa: ARG001
        with lora.use_adapter(model, adapter):
            lp = token_logprobs(model, [rows["P"][i] for i in idx], [rows["C"][i] for i in idx],
                                temperature=temperature, pad_id=pad).double().cpu().numpy()  # fmt: skip
        ratio = lp - rows["lp_ref"][idx]
        rewards, kls = [], []
        for g in dict.fromkeys(groups[idx]):
            m = groups[idx] == g
            v = np.exp(ratio[m] - ratio[m].max())
            v /= v.sum()
            rewards.append(float(v @ rows["R"][idx][m]))
            kls.append(float(v @ ratio[m]))
        return {"reward_is": float(np.mean(rewards)), "kl_is": float(np.mean(kls))}

    return point


def _stage_fit(cfg, out_dir: Path, kind: str, task: str, weight: float, rows: dict, model, tok,
               progress: bool, start: str | None = None) -> dict:  # fmt: skip
    """One route-(b) fit into ``out_dir``; skipped if its adapter and fit.json are there and were
    made with the same settings, weight and starting adapter (``start``: its digest), else an error."""
    info_path = out_dir / "fit.json"
    if _adapter_ready(out_dir / "adapter") and info_path.is_file():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        same = (info.get("weight") == weight and info.get("start") == start
                and ReplicateConfig.from_json(info.get("config", {})) == cfg)  # fmt: skip
        if not same:
            changed = what_changed(
                {"weight": info.get("weight"), "start": info.get("start"),
                 "config": info.get("config", {})},
                {"weight": weight, "start": start, "config": cfg.to_json()},
                {"start": "the starting adapter (SHA-256 of the rho_sft adapter)",
                 "weight": "the fit's λ weight"},
            )  # fmt: skip
            raise ValueError(
                f"{out_dir} holds a fit made with other settings: {changed}. Delete it to "
                "refit, or use another --out."
            )
        verify_fit_adapter(out_dir, info)
        return info
    t0 = time.perf_counter()
    w, ess = prompt_weights(rows["groups"], rows["R"], weight)
    adapter = "fit_" + "".join(ch if ch.isalnum() else "_" for ch in out_dir.name)
    torch.manual_seed(cfg.seed)
    model = lora.add_lora(model, adapter, lora.LoRASpec(r=cfg.lora_r))
    if kind == "align-pro":
        lora.copy_lora(model, "sft", adapter)  # the fit starts at rho_sft
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    extra: dict = {}
    if cfg.fit == "nca":
        ap = kind == "align-pro"
        xs = list(dict.fromkeys(rows["df"]["x"]))[:6]
        mon = kl_monitor(model, tok, xs, adapter, "sft" if ap else None,
                         system=G.REWRITE_SYSTEM if ap else None,
                         max_new_tokens=cfg.rewrite_tokens if ap else cfg.answer_tokens,
                         temperature=cfg.temperature, pad_id=pad)  # fmt: skip
        fit = fit_nca(model, adapter, rows["P"], rows["C"], w, groups=rows["groups"],
                      ref_adapter="sft" if ap else None, temperature=cfg.temperature,
                      steps=cfg.nca_steps, prompts_per_step=cfg.nca_prompts_per_step,
                      lr=cfg.nca_lr, momentum=cfg.nca_momentum, seed=cfg.seed, pad_id=pad,
                      monitor=mon, monitor_every=max(1, cfg.nca_steps // 3), progress=progress,
                      desc=f"NCA fit {kind} {task} {'λ' if ap else 'β'}={weight:.3g}")  # fmt: skip
        curve = fit.curve
        groups = group_rows(rows["groups"])
        extra = {
            "loss_train_0": fit.loss(w, groups, final=False),
            "loss_train": fit.loss(w, groups),
        }
    else:
        curve = _fit_wmle(cfg, model, tok, adapter, rows, w, kind, task, weight, pad, progress)
    tmp = tmp_path(out_dir)
    lora.save_lora(model, adapter, tmp / "adapter")
    extra["adapter_sha256"] = adapter_digest(tmp / "adapter")
    curve.to_csv(tmp / "curve.csv", index=False)
    route = "b (NCA on the bank)" if cfg.fit == "nca" else "b (weighted MLE on the bank)"
    info = {"method": kind, "task": task, "weight": weight, "route": route,
            "rows": len(w), "rollouts": int(rows["df"].shape[0] * (cfg.n_answers if kind == "align-pro" else 1)),
            "ess_mean": float(ess.mean()), "ess_median": float(np.median(ess)), "start": start,
            "seconds": round(time.perf_counter() - t0, 1), **extra, "config": cfg.to_json()}  # fmt: skip
    (tmp / "fit.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    replace_folder(tmp, out_dir)
    return info


def _fit_wmle(cfg, model, tok, adapter, rows, w, kind, task, weight, pad, progress) -> pd.DataFrame:
    """Round 1's weighted-MLE fit (:func:`~alignpro_lite.learn.distill.fit_weighted`)."""
    return fit_weighted(model, adapter, rows["P"], rows["C"], w, temperature=cfg.temperature,
                         groups=rows["groups"], per_prompt=min(4, cfg.fit_batch),
                         steps=cfg.fit_steps, batch_size=cfg.fit_batch, lr=cfg.fit_lr,
                         seed=cfg.seed, pad_id=pad,
                         monitor=_monitor(model, tok, rows, adapter, cfg.temperature),
                         monitor_every=max(1, cfg.fit_steps // 4), progress=progress,
                         desc=f"fit {kind} {task} {'λ' if kind == 'align-pro' else 'β'}={weight:.3g}")  # fmt: skip


def _route_a_config(cfg: ReplicateConfig, out: Path, task: str, lam: float | None = None):
    from alignpro_lite.experiment.runs import RunConfig

    lam = preregistered_weights(task)[0] if lam is None else lam
    return RunConfig(method="align-pro", task=task, lam=lam, steps=cfg.route_a_steps,
                     batch_size=cfg.route_a_batch, k=cfg.route_a_k, mu=cfg.mu, tau=cfg.tau,
                     rewrite_tokens=cfg.rewrite_tokens, answer_tokens=cfg.answer_tokens,
                     temperature=cfg.temperature, sft_adapter=str(out / "sft"), lora_r=cfg.lora_r,
                     seed=cfg.seed, model=cfg.model, checkpoint_every=4)  # fmt: skip


def _stage_route_a(cfg: ReplicateConfig, out: Path, task: str, model, tok, progress: bool,
                   lam: float | None = None):  # fmt: skip
    """Route (a): RLOO policy gradient (:func:`~alignpro_lite.experiment.runs.train_run`),
    checkpointed and resumable, into ``OUT/route-a-{task}/``."""
    from alignpro_lite.experiment.runs import ADAPTER_DIR, read_run, train_run

    folder = out / f"route-a-{task}"
    cfg_a = _route_a_config(cfg, out, task, lam)
    if _adapter_ready(folder / ADAPTER_DIR):
        saved = replace(read_run(folder), sft_adapter=None)
        if saved != replace(cfg_a, sft_adapter=None):
            changed = what_changed(saved.to_json(), replace(cfg_a, sft_adapter=None).to_json())
            raise ValueError(
                f"{folder} holds a route (a) run with other settings: {changed}. Delete it to "
                "retrain."
            )
        return model
    train_run(cfg_a, folder, model=model, tok=tok, progress=progress)
    return model


def write_cache_key(path: Path, made_from: dict) -> None:
    """``PATH.json`` beside an evaluation cache ``PATH``: the inputs it was made from and the
    SHA-256 of the CSV itself (``csv_sha256``)."""
    write_text_atomic(Path(path).with_suffix(".json"),
                      json.dumps({**made_from, "csv_sha256": file_sha256(path)}))  # fmt: skip


def cache_is_fresh(path: Path, made_from: dict) -> bool:
    """Whether the evaluation cache ``path`` was made from ``made_from`` (its ``.json`` key). A
    cache whose CSV no longer has the digest its key recorded was changed after it was written:
    that is a ``ValueError`` naming the file, never a silent use of the edited numbers; a key
    without a digest (stripped, or written before digests) is not trusted: the job reruns."""
    key_path = Path(path).with_suffix(".json")
    if not key_path.is_file():
        return False
    try:
        key = json.loads(key_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # a damaged key: recompute
    if not isinstance(key, dict):
        return False
    sha = key.pop("csv_sha256", None)
    if key != made_from or sha is None:
        return False  # other inputs, or no digest to check the CSV by: recompute it
    if file_sha256(path) != sha:
        raise ValueError(f"{path} was changed after it was written (its SHA-256 no longer matches "
                         f"{key_path.name}); delete both files to recompute it.")  # fmt: skip
    return True


def _eval_job(cfg, out: Path, task: str, label: str, method: str, adapter_dir: Path | None,
              ref: str | None, n: int, model, tok, prompts, reuse: Path | None = None) -> pd.DataFrame:  # fmt: skip
    """One cached evaluation (``OUT/eval/{task}/{slug}.csv``); a cache of ``reuse`` (another
    replication's folder) made from the same inputs is copied instead of recomputed."""
    slug = "".join(ch if ch.isalnum() or ch in "-." else "_" for ch in label)
    path = out / "eval" / task / f"{slug}.csv"
    made_from = {"adapter": adapter_digest(adapter_dir) if adapter_dir is not None else None,
                 "ref": adapter_digest(out / ref) if ref is not None else None, "n": int(n),
                 "prompts": [p if isinstance(p, str) else p.id for p in prompts]}  # fmt: skip
    kl_tok = cfg.fit == "nca"  # round 2 measures KL per token; round 1's caches have no such column
    if kl_tok:
        made_from["kl_tok"] = True
    if reuse is not None and not path.is_file():  # e.g. NoFT's answers: the same for every seed
        src = Path(reuse) / "eval" / task / path.name
        if src.is_file() and cache_is_fresh(src, made_from):
            import shutil

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = tmp_path(path)
            shutil.copyfile(src, tmp)
            os.replace(tmp, path)
            write_cache_key(path, made_from)
    if path.is_file() and cache_is_fresh(path, made_from):
        return pd.read_csv(path, keep_default_na=False,
                           na_values={c: [""] for c in ("reward", "gold", "preservation", "lam",
                                                        "beta", "log_ratio", "kl_tok", "bon_n")})  # fmt: skip
    name = None
    if adapter_dir is not None:
        model = lora.load_lora(model, adapter_dir, "_eval")
        name = "_eval"
    same = adapter_dir is not None and ref is not None and Path(adapter_dir) == out / ref
    df = eval_samples(method, task, model, tok, adapter=name, n_samples=n,
                      rewrite_tokens=cfg.rewrite_tokens, temperature=cfg.temperature,
                      answer_tokens=cfg.answer_tokens, label=label, prompts=prompts,
                      log_ratio=not same, ref_adapter=ref, kl_tok=kl_tok and not same)  # fmt: skip
    if same:  # the reference itself: log rho_sft - log rho_sft = 0 exactly
        df["log_ratio"] = 0.0
        if kl_tok:
            df["kl_tok"] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path)
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    write_cache_key(path, made_from)  # the CSV is valid for these inputs, with its digest
    return df


def _implicit(
    cfg, bank: dict, model, tok, adapter_dir: Path, lam: float, task: str
) -> pd.DataFrame:
    """The implicit-reward check on the HELD-OUT rewrites: ``λ log(rho_θ/rho_sft)`` against R̂."""
    from alignpro_lite.llm.lm import token_logprobs

    df = B.rewrite_values(bank, cfg.mu, cfg.tau)
    seen = set(
        zip(df.loc[~df["heldout"], "prompt_id"], df.loc[~df["heldout"], "x_prime"], strict=True)
    )
    held = df[df["heldout"]].copy()
    held["new_text"] = [
        (p, t) not in seen for p, t in zip(held["prompt_id"], held["x_prime"], strict=True)
    ]
    model = lora.load_lora(model, adapter_dir, "_eval")
    p_ids = tok(
        [chat_format(tok, x, G.REWRITE_SYSTEM) for x in held["x"]], add_special_tokens=False
    )["input_ids"]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with torch.no_grad(), lora.use_adapter(model, "_eval"):
        lp = token_logprobs(model, p_ids, [list(map(int, r)) for r in held["ids"]],
                            temperature=cfg.temperature, pad_id=pad).double().cpu().numpy()  # fmt: skip
    held["implicit"] = lam * (lp - held["logp_sft"].to_numpy(dtype=float))
    held["task"] = task
    held["lam"] = lam
    return held[["task", "lam", "prompt_id", "j", "x", "x_prime", "new_text", "copy", "R_hat",
                 "task_reward", "penalty", "n_answers", "implicit"]]  # fmt: skip


def replicate(
    out: str | Path, cfg: ReplicateConfig | None = None, **kwargs
) -> dict[str, pd.DataFrame]:
    """Run (or resume) every stage into ``out`` (:func:`_replicate`), holding the folder's lock
    (:func:`~alignpro_lite.atomic.out_lock`): a second ``replicate`` on the same ``out`` stops
    at once with a ``ValueError`` instead of writing the same stages."""
    from alignpro_lite.atomic import out_lock

    out = check_out_dir(out, (CONFIG_FILE,), flag="--out")
    with out_lock(out):
        return _replicate(out, cfg, **kwargs)


def _replicate(
    out: str | Path,
    cfg: ReplicateConfig | None = None,
    *,
    device: str | None = None,
    progress: bool = True,
    model=None,
    tok=None,
    until: str = "report",
    reuse_eval: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """Run (or resume) every stage into ``out``; returns the report's tables (an empty dict
    when ``until`` names a stage before the report: the run stops after that stage).
    ``reuse_eval``: another replication's folder whose evaluation caches made from the same inputs
    (NoFT's answers: no adapter, same prompts and streams) are copied, not recomputed."""
    from alignpro_lite.experiment.report import machine
    from alignpro_lite.llm.tasks import load_task

    cfg = cfg or ReplicateConfig()
    if until not in STAGES:
        raise ValueError(f"until must be one of {STAGES}, got {until!r}.")
    if reuse_eval is not None and not (Path(reuse_eval) / "eval").is_dir():
        raise ValueError(f"--reuse-eval {reuse_eval}: no eval/ folder there; give a replication "
                         "folder whose evaluation has run (e.g. runs/round2/seed0).")  # fmt: skip
    out = check_out_dir(out, (CONFIG_FILE,), flag="--out")
    saved = out / CONFIG_FILE
    weights = {t: list(preregistered_weights(t)) for t in cfg.tasks}  # λ, β: data/headroom
    if saved.is_file():
        old, d = read_saved_config(saved)
        if old != cfg:
            diff = what_changed(old.to_json(), cfg.to_json())
            raise ValueError(
                f"{out} holds a replication with other settings: {diff}; use the same "
                "settings to resume it, or another --out."
            )
        if d.get("weights", weights) != weights:
            raise ValueError(
                f"{out} was fitted with other λ/β ({d['weights']}) than data/headroom/weights.csv "
                f"now gives ({weights}); use another --out."
            )
    for task in cfg.tasks:  # a broken task file is named now, not after the model load
        for split in ("train", "test"):
            load_task(task, split)
    if model is None or tok is None:
        from alignpro_lite.config import cache_dir

        cache_dir()  # a bad $ALIGNPRO_CACHE is named before replicate.json is written
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(saved, json.dumps({**cfg.to_json(), "weights": weights}, indent=1))
    t_start = time.perf_counter()
    est = estimate_seconds(cfg)
    _say(f"replicate: estimated {sum(est.values()) / 60:.0f} min on a 2-core CPU ("
         + ", ".join(f"{k} {v / 60:.0f}" for k, v in est.items())
         + " min); stages already on disk are skipped.", progress)  # fmt: skip
    if model is None or tok is None:
        from alignpro_lite.llm.lm import load_causal_lm

        model, tok = load_causal_lm(cfg.model, device=device)
    timings: dict[str, float] = {}

    # 1. rho_sft
    t0 = time.perf_counter()
    model = _stage_sft(cfg, out, model, tok, progress)
    timings["sft"] = time.perf_counter() - t0
    if until == "sft":
        return {}

    # 2. banks
    t0 = time.perf_counter()
    banks = {}
    for task in cfg.tasks:
        _say(f"bank {task}", progress)
        banks[task] = B.build_bank(cfg.bank_spec(task), out / "bank" / task, model, tok,
                                   sft_adapter="sft", reference=adapter_digest(out / "sft"),
                                   progress=progress)  # fmt: skip
    timings["bank"] = time.perf_counter() - t0
    if until == "bank":
        return {}

    # 3. fits
    t0 = time.perf_counter()
    fits = []
    jobs = []
    used = {task: fit_weights(cfg, task, banks[task]) for task in cfg.tasks}  # the λ rule
    for task in cfg.tasks:
        lam, beta = used[task]
        jobs.append(("align-pro", task, lam, out / f"alignpro-{task}"))
        jobs.append(("rlhf", task, beta, out / f"rlhf-{task}"))
        if task in cfg.sweep_tasks:
            for f in cfg.sweep_factors:
                jobs.append(
                    ("align-pro", task, lam * f, out / "sweep" / f"{task}-lam{lam * f:.4g}")
                )
            for f in cfg.beta_sweep_factors:
                jobs.append(("rlhf", task, beta * f, out / "sweep" / f"{task}-beta{beta * f:.4g}"))
    rows_cache: dict = {}
    for kind, task, weight, folder in jobs:
        key = (kind, task)
        if key not in rows_cache:
            rows_cache[key] = fit_rows(cfg, kind, banks[task], tok)
        start = adapter_digest(out / "sft") if kind == "align-pro" else None
        info = _stage_fit(cfg, folder, kind, task, weight, rows_cache[key], model, tok, progress,
                          start=start)  # fmt: skip
        fits.append(
            {
                **{k: v for k, v in info.items() if k != "config"},
                "folder": str(folder.relative_to(out)),
            }
        )
    timings["fits"] = time.perf_counter() - t0
    if until == "fits":
        return {}

    # 3b. route (a): the policy gradient of notebook 03 on the same rho_sft and reward, for comparison
    t0 = time.perf_counter()
    for task in cfg.tasks:
        if task in cfg.route_a_tasks:
            model = _stage_route_a(cfg, out, task, model, tok, progress, lam=used[task][0])
    timings["route_a"] = time.perf_counter() - t0
    if until == "route_a":
        return {}

    # 4. evaluation
    t0 = time.perf_counter()
    parts = []
    implicit = []
    for task in cfg.tasks:
        lam, beta = used[task]
        ps = load_task(task, "test")
        ps = ps if cfg.n_test_prompts is None else ps[: cfg.n_test_prompts]
        n = cfg.n_samples
        nan = math.nan

        def job(label, method, adapter_dir, ref, n_s, task=task, ps=ps):
            return _eval_job(cfg, out, task, label, method, adapter_dir, ref, n_s, model, tok, ps,
                             reuse=reuse_eval)  # fmt: skip

        pool = job("NoFT pool", "noft", None, None, cfg.bon_pool)
        noft = pool[pool["sample"] < n].assign(method="NoFT")
        ap = job("Align-Pro", "align-pro", out / f"alignpro-{task}" / "adapter", "sft", n)
        sft = job(SFT_LABEL, "align-pro", out / "sft", "sft", n)
        rl = job("RLHF", "rlhf", out / f"rlhf-{task}" / "adapter", None, n)
        kl_ap = float(ap["kl_tok" if "kl_tok" in ap else "log_ratio"].mean())
        n_bon = baselines.bon_n_for_kl(max(kl_ap, 0.0), cfg.bon_pool)
        bon = baselines.best_of_n_samples(pool, n_bon, n, label=BON_LABEL)
        for df, lam_v, beta_v, route in ((noft, nan, nan, ""), (ap, lam, nan, "b"),
                                         (sft, math.inf, nan, ""), (rl, nan, beta, "b"),
                                         (bon, nan, nan, "")):  # fmt: skip
            parts.append(df.assign(lam=lam_v, beta=beta_v, route=route))
        if task in cfg.sweep_tasks:
            ns = cfg.n_sweep_samples
            grid = [(lam, out / f"alignpro-{task}" / "adapter")] + [
                (lam * f, out / "sweep" / f"{task}-lam{lam * f:.4g}" / "adapter") for f in cfg.sweep_factors
            ] + [(math.inf, out / "sft")]  # fmt: skip
            for lam_g, d in grid:
                lab = f"Align-Pro λ={lam_g:.4g}" if math.isfinite(lam_g) else "Align-Pro λ=∞"
                parts.append(
                    job(lab, "align-pro", d, "sft", ns).assign(lam=lam_g, beta=nan, route="b")
                )
        if task in cfg.sweep_tasks:
            for f in cfg.beta_sweep_factors:
                d = out / "sweep" / f"{task}-beta{beta * f:.4g}" / "adapter"
                parts.append(job(f"RLHF β={beta * f:.4g}", "rlhf", d, None, cfg.n_sweep_samples)
                             .assign(lam=nan, beta=beta * f, route="b"))  # fmt: skip
        if task in cfg.route_a_tasks:
            lab = f"Align-Pro λ={lam:.4g} route (a)"
            parts.append(job(lab, "align-pro", out / f"route-a-{task}" / "adapter", "sft",
                             cfg.n_sweep_samples).assign(lam=lam, beta=nan, route="a"))  # fmt: skip
        implicit.append(
            _implicit(cfg, banks[task], model, tok, out / f"alignpro-{task}" / "adapter", lam, task)
        )
    samples = pd.concat(parts, ignore_index=True)
    timings["evaluation"] = time.perf_counter() - t0
    if until == "evaluation":
        return {"samples": samples}

    # 5. report
    tables = report_tables(samples, cfg, banks, out, folders=[f for *_, f in jobs], weights=used)
    tables["implicit"] = pd.concat(implicit, ignore_index=True)
    tables["fits"] = pd.DataFrame(fits)
    tables["examples"] = _examples(samples)
    meta = {"config": cfg.to_json(), "weights_used": {t: list(v) for t, v in used.items()},
            "machine": machine(), "threads": torch.get_num_threads(),
            "device": str(next(model.parameters()).device), "eval_seed": EVAL_SEED,
            "pi_F_decoding": PI_F_DECODING.kwargs(), "estimate_2core_s": est,
            "seconds_this_call": {k: round(v, 1) for k, v in timings.items()},
            "seconds_total_this_call": round(time.perf_counter() - t_start, 1)}  # fmt: skip
    _write_report(out / "report", samples, tables, meta)
    _say(
        f"replicate: done in {(time.perf_counter() - t_start) / 60:.1f} min; wrote {out / 'report'}",
        progress,
    )
    return {"samples": samples, **tables}


def _examples(samples: pd.DataFrame, per_method: int = 3) -> pd.DataFrame:
    """A few rewrites per (task, prompter) of the first prompts: what the prompter writes."""
    ap = samples[samples["method"].str.startswith(("Align-Pro", "SFT"))]
    ap = ap[(ap["sample"] == 0) & (ap["prompt_id"] < per_method)]
    return ap[["task", "method", "lam", "prompt_id", "x", "x_prime", "y", "reward"]].reset_index(
        drop=True
    )


def ess_table(
    banks: dict, cfg: ReplicateConfig, lams=None, weights: dict | None = None
) -> pd.DataFrame:
    """Per task and λ: the mean and median effective sample size of the SNIS weights over the
    fit rewrites, beside the median standard error of R̂ (λ below it: the weights follow noise)."""
    rows = []
    for task, bank in banks.items():
        lam0 = (weights or {}).get(task, preregistered_weights(task))[0]
        df = B.rewrite_values(bank, cfg.mu, cfg.tau)
        df = df[~df["heldout"]]
        grid = lams if lams is not None else lam0 * np.array([1 / 16, 0.25, 1, 4, 16, 64])
        for lam in grid:
            _, ess = prompt_weights(df["prompt_id"].to_numpy(), df["R_hat"].to_numpy(), float(lam))
            rows.append({"task": task, "lam": float(lam), "preregistered": bool(np.isclose(lam, lam0)),
                         "ess_mean": float(ess.mean()), "ess_median": float(np.median(ess)),
                         "n": cfg.n_rewrites, "se_R_hat_median": float(np.nanmedian(df["se"]))})  # fmt: skip
    return pd.DataFrame(rows)


def report_tables(samples: pd.DataFrame, cfg: ReplicateConfig, banks: dict, out: Path,
                  folders=None, weights: dict | None = None) -> dict:  # fmt: skip
    """Every table of the replication's report from its samples, banks and fit ``folders``;
    ``weights``: the ``(λ, β)`` each task was fitted with (default :func:`preregistered_weights`)."""
    weights = weights or {}
    main = samples[~samples["method"].str.startswith(("Align-Pro λ=", "RLHF β="))]
    base_rows = []
    for task in dict.fromkeys(main["task"]):
        lam = weights.get(task, preregistered_weights(task))[0]
        g = main[main["task"] == task]
        for method in (BON_LABEL, SFT_LABEL, "Align-Pro", "RLHF"):
            s = g[g["method"] == method]
            if s.empty:
                continue
            space = {
                BON_LABEL: "answers vs pi_F (formula)",
                "RLHF": "answers vs pi_ref",
                SFT_LABEL: "rewrites vs rho_sft",
                "Align-Pro": "rewrites vs rho_sft",
            }[method]
            extra = {}
            if method == BON_LABEL:
                extra["kl_plugin"] = float(s["kl_plugin"].mean())
            kl_col = "kl_tok" if "kl_tok" in s and s["kl_tok"].notna().all() else "log_ratio"
            base_rows.append({"task": task, "method": method, "kl": float(s[kl_col].mean()),
                              "kl_estimator": "per-token" if kl_col == "kl_tok" else "log-ratio",
                              "kl_space": space, **extra,
                              "bon_n": float(s["bon_n"].iloc[0]) if "bon_n" in s and s["bon_n"].notna().any() else math.nan,
                              "mean": float(s["reward"].mean()), "source": "test, paired evaluation"})  # fmt: skip
        try:
            cf = baselines.closed_form_candidates(task, lam)
            base_rows.append({"task": task, "method": "closed-form rho* (candidate sets)", "kl": math.nan,
                              "bon_n": math.nan, "mean": cf["mean_original"] + cf["diff"],
                              "gain_over_original": cf["diff"], "gain_ci_low": cf["ci_low"],
                              "gain_ci_high": cf["ci_high"], "original_in_table": cf["mean_original"],
                              "source": "test table (data/tables), cross-fitted, not paired with the streams"})  # fmt: skip
        except (ValueError, FileNotFoundError, OSError):
            pass
    curves = []
    if folders is None:
        folders = [d for d in sorted(out.glob("alignpro-*")) + sorted(out.glob("rlhf-*"))
                   + sorted((out / "sweep").glob("*")) if not d.name.endswith(".tmp")]  # fmt: skip
    for d in folders:
        if (d / "curve.csv").is_file() and (d / "fit.json").is_file():
            info = json.loads((d / "fit.json").read_text(encoding="utf-8"))
            c = pd.read_csv(d / "curve.csv")
            curves.append(c.assign(method=info["method"], task=info["task"], weight=info["weight"]))
    summary = summary_table(main)
    # best-of-n's rows share answers (overlapping windows of one pool): its per-prompt means are
    # valid, its within-prompt and total variances are not, so they are left out
    var_cols = [c for c in summary if c.startswith(("variance", "var_within"))]
    summary.loc[summary["method"] == BON_LABEL, var_cols] = np.nan
    return {
        "summary": summary,
        "paired": paired_table(main),
        "variance": variance_differences(main[main["method"] != BON_LABEL]),
        "gap": gap_closed(main),
        "win_rates": win_rates(main),
        "lam_sweep": lam_sweep_table(samples),
        "baselines": pd.DataFrame(base_rows),
        "curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
        "ess": ess_table(banks, cfg, weights=weights),
    }


def _write_report(folder: Path, samples: pd.DataFrame, tables: dict, meta: dict) -> None:
    import matplotlib.pyplot as plt

    from alignpro_lite.ui.plots import plot_comparison, plot_fit_curves, set_style

    check_out_dir(folder, REPORT_FILES, flag="report folder")
    set_style()
    figs = {"comparison.png": plot_comparison(tables["summary"])}
    if not tables["curves"].empty:
        figs["curves.png"] = plot_fit_curves(tables["curves"])
    with staged_dir(folder, flag="report folder", owned=REPORT_FILES) as tmp:
        samples.to_csv(tmp / "samples.csv", index=False)
        for name, df in tables.items():
            if isinstance(df, pd.DataFrame) and not df.empty and f"{name}.csv" in REPORT_FILES:
                df.to_csv(tmp / f"{name}.csv", index=False)
        for name, fig in figs.items():
            fig.savefig(tmp / name, dpi=80)
            plt.close(fig)
        write_sealed_json(tmp, "report.json", meta, default=str)  # with every output's SHA-256


def fast_config(**overrides) -> ReplicateConfig:
    """The ``--fast`` configuration (:data:`FAST`), with ``overrides``."""
    return replace(ReplicateConfig(**FAST), **overrides)
