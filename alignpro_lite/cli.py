"""The ``alignpro-lite`` command: quick experiments from a terminal.

    alignpro-lite sweep --problem teaching --lams 1e-3:1e2:50 --out runs/sweep

Every subcommand writes into ``--out`` atomically (a temporary folder first, files moved in
at the end), so a failed or interrupted command leaves nothing half-written. Bad arguments
or files print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one clear line instead of usage + error
        raise CLIError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------- helpers
def atomic_output(out: Path, write: Callable[[Path], list[str]]) -> list[Path]:
    """Run ``write(tmpdir)`` then move the files it made into ``out`` (created if needed)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {str(out)!r} exists and is not a folder.")
    parent = out.parent if out.parent != Path("") else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create the output folder {str(out)!r}: {err.strerror}.") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        names = write(tmp)
        out.mkdir(exist_ok=True)
        moved = []
        for name in names:
            os.replace(tmp / name, out / name)
            moved.append(out / name)
        return moved
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_problem_arg(spec: str, seed: int = 0, size: tuple[int, int, int] = (50, 8, 6)):
    """``teaching``, ``random`` or a path to a problem JSON (see ``data/README.md``)."""
    from alignpro_lite import problems

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
def cmd_sweep(args) -> int:
    import numpy as np
    import pandas as pd

    from alignpro_lite.plots import plot_rho_vs_lam, sweep_figure
    from alignpro_lite.plotting import set_style
    from alignpro_lite.sweep import lam_grid, sweep_metrics

    try:
        lams = lam_grid(args.lams)
    except ValueError as err:
        raise CLIError(f"--lams: {err}") from None
    problem = load_problem_arg(args.problem, seed=args.seed, size=(args.n_x, args.n_c, args.n_y))
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
        fig2 = plot_rho_vs_lam(problem, res)
        fig2.savefig(tmp / "rho_vs_lam.png")
        return ["sweep.csv", "sweep_summary.csv", "sweep.png", "rho_vs_lam.png"]

    paths = atomic_output(Path(args.out), write)
    print(f"{problem.summary()}; {len(lams)} λ values in [{lams.min():.3g}, {lams.max():.3g}]")
    for p in paths:
        print(f"wrote {p}")
    return 0


# --------------------------------------------------------------------------- estimate
def cmd_estimate(args) -> int:
    from alignpro_lite.tasks import SPLITS, TASKS

    tasks = list(TASKS) if args.task == "all" else [args.task]
    splits = list(SPLITS) if args.split == "all" else [args.split]
    for t in tasks:
        if t not in TASKS:
            raise CLIError(f"--task {t!r}: choose from {', '.join(TASKS)} or 'all'.")
    for s in splits:
        if s not in SPLITS:
            raise CLIError(f"--split {s!r}: choose from {', '.join(SPLITS)} or 'all'.")
    if args.samples < 2:
        raise CLIError("--samples must be >= 2 (the response variance needs two answers).")
    if args.max_new_tokens < 1 or not 0 < args.top_p <= 1 or args.temperature <= 0:
        raise CLIError(
            "--max-new-tokens >= 1, 0 < --top-p <= 1 and --temperature > 0 are required."
        )

    from alignpro_lite import lm, tables

    try:
        model, tok = lm.load_causal_lm(args.model)
    except (OSError, ValueError) as err:
        raise CLIError(
            f"--model {args.model!r}: cannot load it ({str(err).splitlines()[0]})."
        ) from None
    for task in tasks:
        for split in splits:
            table = tables.estimate_task_table(
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

            def write(tmp: Path, table=table) -> list[str]:
                return [path.name for path in tables.save_task_table(table, tmp)]

            atomic_output(Path(args.out), write)
            p = table.problem
            best = p.R.argmax(1)
            print(
                f"{task}/{split}: {p.n_x} prompts x {p.n_c} candidates, mean R(original) "
                f"{p.R[:, 0].mean():.3f}, mean max R {p.R.max(1).mean():.3f}, "
                f"best rewrite is 'bad' for {sum(table.kinds[i][b] == 'bad' for i, b in enumerate(best))}"
                f" prompts -> {args.out}"
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
    es.add_argument("--samples", type=int, default=4, help="answers per rewrite, >= 2 (4)")
    es.add_argument("--max-new-tokens", type=int, default=32, help="answer length in tokens (32)")
    es.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (0.7)")
    es.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling (0.9)")
    es.add_argument("--batch-size", type=int, default=64, help="sequences per generate call (64)")
    es.add_argument("--max-prompts", type=int, default=None, help="only the first N prompts")
    es.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    es.add_argument("--out", required=True, help="output folder, e.g. data/tables")
    es.set_defaults(func=cmd_estimate)


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
    sw.add_argument("--seed", type=int, default=0, help="seed of the random problem (default 0)")
    sw.add_argument("--n-x", type=int, default=50, help="random problem: number of prompts (50)")
    sw.add_argument("--n-c", type=int, default=8, help="random problem: candidates per prompt (8)")
    sw.add_argument("--n-y", type=int, default=6, help="random problem: responses per prompt (6)")
    sw.set_defaults(func=cmd_sweep)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


_EXTRA_COMMANDS: list[Callable] = [register_estimate]


def _register_experiment(sub) -> None:  # `train` and `report` (imported lazily: no cycle)
    from alignpro_lite.cli_experiment import register

    register(sub)


_EXTRA_COMMANDS.append(_register_experiment)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"alignpro-lite: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as err:  # validation errors from the package
        print(f"alignpro-lite: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("alignpro-lite: interrupted; nothing half-written was kept.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
