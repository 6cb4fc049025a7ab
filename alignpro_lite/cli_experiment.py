"""``alignpro-lite train`` and ``alignpro-lite report``: the paper's experiment from a terminal.

    alignpro-lite train --method align-pro --task kindness --out runs/alignpro-kindness
    alignpro-lite train --method rlhf --task kindness --beta 0.05 --out runs/rlhf-kindness
    alignpro-lite report runs/alignpro-kindness runs/rlhf-kindness --out runs/report

``train`` resumes from ``--out`` when a checkpoint is there (same arguments; ``--steps`` may
grow). For ``rlhf`` the KL weight is ``--beta`` (defaults to ``--lam``, so both methods get the
same KL weight unless told otherwise). ``--threads 1`` is much faster on a busy 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from alignpro_lite.cli import SEED, CLIError, check_out, finite_float, int_range, positive_float


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    print(f"alignpro-lite: warning: {message}", file=sys.stderr)


def _interrupted(err: KeyboardInterrupt, out: Path) -> int:
    """One line on stderr saying what was saved; exit code 128 + the signal (130 for Ctrl-C)."""
    from alignpro_lite.train import load_checkpoint

    code = getattr(err, "exit_code", 130)
    how = "stopped by SIGTERM" if code == 143 else "interrupted"
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
    from alignpro_lite.experiment import RunConfig, threads, train_run
    from alignpro_lite.train import CheckpointWarning

    lam = args.lam
    if args.beta is not None:
        if args.method != "rlhf":
            raise CLIError("--beta is the KL weight of --method rlhf; use --lam for align-pro.")
        lam = args.beta
    try:
        cfg = RunConfig(
            method=args.method,
            task=args.task,
            lam=lam,
            steps=args.steps,
            batch_size=args.batch_size,
            k=args.k,
            lr=args.lr,
            mu=args.mu,
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
            res = train_run(cfg, args.out, progress=not args.no_progress)
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
    from alignpro_lite.experiment import REPORT_FILES, report, threads

    for d in args.run_dirs:
        if not Path(d).is_dir():
            raise CLIError(f"run folder {d!r} does not exist.")
    check_out(args.out, REPORT_FILES)  # before the evaluation, not after it
    with threads(args.threads):
        tables = report(
            args.run_dirs, args.out, n_samples=args.n_samples, judge=not args.no_judge,
            progress=not args.no_progress,
        )  # fmt: skip
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(tables["summary"].round(3).to_string(index=False))
        if not tables["gap"].empty:
            print(tables["gap"].round(3).to_string(index=False))
    print(f"wrote {Path(args.out)}")
    return 0


def register(sub) -> None:
    """Add the ``train`` and ``report`` subcommands to the ``alignpro-lite`` parser."""
    from alignpro_lite.experiment import METHODS, RunConfig
    from alignpro_lite.tasks import TASKS

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
        "--lam", type=positive_float, default=d.lam, help=f"KL weight λ > 0 (default {d.lam})"
    )
    tr.add_argument(
        "--beta", type=positive_float, default=None, help="rlhf: KL weight β > 0 (default: --lam)"
    )
    tr.add_argument("--steps", type=_positive_int, default=d.steps, help=f"RL steps ({d.steps})")
    tr.add_argument(
        "--batch-size",
        type=_positive_int,
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
    tr.add_argument("--rewrite-tokens", type=_positive_int, default=d.rewrite_tokens)
    tr.add_argument("--answer-tokens", type=_positive_int, default=d.answer_tokens)
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
    tr.add_argument("--checkpoint-every", type=_positive_int, default=d.checkpoint_every)
    tr.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch threads (1 is fastest on a busy machine)",
    )
    tr.add_argument("--no-progress", action="store_true", help="no progress bars")
    tr.set_defaults(func=cmd_train)

    rp = sub.add_parser(
        "report",
        help="evaluate runs on the TEST prompts: tables (CSV) and figures (PNG)",
        description="Evaluate NoFT, Align-Pro and RLHF on the held-out test prompts of every task "
        "in the given runs: mean reward with 95% CI, variance, gap closed, judge win rates, λ sweep.",
    )
    rp.add_argument("run_dirs", nargs="+", help="run folders written by `alignpro-lite train`")
    rp.add_argument("--out", required=True, help="output folder for the tables and figures")
    rp.add_argument(
        "--n-samples", type=_positive_int, default=2, help="answers per test prompt and method (2)"
    )
    rp.add_argument("--no-judge", action="store_true", help="skip the pairwise-judge win rates")
    rp.add_argument("--threads", type=_positive_int, default=None)
    rp.add_argument("--no-progress", action="store_true")
    rp.set_defaults(func=cmd_report)
