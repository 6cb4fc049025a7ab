"""The report of the paper's experiment: tables and figures written as one set (notebook 08).

rep = report(["runs/alignpro-kindness", "runs/rlhf-kindness"], "runs/report")
tables = load_report("runs/report")          # recomputed from its samples.csv
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import torch

from alignpro_lite.atomic import check_out_dir, staged_dir, verify_sealed, write_sealed_json
from alignpro_lite.experiment.evaluate import (
    EVAL_SEED,
    N_SAMPLES,
    evaluate_runs,
    gap_closed,
    kl_weights_of_report,
    lam_sweep_table,
    migrate_samples,
    paired_table,
    summary_table,
    variance_differences,
    win_rates,
)
from alignpro_lite.experiment.runs import check_run_dir, load_model, read_metrics, read_run
from alignpro_lite.llm import lora
from alignpro_lite.llm.frozen import PI_F_DECODING
from alignpro_lite.ui.plots import plot_comparison, plot_lam_sweep, plot_training, set_style

# every file a report may write: one report's set replaces the previous one's as a whole
REPORT_FILES = (
    "samples.csv", "summary.csv", "paired.csv", "variance.csv", "gap.csv", "lam_sweep.csv",
    "win_rates.csv",
    "comparison.png", "lam_sweep.png", "training.png", "report.json",
)  # fmt: skip
TABLES = ("summary", "paired", "variance", "gap", "lam_sweep", "win_rates")
OBSOLETE = ("judgements.csv",)  # written by older reports (the 135M pairwise judge): dropped


def write_report(
    run_dirs: list[str | Path],
    out: str | Path,
    *,
    n_samples: int = N_SAMPLES,
    model=None,
    tok=None,
    progress: bool = True,
) -> dict:
    """Evaluate ``run_dirs`` and write the tables and figures into ``out``.

    Files: ``samples.csv`` (every evaluated answer, paired by ``(prompt, sample)``),
    ``summary.csv`` (:func:`summary_table`), ``paired.csv`` (:func:`paired_table`),
    ``variance.csv`` (:func:`variance_differences`), ``gap.csv``
    (:func:`gap_closed`), ``win_rates.csv`` (gold judge, :func:`win_rates`), ``lam_sweep.csv``,
    ``comparison.png``, ``lam_sweep.png``, ``training.png``, ``report.json`` (settings, the
    frozen model's decoding, the machine and the wall time). Returns the tables as a dict of
    DataFrames.
    """

    if not run_dirs:
        raise ValueError("give at least one run folder to report on.")
    for d in run_dirs:  # run.json, metrics.csv, adapter: bad files fail now, not after the eval
        check_run_dir(d)
    t0 = time.perf_counter()
    out = check_out_dir(out, REPORT_FILES, flag="out")  # before the slow evaluation
    runs = [Path(d) for d in run_dirs]
    configs = [read_run(d) for d in runs]
    model, tok = load_model(configs[0].model, model, tok)
    samples = evaluate_runs(runs, n_samples=n_samples, model=model, tok=tok, progress=progress)
    if not lora.is_peft(model):
        model = lora.add_lora(model, "_eval_anchor")
    tables = tables_from_samples(samples)
    set_style()
    figs = {"comparison.png": plot_comparison(tables["summary"])}
    if not tables["lam_sweep"].empty:
        figs["lam_sweep.png"] = plot_lam_sweep(tables["lam_sweep"])
    curves = {f"{c.label} {c.task} {'λ' if c.lam else 'β'}={c.kl_weight:g}": m
              for d, c in zip(runs, configs, strict=True) if (m := read_metrics(d)) is not None}  # fmt: skip
    if curves:
        figs["training.png"] = plot_training(curves)
    import matplotlib.pyplot as plt

    meta = {
        "runs": [str(d) for d in runs],
        "n_samples": n_samples,
        "eval_seed": EVAL_SEED,
        "pi_F_decoding": PI_F_DECODING.kwargs(),
        "machine": machine(),
        "threads": torch.get_num_threads(),
        "device": str(next(model.parameters()).device),
        "seconds": time.perf_counter() - t0,
    }
    # the whole set at once: a failure leaves the previous report in `out` untouched
    with staged_dir(out, flag="out", owned=REPORT_FILES + OBSOLETE) as tmp:
        samples.to_csv(tmp / "samples.csv", index=False)
        for name in TABLES:
            if name in tables and not tables[name].empty:
                tables[name].to_csv(tmp / f"{name}.csv", index=False)
        for name, fig in figs.items():
            fig.savefig(tmp / name, dpi=80)
            plt.close(fig)
        write_sealed_json(tmp, "report.json", meta)  # with every output's SHA-256
    return tables


def machine() -> str:
    """One line naming the machine a report was made on (CPU model, cores, torch, device)."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       cpu)  # fmt: skip
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}"


def tables_from_samples(samples: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every table of the report recomputed from the evaluation samples (:data:`TABLES`)."""
    main = samples[~samples["method"].str.startswith(("Align-Pro λ=", "RLHF β="))]
    return {
        "summary": summary_table(main),
        "paired": paired_table(main),
        "variance": variance_differences(main),
        "gap": gap_closed(main),
        "lam_sweep": lam_sweep_table(samples),
        "win_rates": win_rates(main),
    }


def load_report(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a written report, recomputed from its ``samples.csv``."""
    folder = Path(folder)
    path = folder / "samples.csv"
    if not path.is_file():
        raise ValueError(
            f"{folder} holds no report (samples.csv is missing); run `alignpro-lite report` first."
        )
    numeric = ("reward", "gold", "preservation", "lam", "beta", "log_ratio", "bon_n", "kl_plugin",
               "source_sample")  # empty cells: NaN; texts: ""  # fmt: skip
    verify_sealed(folder, files=("samples.csv",))  # an edited samples.csv is refused by name
    samples = pd.read_csv(path, keep_default_na=False, na_values=dict.fromkeys(numeric, [""]))
    if not {"lam", "beta"} <= set(samples.columns):  # a report of the first layout
        runs = []
        if (folder / "report.json").is_file():
            runs = json.loads((folder / "report.json").read_text(encoding="utf-8")).get("runs", [])
        samples = migrate_samples(samples, *kl_weights_of_report(runs))
    return {"samples": samples, **tables_from_samples(samples)}
