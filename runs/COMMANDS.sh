#!/usr/bin/env bash
# The exact commands that produced the shipped runs/ (the shared 2-core CPU, no GPU).
#
# Round 1 (seed 0, weighted-MLE fits at the headroom λ; runs/PREREGISTRATION.md, first part):
#   sft/                    the reference prompter rho_sft (LoRA, 60 SFT steps on the train rewrites)
#   bank/{task}/            the sample bank: rewrites of rho_sft, the frozen model's answers, RLHF's
#                           responses of pi_ref, on the 60 TRAIN prompts; manifest.json has checksums
#   alignpro-{task}/        the prompter fitted to rho* at the preregistered λ (route (b))
#   rlhf-{task}/            the RLHF model fitted to pi* at the preregistered β (route (b))
#   sweep/kindness-lam*/    the kindness prompter refitted at λ/4, 4λ, 16λ
#   route-a-kindness/       route (a): the RLOO policy gradient, for comparison (notebook 07)
#   report/                 the preregistered paired evaluation on the TEST prompts, tables, figures
#   lam-sweep/              the NCA fit's λ sweep on round 1's kindness bank (notebook 07)
#
# Round 2 (seeds 0, 1, 2; NCA fits at the noise-aware λ; runs/PREREGISTRATION.md, "Round 2"):
#   round2/power/           the power analysis from train data (scripts/power_round2.py)
#   round2/seed{s}/         one seed: sft/, bank/, alignpro-*/, rlhf-*/, eval/ (the evaluation
#                           caches, shipped: rerunning the command verifies and rewrites report/
#                           in minutes), report/; seed 0 also sweep/ (the kindness frontier refits)
#                           and round 1's SFT prompter and bank (same settings, copied)
#   round2/report/          every seed pooled: per_seed, pooled, variance, gap, frontier, sweep,
#                           targets, compute and samples.csv (every answer, no texts)
#
# The stages resume: rerun a command after an interruption. Round 1's per-job evaluation cache
# (runs/eval/) is not shipped; runs/report/samples.csv holds the same rows. Each report.json has
# the machine and the seconds of each stage of its last call; the banks' manifest.json and each
# fit.json have their own seconds.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
RUNS=${RUNS:-runs}
# round 1
alignpro-lite replicate --out "$RUNS" --seed 0 --fit wmle --lam-rule headroom
alignpro-lite lam-sweep --runs "$RUNS" --out "$RUNS/lam-sweep"
# route (a) keeps only its adapter, run.json and metrics.csv:
#   python -c "import alignpro_lite as apl; apl.experiment.strip_checkpoint('runs/route-a-kindness')"
# round 2 (each seed ran with one torch thread beside another seed's process)
python scripts/power_round2.py | tee runs/round2/power/printout.txt   # writes runs/round2/power/
alignpro-lite replicate --round2 --seed 0 --out "$RUNS/round2/seed0" --threads 1
alignpro-lite replicate --round2 --seed 1 --out "$RUNS/round2/seed1" --threads 1 --reuse-eval "$RUNS/round2/seed0"
alignpro-lite replicate --round2 --seed 2 --out "$RUNS/round2/seed2" --threads 1 --reuse-eval "$RUNS/round2/seed0"
alignpro-lite pool --runs "$RUNS/round2"
