"""`alignpro-lite replicate --estimate` against timed stages on this machine.

Runs round 2's pipeline (`round2_config` of seed 1: no frontier refits) on kindness at reduced counts — N train and N test
prompts, a few NCA steps — with the shipped seed-0 SFT prompter copied in (so the SFT stage is
skipped), all torch threads, and prints, stage by stage, the seconds `estimate_seconds` predicts for
exactly this configuration beside the seconds the stage took (`report.json`'s
`seconds_this_call`). The per-unit costs (`COST_2CORE`) are what is checked: the reduced counts
only shorten the run. Run it on an otherwise idle machine:

    python scripts/check_estimate.py --prompts 6 --nca-steps 4 --out build/estimate-check

Writes OUT/estimate_check.csv and prints the table; rerunning with a fresh OUT repeats it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from alignpro_lite.config import repo_root, threads
from alignpro_lite.experiment.replicate import estimate_seconds, replicate, round2_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=6, help="train and test prompts (default 6)")
    ap.add_argument("--nca-steps", type=int, default=4, help="NCA steps per fit (default 4)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="build/estimate-check")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if out.exists():
        print(
            f"--out {out} exists: give a fresh folder (the check times every stage).",
            file=sys.stderr,
        )
        return 2
    cfg = round2_config(1, tasks=("kindness",), n_prompts=a.prompts, n_test_prompts=a.prompts,
                        nca_steps=a.nca_steps)  # fmt: skip
    out.mkdir(parents=True)
    shutil.copytree(repo_root() / "runs" / "round2" / "seed0" / "sft", out / "sft")
    with threads(a.threads):
        replicate(out, cfg, device="cpu", progress=False)
    meta = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    took = meta["seconds_this_call"]
    est = estimate_seconds(cfg)
    rows = [{"stage": k, "estimate_s": round(est[k], 1), "measured_s": round(took[k], 1),
             "measured_over_estimate": round(took[k] / est[k], 2) if est[k] > 0 else None}
            for k in ("bank", "fits", "evaluation") if k in took]  # fmt: skip
    df = pd.DataFrame(rows)
    df.to_csv(out / "estimate_check.csv", index=False)
    print(f"machine: {meta['machine']} | torch threads: {meta['threads']} | {a.prompts} prompts, "
          f"{a.nca_steps} NCA steps, kindness")  # fmt: skip
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
