"""The ``alignpro-lite`` command: quick experiments from a terminal.

    alignpro-lite sweep --problem teaching --lams 1e-3:1e2:50 --out runs/sweep
    alignpro-lite estimate --task kindness --split test --out data/tables
    alignpro-lite train --method align-pro --task kindness --lam 0.05 --out runs/alignpro-kindness
    alignpro-lite train --method rlhf --task kindness --beta 0.05 --out runs/rlhf-kindness
    alignpro-lite report runs/alignpro-kindness runs/rlhf-kindness --out runs/report

``train`` resumes from ``--out`` when a checkpoint is there (same arguments; ``--steps`` may
grow). ``--threads 1`` is much faster on a busy 2-core machine.

Every subcommand writes into ``--out`` atomically (a temporary folder first, files moved in
at the end), so a failed or interrupted command leaves nothing half-written. Bad arguments
or files print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from alignpro_lite.llm.frozen import PI_F_DECODING

REPLICATE_STAGES = ("sft", "bank", "fits", "route_a", "evaluation", "report")
"""``replicate --until`` choices (:data:`alignpro_lite.experiment.replicate.STAGES`)."""

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + error
        raise CLIError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- helpers
def _device(text: str) -> str:
    """``--device``: checked when the arguments are parsed, before anything is written."""
    from alignpro_lite.config import check_device

    try:
        return check_device(text, "--device")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def atomic_output(
    out: Path, write: Callable[[Path], list[str]], names: tuple[str, ...] = ()
) -> list[Path]:
    """Run ``write(tmpdir)`` and swap the files it made into ``out`` as one set.

    ``names``: every file this command can write (an old one that this run did not write is
    dropped, so ``out`` never mixes two runs). See :mod:`alignpro_lite.atomic`.
    """
    from alignpro_lite.atomic import staged_dir

    with staged_dir(out, owned=names) as tmp:
        written = write(tmp)
    return [Path(out) / name for name in written]


def check_out(out: str, names: tuple[str, ...] = ()) -> Path:
    """``--out`` usable (empty, a file, read-only, a folder where a file goes: exit 2 up front)."""
    from alignpro_lite.atomic import check_out_dir

    return check_out_dir(out, names)


def _number(text: str, kind=float):
    try:
        v = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def finite_float(text: str) -> float:
    """argparse type: a finite float (``nan`` and ``inf`` are refused)."""
    return _number(text)


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    v = _number(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def int_range(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer in ``[lo, hi]``."""

    def parse(text: str) -> int:
        v = _number(text, int)
        if v < lo or (hi is not None and v > hi):
            bound = f">= {lo}" if hi is None else f"between {lo} and {hi}"
            raise argparse.ArgumentTypeError(f"must be an integer {bound}, got {text!r}")
        return v

    parse.__name__ = "integer"
    return parse


SEED = int_range(0, 2**32 - 1)  # numpy and torch seeds


def load_problem_arg(spec: str, seed: int = 0, size: tuple[int, int, int] = (50, 8, 6)):
    """``teaching``, ``random`` or a path to a problem JSON (see ``data/README.md``)."""
    from alignpro_lite.exact import problems

    if spec == "teaching":
        return problems.teaching_problem()
    if spec == "random":
        n_x, n_c, n_y = size
        return problems.random_problem(n_x, n_c, n_y, seed=seed)
    path = Path(spec)
    if not path.exists():
        # a shipped table by short name, e.g. "kindness_test"
        from alignpro_lite.config import data_dir

        for cand in (data_dir() / "tables" / f"{spec}.json", data_dir() / f"{spec}.json"):
            if cand.exists():
                path = cand
                break
        else:
            raise CLIError(
                f"--problem {spec!r}: no such file. Use 'teaching', 'random', a JSON problem "
                "file, or a shipped table name from data/tables/."
            )
    try:
        return problems.load_problem(path)
    except ValueError as err:
        raise CLIError(f"--problem {spec!r}: {err}") from None


# --------------------------------------------------------------------------- sweep
SWEEP_FILES = ("sweep.csv", "sweep_summary.csv", "sweep.png", "rho_vs_lam.png")
MAX_CELLS = 20_000_000  # λ x prompts x candidates in one sweep (~160 MB per array)


