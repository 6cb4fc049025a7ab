#!/usr/bin/env bash
# The exact commands that produced the shipped runs/ and runs/report/.
#
# The training runs were made BEFORE the preregistered evaluation (runs/PREREGISTRATION.md), on
# the first version of the task data (git history of data/tasks/ and data/tables/: 4 instruction
# rewrites per prompt, the 0/1-style rules); rerunning the train commands today trains on the
# current data and gives different runs. runs/report/ was then re-evaluated with the paired,
# preregistered evaluation: the `report` command at the end (8 answers x 60 test prompts per task
# and method, common random numbers, gold judges), about 20 minutes on 2 CPU cores.
#
# Training (defaults of RunConfig:
# 10 RL steps x 3 prompts x k=4 samples, 32-token rewrites and answers, LoRA r=8 on q/v,
# Adam lr 5e-4, KL weight 0.05 for both methods, preservation penalty mu=0.5, seed 0).
# Three lanes run in parallel, one torch thread each (fastest on a busy 2-core machine).
# The Align-Pro runs after the first reuse the SFT reference rho_sft trained by the first
# (--sft-adapter): same data (instruction rewrites of all three tasks' TRAIN prompts), same seed.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
R=${RUNS:-runs}
T="--threads 1 --no-progress"
S=$R/alignpro-kindness/sft
lane_a() {
  alignpro-lite train --method align-pro --task kindness --out $R/alignpro-kindness $T
  alignpro-lite train --method align-pro --task harmlessness --sft-adapter $S --out $R/alignpro-harmlessness $T
  alignpro-lite train --method align-pro --task helpfulness --sft-adapter $S --out $R/alignpro-helpfulness $T
}
lane_b() {
  alignpro-lite train --method rlhf --task kindness --beta 0.05 --out $R/rlhf-kindness $T
  alignpro-lite train --method rlhf --task harmlessness --beta 0.05 --out $R/rlhf-harmlessness $T
  alignpro-lite train --method rlhf --task helpfulness --beta 0.05 --out $R/rlhf-helpfulness $T
}
lane_c() {  # the λ sweep of the kindness prompter (λ = 0.05 is the main run)
  while [ ! -f $S/adapter_config.json ]; do sleep 10; done
  alignpro-lite train --method align-pro --task kindness --lam 0.01 --sft-adapter $S --out $R/alignpro-kindness-lam0.01 $T
  alignpro-lite train --method align-pro --task kindness --lam 0.5 --sft-adapter $S --out $R/alignpro-kindness-lam0.5 $T
}
lane_a > $R/lane_a.log 2>&1 &
A=$!
lane_b > $R/lane_b.log 2>&1 &
B=$!
lane_c > $R/lane_c.log 2>&1 &
C=$!
wait $A $B $C
alignpro-lite report $R/alignpro-kindness $R/alignpro-kindness-lam0.01 $R/alignpro-kindness-lam0.5 \
  $R/rlhf-kindness $R/alignpro-harmlessness $R/rlhf-harmlessness $R/alignpro-helpfulness \
  $R/rlhf-helpfulness --out $R/report --threads 2 --no-progress > $R/report.log 2>&1
