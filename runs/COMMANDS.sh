#!/usr/bin/env bash
# The exact command that produced the shipped runs/ (seed 0, the 2-core CPU):
#
#   sft/                    the reference prompter rho_sft (LoRA, 60 SFT steps on the train rewrites)
#   bank/{task}/            the sample bank: rewrites of rho_sft, the frozen model's answers, RLHF's
#                           responses of pi_ref, on the 60 TRAIN prompts; manifest.json has checksums
#   alignpro-{task}/        the prompter fitted to rho* at the preregistered λ (route (b))
#   rlhf-{task}/            the RLHF model fitted to pi* at the preregistered β (route (b))
#   sweep/kindness-lam*/    the kindness prompter refitted at λ/4, 4λ, 16λ (notebook 08's dashboard)
#   route-a-kindness/       route (a): the RLOO policy gradient, for comparison (notebook 07)
#   report/                 the preregistered paired evaluation on the TEST prompts, tables, figures
#
# The stages resume: rerun the command after an interruption. The per-job evaluation cache
# (runs/eval/) is not shipped; runs/report/samples.csv holds the same rows. The first run was
# made in two calls of the same code (the SFT and the banks by the stage functions, then this
# command, which found them on disk and went on); report/report.json has the machine and the
# seconds of each stage.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
alignpro-lite replicate --out "${RUNS:-runs}" --seed 0
# route (a) keeps only its adapter, run.json and metrics.csv:
#   python -c "import alignpro_lite as apl; apl.experiment.strip_checkpoint('runs/route-a-kindness')"