def cmd_sweep(args) -> int:
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from alignpro_lite.exact.sweep import lam_grid, sweep_metrics
    from alignpro_lite.ui.plots import plot_rho_vs_lam, set_style, sweep_figure

    try:
        lams = lam_grid(args.lams)
    except ValueError as err:
        raise CLIError(f"--lams: {err}") from None
    check_out(args.out, SWEEP_FILES)
    if args.problem == "random" and args.n_x * args.n_c * args.n_y > MAX_CELLS:
        raise CLIError(
            f"--n-x {args.n_x} x --n-c {args.n_c} x --n-y {args.n_y} = "
            f"{args.n_x * args.n_c * args.n_y:,} entries of pi_F, over the limit of {MAX_CELLS:,}; "
            "use a smaller random problem."
        )
    problem = load_problem_arg(args.problem, seed=args.seed, size=(args.n_x, args.n_c, args.n_y))
    cells = len(lams) * problem.n_x * problem.n_c
    if cells > MAX_CELLS:
        raise CLIError(
            f"--lams: {len(lams)} λ values x {problem.n_x} prompts x {problem.n_c} candidates = "
            f"{cells:,} entries of rho*, over the limit of {MAX_CELLS:,} (memory); "
            f"use at most {max(1, MAX_CELLS // (problem.n_x * problem.n_c))} λ values."
        )
    res = sweep_metrics(problem.rho_sft, problem.R, lams, problem.V, problem.P)

    L, n_x = res["reward"].shape
    prompts = problem.prompts or [f"prompt {i}" for i in range(n_x)]
    rows = pd.DataFrame(
        {
            "lam": np.repeat(lams, n_x),
            "prompt_id": np.tile(np.arange(n_x), L),
            "prompt": np.tile(np.array(prompts, dtype=object), L),
            "weight": np.tile(problem.P, L),
            "mean_reward": res["reward"].ravel(),
            "var_noise": res["noise"].ravel(),
            "var_choice": res["choice"].ravel(),
            "var_total": res["variance"].ravel(),
            "kl": res["kl"].ravel(),
            "objective": res["objective"].ravel(),
            "best_candidate": res["rho"].argmax(-1).ravel(),
            "p_best_candidate": res["rho"].max(-1).ravel(),
        }
    )
    summary = pd.DataFrame(
        {
            "lam": lams,
            "mean_reward": res["mean_reward"],
            "var_noise": res["mean_noise"],
            "var_choice": res["mean_choice"],
            "var_between_prompts": res["mean_between"],
            "var_total": res["mean_variance"],
            "kl": res["mean_kl"],
            "objective": res["mean_objective"],
        }
    )

    def write(tmp: Path) -> list[str]:
        set_style()
        rows.to_csv(tmp / "sweep.csv", index=False)
        summary.to_csv(tmp / "sweep_summary.csv", index=False)
        fig = sweep_figure(res, title=f"{problem.name}: λ sweep, P-weighted over {n_x} prompts")
        fig.savefig(tmp / "sweep.png")
        plt.close(fig)
        fig = plot_rho_vs_lam(problem, res)
        fig.savefig(tmp / "rho_vs_lam.png")
        plt.close(fig)
        return list(SWEEP_FILES)

    paths = atomic_output(Path(args.out), write, SWEEP_FILES)
    print(f"{problem.summary()}; {len(lams)} λ values in [{lams.min():.3g}, {lams.max():.3g}]")
    for p in paths:
        print(f"wrote {p}")
    return 0


