"""The paper's experiment at CPU scale (notebook 08): Align-Pro vs RLHF vs no fine-tuning.

``replicate`` (the capstone in resumable stages: bank, route-(b) fits, evaluation, report),
``lam_sweep`` (the λ sweep of the generative prompter: NCA refits of one bank, measured),
``baselines`` (best-of-n, the closed form over candidate sets), ``runs`` (:class:`RunConfig`,
training a policy-gradient run, reading run folders), ``evaluate`` (the paired
evaluation on the TEST prompts and its tables), ``paired`` (paired statistics), ``prereg`` (the
preregistration's fingerprint), ``report`` (tables and figures, written as one set). The names notebooks use are available here directly::

    apl.experiment.train_run(cfg, "runs/my-run")
    apl.experiment.load_report("runs/report")

Loaded on first use (they need torch).
"""

from alignpro_lite.config import lazy_package

SUBMODULES = (
    "baselines", "evaluate", "lam_sweep", "paired", "prereg", "replicate", "report", "runs",
)  # fmt: skip
EXPORTS = {
    **dict.fromkeys(
        ["METHODS", "RunConfig", "build_run", "check_run_dir", "read_metrics", "read_run",
         "strip_checkpoint", "train_run", "migrate_run_config"],
        "runs",
    ),
    **dict.fromkeys(
        ["EVAL_SEED", "N_SAMPLES", "PAPER_GAP_MEDIAN", "answer_streams", "eval_samples",
         "evaluate_runs", "gap_closed", "lam_sweep_table", "paired_table", "summary_table",
         "variance_differences", "win_rates"],
        "evaluate",
    ),
    **dict.fromkeys(["REPORT_FILES", "load_report", "tables_from_samples", "write_report"], "report"),
    **dict.fromkeys(["ReplicateConfig", "fast_config", "preregistered_weights",
                     "estimate_seconds"], "replicate"),
}  # fmt: skip
__all__ = [*SUBMODULES, *EXPORTS]
__getattr__, __dir__ = lazy_package(__name__, SUBMODULES, EXPORTS)
