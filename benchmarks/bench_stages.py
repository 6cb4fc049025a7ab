"""Stage times of the pipeline, an older commit's code and this checkout's side by side in one run.

    python benchmarks/bench_stages.py --before a2c57ca --threads 1     # ~35 min on 2 cores

Two measurements, each run first with the code of ``--before`` (checked out with ``git worktree``
into a temporary folder and put first on ``PYTHONPATH``) and then with this checkout's code, one
process after the other on the same machine:

1. ``alignpro-lite replicate --fast`` into a fresh folder: every stage on 3 prompts per task; the
   stage seconds it records (``report/report.json``, ``seconds_this_call``) and the whole call.
2. **One full stage**: the evaluation job "Align-Pro" of a replicate on kindness, as
   ``experiment/replicate.py`` runs it: the shipped kindness prompter (``runs/alignpro-kindness``)
   rewrites each of the 60 test prompts 8 times, the frozen model answers every rewrite, and the
   per-token KL to ``rho_sft`` (``runs/sft``) is computed for every rewrite. Same adapters, prompts
   and seeds for both codes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FULL_STAGE = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
from alignpro_lite.experiment.evaluate import eval_samples
from alignpro_lite.llm import lm, lora
root = sys.argv[1]
model, tok = lm.load_causal_lm(device="cpu")
model = lora.load_lora(model, f"{root}/runs/sft", "sft")
model = lora.load_lora(model, f"{root}/runs/alignpro-kindness/adapter", "_eval")
t0 = time.perf_counter()
df = eval_samples("align-pro", "kindness", model, tok, adapter="_eval", n_samples=8,
                  log_ratio=True, ref_adapter="sft", kl_tok=True)
print("RESULT " + json.dumps({"seconds": time.perf_counter() - t0, "rows": len(df),
                              "reward": float(df.reward.mean()), "kl_tok": float(df.kl_tok.mean())}))
"""


def _run(code_root: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(code_root), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "ALIGNPRO_FAST": ""}  # fmt: skip
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=code_root)  # fmt: skip


def replicate_fast(code_root: Path, threads: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="alignpro-stages-")) / "rep"
    t0 = time.perf_counter()
    p = _run(code_root, ["-c", "from alignpro_lite.cli import main; raise SystemExit(main())",
                         "replicate", "--fast", "--out", str(out), "--threads", str(threads)])  # fmt: skip
    total = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"replicate --fast failed in {code_root}:\n{p.stderr[-3000:]}")
    meta = json.loads((out / "report" / "report.json").read_text())
    return {"total": total, **meta["seconds_this_call"]}


def full_stage(code_root: Path, threads: int) -> dict:
    p = _run(code_root, ["-c", FULL_STAGE, str(ROOT), str(threads)])
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"the full stage failed in {code_root}:\n{p.stderr[-3000:]}")
    return json.loads(line[7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--before", default="a2c57ca", help="the older commit (a2c57ca: before issue 21)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-full", action="store_true", help="only replicate --fast")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="alignpro-before-")) / "code"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tmp), args.before],
                   check=True, capture_output=True)  # fmt: skip
    try:
        codes = {f"before ({args.before})": tmp, "after (this checkout)": ROOT}
        print(f"threads {args.threads}, load average {os.getloadavg()[0]:.1f}\n")
        fast = {k: replicate_fast(v, args.threads) for k, v in codes.items()}
        stages = [k for k in next(iter(fast.values())) if k != "total"] + ["total"]
        print("replicate --fast, seconds per stage:")
        print(f"{'stage':12s}" + "".join(f"{k:>24s}" for k in fast) + f"{'after / before':>16s}")
        for s in stages:
            b, a = (fast[k].get(s, float("nan")) for k in fast)
            ratio = a / b if b > 0 else float("nan")
            print(f"{s:12s}{b:>24.1f}{a:>24.1f}{ratio:>16.2f}")
        if not args.skip_full:
            full = {k: full_stage(v, args.threads) for k, v in codes.items()}
            print("\none full stage: evaluation job 'Align-Pro', kindness, 60 test prompts x 8 "
                  "(rewrites, answers, per-token KL):")  # fmt: skip
            for k, r in full.items():
                print(f"  {k:24s} {r['seconds']:7.1f} s  ({r['rows']} rows, mean reward "
                      f"{r['reward']:.3f}, mean KL {r['kl_tok']:.4f})")  # fmt: skip
            b, a = (r["seconds"] for r in full.values())
            print(f"  after / before: {a / b:.2f}")
        print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp)],
                       capture_output=True)  # fmt: skip


if __name__ == "__main__":
    main()