# --------------------------------------------------------------------------- estimate
def cmd_estimate(args) -> int:
    from alignpro_lite.llm.tasks import SPLITS, TASKS

    tasks = list(TASKS) if args.task == "all" else [args.task]
    splits = list(SPLITS) if args.split == "all" else [args.split]
    for t in tasks:
        if t not in TASKS:
            raise CLIError(f"--task {t!r}: choose from {', '.join(TASKS)} or 'all'.")
    for s in splits:
        if s not in SPLITS:
            raise CLIError(f"--split {s!r}: choose from {', '.join(SPLITS)} or 'all'.")
    if not 0 < args.top_p <= 1:
        raise CLIError(f"--top-p must be in (0, 1], got {args.top_p}.")
    names = tuple(
        f"{t}_{s}{ext}" for t in tasks for s in splits for ext in (".json", "_samples.jsonl")
    )
    check_out(args.out, names)

    from alignpro_lite.config import cache_dir
    from alignpro_lite.llm import lm, tables
    from alignpro_lite.llm.tasks import load_task

    for task in tasks:  # a broken task file is named before the model load, not after it
        for split in splits:
            load_task(task, split)
    cache_dir()  # so is a bad $ALIGNPRO_CACHE (not blamed on --model)
    try:
        model, tok = lm.load_causal_lm(args.model)
    except (OSError, ValueError) as err:
        raise CLIError(
            f"--model {args.model!r}: cannot load it ({str(err).splitlines()[0]})."
        ) from None
    done = []
    for task in tasks:
        for split in splits:
            done.append(
                tables.estimate_task_table(
                    task,
                    split,
                    model,
                    tok,
                    n=args.samples,
                    seed=args.seed,
                    max_prompts=args.max_prompts,
                    batch_size=args.batch_size,
                    max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature,
                    top_p=args.top_p,
                )
            )

    def write(tmp: Path) -> list[str]:  # every table of this call, as one set
        return [path.name for table in done for path in tables.save_task_table(table, tmp)]

    atomic_output(Path(args.out), write)
    for table in done:
        p = table.problem
        best = p.R.argmax(1)
        n_bad = sum(table.kinds[i][b] == "bad" for i, b in enumerate(best))
        print(
            f"{p.name}: {p.n_x} prompts x {p.n_c} candidates, mean R(original) "
            f"{p.R[:, 0].mean():.3f}, mean max R {p.R.max(1).mean():.3f}, "
            f"best rewrite is 'bad' for {n_bad} prompts -> {args.out}"
        )
    return 0


def register_estimate(sub) -> None:
    es = sub.add_parser(
        "estimate",
        help="Monte-Carlo prompt-value tables R(x,x') from a real LLM for the task data",
        description="Sample --samples answers of the frozen LLM to every candidate rewrite of a "
        "task split, score them against the original prompt with the task's reward, and write "
        "an estimated problem table (R, V, se per rewrite, plus semantic preservation) and the "
        "answers. Cached on disk: a rerun is instant, an interrupted run resumes.",
    )
    es.add_argument("--task", default="all", help="kindness, harmlessness, helpfulness or all")
    es.add_argument("--split", default="all", help="train, test or all")
    es.add_argument(
        "--model",
        default="smollm2-135m-instruct",
        help="frozen LLM: the embedded default or any HF causal-LM id / local folder",
    )
    es.add_argument(
        "--samples", type=int_range(2, 1000), default=4, help="answers per rewrite, 2-1000 (4)"
    )
    pi_f = PI_F_DECODING  # the one frozen model: change these only to study another one
    es.add_argument(
        "--max-new-tokens",
        type=int_range(1, 4096),
        default=pi_f.max_new_tokens,
        help=f"answer length in tokens, 1-4096 ({pi_f.max_new_tokens}: the frozen model's setting)",
    )
    es.add_argument(
        "--temperature",
        type=positive_float,
        default=pi_f.temperature,
        help=f"sampling temperature > 0 ({pi_f.temperature:g}: the frozen model's setting)",
    )
    es.add_argument(
        "--top-p",
        type=finite_float,
        default=pi_f.top_p,
        help=f"nucleus sampling (0, 1] ({pi_f.top_p:g}: the frozen model's setting)",
    )
    es.add_argument(
        "--batch-size", type=int_range(1), default=64, help="sequences per generate call (64)"
    )
    es.add_argument(
        "--max-prompts", type=int_range(1), default=None, help="only the first N prompts (>= 1)"
    )
    es.add_argument("--seed", type=SEED, default=0, help="sampling seed (0)")
    es.add_argument("--out", required=True, help="output folder, e.g. data/tables")
    es.set_defaults(func=cmd_estimate)


# --------------------------------------------------------------------------- train, report
def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    print(f"alignpro-lite: warning: {message}", file=sys.stderr)


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM) turned into Ctrl-C's path, for every command: the stage being
    written is dropped (every file is staged and renamed into place), finished stages stay, and
    the command exits ``128 + signum`` (143) with one line on stderr (:func:`_stopped_line`)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(self.signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _raise_stopped(signum, frame) -> None:  # noqa: ARG001
    raise Stopped(signum)


def _how(err: KeyboardInterrupt) -> tuple[int, str]:
    """``(exit code, words)``: 143 "stopped by SIGTERM" or 130 "interrupted (Ctrl-C)"."""
    code = int(getattr(err, "exit_code", 130))
    if code == 130:
        return code, "interrupted (Ctrl-C)"
    try:
        return code, f"stopped by {signal.Signals(code - 128).name}"
    except ValueError:
        return code, "stopped by a signal"


def _stopped_line(err: KeyboardInterrupt) -> int:
    """The one line every command prints when stopped (Ctrl-C or SIGTERM); returns the exit code."""
    code, how = _how(err)
    print(f"alignpro-lite: {how}; finished work is kept and nothing half-written was: run the "
          "same command again to resume.", file=sys.stderr)  # fmt: skip
    return code


def _interrupted(err: KeyboardInterrupt, out: Path) -> int:
    """One line on stderr saying what was saved; exit code 128 + the signal (130 for Ctrl-C)."""
    from alignpro_lite.learn.train import load_checkpoint

    code, how = _how(err)
    try:
        ckpt = load_checkpoint(out, warn=False) if out.is_dir() else None
    except ValueError:
        ckpt = None
    if ckpt is not None:
        msg = (
            f"{how}; the run is saved in {out} at step {ckpt['step']}: run the same command "
            "again to resume it."
        )
    else:
        msg = f"{how} before the first training step was saved; run the same command to start."
    print(f"alignpro-lite: {msg}", file=sys.stderr)
    return code


def cmd_train(args) -> int:
    from alignpro_lite.config import threads
    from alignpro_lite.experiment import runs
    from alignpro_lite.experiment.runs import RunConfig
    from alignpro_lite.learn.train import CheckpointWarning

    if args.beta is not None and args.method != "rlhf":
        raise CLIError("--beta is the KL weight of --method rlhf; use --lam for align-pro.")
    if args.lam is not None and args.method != "align-pro":
        raise CLIError("--lam is the KL weight of --method align-pro; use --beta for rlhf.")
    try:
        cfg = RunConfig(
            method=args.method,
            task=args.task,
            lam=args.lam,
            beta=args.beta,
            steps=args.steps,
            batch_size=args.batch_size,
            k=args.k,
            lr=args.lr,
            mu=args.mu,
            tau=args.tau,
            rewrite_tokens=args.rewrite_tokens,
            answer_tokens=args.answer_tokens,
            sft_steps=args.sft_steps,
            sft_adapter=args.sft_adapter,
            seed=args.seed,
            model=args.model,
            checkpoint_every=args.checkpoint_every,
        )
    except ValueError as err:
        raise CLIError(str(err)) from None
    if args.sft_adapter and not (Path(args.sft_adapter) / "adapter_config.json").is_file():
        raise CLIError(
            f"--sft-adapter {args.sft_adapter!r} holds no LoRA adapter (adapter_config.json)."
        )
    try:
        with threads(args.threads), warnings.catch_warnings():
            warnings.simplefilter("always", CheckpointWarning)
            warnings.showwarning = _one_line_warning  # restored by catch_warnings
            res = runs.train_run(cfg, args.out, progress=not args.no_progress)
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (TrainingInterrupted)
        return _interrupted(err, Path(args.out))
    m = res.metrics
    last = m.iloc[-1] if len(m) else None
    msg = f"{cfg.method} {cfg.task}: {len(m)} steps"
    if res.resumed_from:
        msg += f" (resumed from step {res.resumed_from})"
    if last is not None:
        msg += f", last batch reward {last['reward_mean']:.3f}, kl {last['kl']:.3f}, {m['seconds'].mean():.1f} s/step"
    print(msg)
    print(f"wrote {Path(args.out)}")
    return 0


def cmd_report(args) -> int:
    from alignpro_lite.config import threads
    from alignpro_lite.experiment.report import REPORT_FILES, write_report

    for d in args.run_dirs:
        if not Path(d).is_dir():
            raise CLIError(f"run folder {d!r} does not exist.")
    check_out(args.out, REPORT_FILES)  # before the evaluation, not after it
    with threads(args.threads):
        tables = write_report(
            args.run_dirs, args.out, n_samples=args.n_samples, progress=not args.no_progress,
        )  # fmt: skip
    _print_report(
        tables, ["task", "method", "n_prompts", "mean", "ci_low", "ci_high", "var_within", "gold"]
    )
    print(f"wrote {Path(args.out)}")
    return 0


def _print_report(tables: dict, cols: list[str]) -> None:
    """The summary table (``cols`` that exist) and, when defined, the gap-closed table."""
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        summary = tables["summary"]
        print(summary[[c for c in cols if c in summary]].round(3).to_string(index=False))
        if not tables["gap"].empty:
            gap = tables["gap"][["task", "gap_closed", "gap_ci_low", "gap_ci_high",
                                 "rlhf_beats_noft", "ap_beats_noft", "ap_lower_var_within"]]  # fmt: skip
            print(gap.round(3).to_string(index=False, na_rep="undefined"))


def cmd_replicate(args) -> int:
    from alignpro_lite.config import fast_mode, threads
    from alignpro_lite.experiment.replicate import (
        FAST,
        ReplicateConfig,
        estimate_seconds,
        replicate,
        round2_config,
    )

    kw = dict(FAST) if (args.fast or fast_mode()) else {}
    if kw:
        print("replicate: the toy --fast settings (3 prompts per task, a few samples each; "
              "ALIGNPRO_FAST=1 selects them too)")  # fmt: skip
    if args.tasks:
        kw["tasks"] = tuple(args.tasks)
    kw["seed"] = args.seed
    kw["fit"] = args.fit
    kw["lam_rule"] = args.lam_rule
    try:
        if args.round2:
            if args.fit != "nca" or args.lam_rule != "noise-aware":
                raise ValueError(
                    "--round2 fits by NCA at the noise-aware λ; leave out --fit and --lam-rule."
                )
            cfg = round2_config(**kw)
        else:
            cfg = ReplicateConfig(**kw)
    except ValueError as err:
        raise CLIError(str(err)) from None
    if args.device and args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CLIError(f"--device {args.device}: no CUDA device here; leave --device out.")
    check_out(args.out)
    if args.estimate:
        est = estimate_seconds(cfg)
        print(", ".join(f"{k} {v / 60:.1f} min" for k, v in est.items())
              + f"; total {sum(est.values()) / 60:.0f} min on a 2-core CPU")  # fmt: skip
        return 0
    with threads(args.threads):
        tables = replicate(args.out, cfg, device=args.device, progress=not args.no_progress,
                           until=args.until, reuse_eval=args.reuse_eval)  # fmt: skip
    if args.until != "report":
        print(f"replicate: stopped after the {args.until} stage in {args.out}; rerun without "
              "--until to go on.")  # fmt: skip
        return 0
    _print_report(
        tables, ["task", "method", "mean", "ci_low", "ci_high", "var_within", "copy_rate"]
    )
    print(f"wrote {Path(args.out) / 'report'}")
    return 0


def cmd_pool(args) -> int:
    from alignpro_lite.experiment.pooled import pool_round

    tables = pool_round(args.runs, args.out, seeds=tuple(args.seeds))
    p = tables["pooled"]
    p = p[p["estimator"] == "crossed"]
    print("pooled over seeds (prompts and seeds random, 95% CI):")
    print(p[["task", "a", "b", "mean", "ci_low", "ci_high", "seed_sd", "df", "significant"]]
          .round(3).to_string(index=False))  # fmt: skip
    print("\ntargets:")
    print(tables["targets"].to_string(index=False))
    print(f"wrote {Path(args.out) if args.out else Path(args.runs) / 'report'}")
    return 0


def cmd_lam_sweep(args) -> int:
    from alignpro_lite.config import fast_mode, threads
    from alignpro_lite.experiment.lam_sweep import FAST_SWEEP, SweepConfig, lam_sweep

    kw = dict(FAST_SWEEP) if (args.fast or fast_mode()) else {}
    if kw:
        print("lam-sweep: the toy --fast settings (2 λ, 2 steps, 2 test prompts)")
    kw["task"] = args.task
    if args.factors:
        kw["factors"] = tuple(args.factors)
    try:
        cfg = SweepConfig(**kw)
    except ValueError as err:
        raise CLIError(str(err)) from None
    check_out(args.out)
    with threads(args.threads):
        tables = lam_sweep(args.runs, args.out, cfg, device=args.device,
                           progress=not args.no_progress)  # fmt: skip
    cols = ["lam", "factor", "ess_mean", "kl", "kl_low", "kl_high", "reward", "reward_low",
            "reward_high", "adapter_l2_from_sft", "seconds_fit"]  # fmt: skip
    with _wide_tables():
        print(tables["sweep"][cols].round(4).to_string(index=False))
    print(f"wrote {Path(args.out) / 'report'}")
    return 0


def _wide_tables():
    import pandas as pd

    return pd.option_context("display.width", 200, "display.max_columns", 20)


def factor_value(text: str) -> float:
    """A λ factor: a number > 0 or 'inf'."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (or 'inf')") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0 (or 'inf')")
    return v


def register_experiment(sub) -> None:
    """Add the ``train`` and ``report`` subcommands to the ``alignpro-lite`` parser."""
    from alignpro_lite.experiment.runs import METHODS, RunConfig
    from alignpro_lite.llm.tasks import TASKS

    d = RunConfig(method="align-pro", task="kindness")
    tr = sub.add_parser(
        "train",
        help="train the Align-Pro prompter or the RLHF baseline (LoRA, resumable)",
        description="Train a LoRA adapter with the KL-regularised policy-gradient loop: the "
        "prompter that rewrites prompts for the frozen model (align-pro) or the model itself "
        "(rlhf). Resumes from --out when a checkpoint is there.",
    )
    tr.add_argument("--method", required=True, choices=METHODS)
    tr.add_argument("--task", required=True, choices=TASKS)
    tr.add_argument(
        "--out", required=True, help="run folder (created; resumed if it has a checkpoint)"
    )
    tr.add_argument(
        "--lam",
        type=positive_float,
        default=None,
        help=f"align-pro: the prompter's KL weight λ > 0 (default {d.lam})",
    )
    tr.add_argument(
        "--beta",
        type=positive_float,
        default=None,
        help=f"rlhf: the LLM's KL weight β > 0 (default {d.lam})",
    )
    tr.add_argument("--steps", type=int_range(1), default=d.steps, help=f"RL steps ({d.steps})")
    tr.add_argument(
        "--batch-size",
        type=int_range(1),
        default=d.batch_size,
        help=f"prompts per step ({d.batch_size})",
    )
    tr.add_argument("--k", type=int_range(2), default=d.k, help=f"samples per prompt, >= 2 ({d.k})")
    tr.add_argument("--lr", type=positive_float, default=d.lr, help=f"Adam learning rate ({d.lr})")
    tr.add_argument(
        "--mu",
        type=finite_float,
        default=d.mu,
        help=f"align-pro: preservation penalty weight >= 0 ({d.mu})",
    )
    tr.add_argument(
        "--tau",
        type=finite_float,
        default=d.tau,
        help="align-pro: penalty threshold in (0, 1]: mu*max(0, tau - sim); 1 = linear "
        f"mu*(1 - sim), which rewards copying; the replication uses 0.6 ({d.tau})",
    )
    tr.add_argument("--rewrite-tokens", type=int_range(1), default=d.rewrite_tokens)
    tr.add_argument("--answer-tokens", type=int_range(1), default=d.answer_tokens)
    tr.add_argument(
        "--sft-steps",
        type=int_range(0),
        default=d.sft_steps,
        help=f"align-pro: SFT steps for rho_sft, 0 = none ({d.sft_steps})",
    )
    tr.add_argument(
        "--sft-adapter",
        default=None,
        help="align-pro: reuse a saved SFT adapter folder (e.g. RUN/sft)",
    )
    tr.add_argument("--seed", type=SEED, default=0, help="seed of the run (0)")
    tr.add_argument(
        "--model",
        default=d.model,
        help="base model: embedded default or any HF causal-LM id/folder",
    )
    tr.add_argument("--checkpoint-every", type=int_range(1), default=d.checkpoint_every)
    tr.add_argument(
        "--threads",
        type=int_range(1),
        default=None,
        help="torch threads (1 is fastest on a busy machine)",
    )
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")
    tr.set_defaults(func=cmd_train)

    rp = sub.add_parser(
        "report",
        help="evaluate runs on the TEST prompts: tables (CSV) and figures (PNG)",
        description="Evaluate NoFT, Align-Pro and RLHF on the held-out test prompts of every task "
        "in the given runs, paired (sample k of a prompt shares its random stream across "
        "methods): mean reward with 95% CI, paired differences, variances, gap closed with CI, "
        "gold-judge win rates, λ sweep.",
    )
    rp.add_argument("run_dirs", nargs="+", help="run folders written by `alignpro-lite train`")
    rp.add_argument("--out", required=True, help="output folder for the tables and figures")
    rp.add_argument(
        "--n-samples",
        type=int_range(2),
        default=8,
        help="answers per test prompt and method, >= 2 (8: the preregistered evaluation)",
    )
    rp.add_argument("--threads", type=int_range(1), default=None)
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=cmd_report)

    rc = sub.add_parser(
        "replicate",
        help="the capstone in resumable stages: SFT, sample bank, route-(b) fits, paired "
        "evaluation, report",
        description="Replicate the capstone: train rho_sft, draw the sample bank (rewrites, the "
        "frozen model's answers, RLHF responses) on the train prompts, fit the prompter and the "
        "RLHF model from it (noise-contrastive alignment; --fit wmle: round 1's weighted MLE) at "
        "the preregistered λ and β (and a λ grid), "
        "evaluate every method on the test prompts (paired, 8 answers per prompt) and write "
        "OUT/report. About two hours on a 2-core CPU (--estimate prints the stages); rerun the same command to resume.",
    )
    rc.add_argument(
        "--out",
        default="build/replicate",
        help="output folder (default: build/replicate; the shipped runs/ were made with --out runs)",
    )
    rc.add_argument("--tasks", nargs="+", choices=TASKS, default=None, help="tasks (default: all)")
    rc.add_argument("--seed", type=SEED, default=0, help="training seed (preregistered: 0, 1, 2)")
    rc.add_argument(
        "--device", default=None, type=_device, help="cpu or cuda (default: cuda if present)"
    )
    rc.add_argument("--fit", choices=("nca", "wmle"), default="nca",
                    help="route (b)'s fit: noise-contrastive alignment (default) or round 1's "
                    "weighted MLE (the shipped runs/ were made with --fit wmle --lam-rule headroom)")  # fmt: skip
    rc.add_argument("--lam-rule", choices=("noise-aware", "headroom"), default="noise-aware",
                    help="λ from data/headroom/weights.csv raised to 2 x the median SE of R̂ "
                    "(default), or the headroom value alone (round 1)")  # fmt: skip
    rc.add_argument(
        "--fast",
        action="store_true",
        help="tiny settings (3 prompts, a few samples): checks the pipeline in ~2 min",
    )
    rc.add_argument(
        "--estimate", action="store_true", help="print the time estimate per stage and exit"
    )
    rc.add_argument("--round2", action="store_true",
                    help="round 2's preregistered settings (runs/PREREGISTRATION.md): best-of-n "
                    "pool of 32, no route (a); with --seed 0 also the kindness frontier (λ and β "
                    "x 1/16, 1/4, 4, 16); the shipped round 2 is runs/round2/seed{0,1,2}")  # fmt: skip
    rc.add_argument("--reuse-eval", default=None, metavar="DIR",
                    help="copy evaluation caches made from the same inputs from this replication "
                    "(NoFT's answers do not depend on the seed; round 2: --reuse-eval runs/round2/seed0)")  # fmt: skip
    rc.add_argument("--until", choices=REPLICATE_STAGES, default="report",
                    help="stop after this stage (sft, bank, fits, route_a, evaluation; default: "
                    "run every stage and write the report)")  # fmt: skip
    rc.add_argument("--threads", type=int_range(1), default=None)
    rc.add_argument("--no-progress", action="store_true")
    rc.set_defaults(func=cmd_replicate)

    po = sub.add_parser(
        "pool",
        help="round 2 pooled over seeds: per-seed and pooled paired differences, variances, gap "
        "closed, the frontier, the preregistered targets",
        description="Read RUNS/seed{s}/ (alignpro-lite replicate --round2 --seed s --out "
        "RUNS/seed{s}) and write the round's tables into OUT (default RUNS/report): paired "
        "differences per seed and pooled with prompts and seeds random, total and within-prompt "
        "variances, gap closed, the reward-KL frontier of seed 0 and the targets of "
        "runs/PREREGISTRATION.md. Seconds, not minutes: it reads the shipped evaluations.",
    )
    po.add_argument(
        "--runs", default="runs/round2", help="the round's folder (default runs/round2)"
    )
    po.add_argument("--out", default=None, help="output folder (default RUNS/report)")
    po.add_argument("--seeds", nargs="+", type=SEED, default=[0, 1, 2],
                    help="the seeds to pool (preregistered: 0 1 2)")  # fmt: skip
    po.set_defaults(func=cmd_pool)

    ls = sub.add_parser(
        "lam-sweep",
        help="the λ sweep of the generative prompter: NCA refits of one bank, test KL and reward",
        description="Refit the prompter by noise-contrastive alignment from a replication's "
        "sample bank at λ = factor x the preregistered λ (default factors 0.25 1 4 16 64 inf), "
        "evaluate each on the test prompts (per-token KL to rho_sft and reward, prompt-clustered "
        "CIs) and write OUT/report/sweep.csv and sweep.png. About 6 min per λ on a 2-core CPU; "
        "each fit and evaluation is a resumable unit: rerun the same command to resume.",
    )
    ls.add_argument("--runs", default="runs",
                    help="the replication to refit from (replicate.json, sft/, bank/; default runs)")  # fmt: skip
    ls.add_argument("--task", default="kindness", choices=TASKS)
    ls.add_argument("--out", default="build/lam-sweep",
                    help="output folder (default build/lam-sweep; the shipped one is runs/lam-sweep)")  # fmt: skip
    ls.add_argument("--factors", nargs="+", type=factor_value, default=None,
                    help="λ / λ0 for each refit, e.g. 0.25 1 4 16 64 inf")  # fmt: skip
    ls.add_argument(
        "--device", default=None, type=_device, help="cpu or cuda (default: cuda if present)"
    )
    ls.add_argument("--fast", action="store_true", help="tiny settings: checks the pipeline")
    ls.add_argument("--threads", type=int_range(1), default=None)
    ls.add_argument("--no-progress", action="store_true")
    ls.set_defaults(func=cmd_lam_sweep)


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alignpro-lite",
        description="Align-Pro experiments: exact λ sweeps, prompt-value estimation, training, reports.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sw = sub.add_parser(
        "sweep",
        help="closed-form rho* and its metrics over a grid of λ (CSV + PNG)",
        description="Compute the closed-form Align-Pro prompter rho* for every λ of a grid and "
        "write one CSV row per (λ, prompt) with mean reward, both variance terms, KL and "
        "objective, a P-weighted summary CSV, and plots.",
    )
    sw.add_argument(
        "--problem",
        default="teaching",
        help="'teaching' (data/teaching.json), 'random' (seeded, see --n-x/--n-c/--n-y/--seed), "
        "a path to a problem JSON, or a shipped table name in data/tables/ (default: teaching)",
    )
    sw.add_argument(
        "--lams",
        default="1e-3:1e2:50",
        help="λ grid: LO:HI:N log-spaced inclusive (e.g. 1e-3:1e2:50) or a comma list (0.1,1,10)",
    )
    sw.add_argument(
        "--out", required=True, help="output folder (created; files replaced atomically)"
    )
    sw.add_argument("--seed", type=SEED, default=0, help="seed of the random problem (default 0)")
    sw.add_argument(
        "--n-x", type=int_range(1), default=50, help="random problem: number of prompts (50)"
    )
    sw.add_argument(
        "--n-c", type=int_range(1), default=8, help="random problem: candidates per prompt (8)"
    )
    sw.add_argument(
        "--n-y", type=int_range(1), default=6, help="random problem: responses per prompt (6)"
    )
    sw.set_defaults(func=cmd_sweep)

    register_estimate(sub)
    register_experiment(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit codes: 0 done, 2 bad input (one line on stderr), 130 Ctrl-C,
    143 SIGTERM (one line on stderr for both; finished stages are kept, rerun to resume)."""
    parser = build_parser()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        return _main(parser, argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"alignpro-lite: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:  # validation errors from the package
        print(f"alignpro-lite: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a file the command cannot read or write: name it, no traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"alignpro-lite: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (Stopped / TrainingInterrupted)
        return _stopped_line(err)


if __name__ == "__main__":
    sys.exit(main())
