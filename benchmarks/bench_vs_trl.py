"""Our RLHF baseline vs TRL's RLOOTrainer: seconds per step, peak memory, reward after N steps.

    pip install -e ".[bench]"            # TRL is a benchmark-only extra
    python benchmarks/bench_vs_trl.py --steps 20 --seeds 0,1 --threads 1

Same model (embedded SmolLM2-135M-Instruct, LoRA r=8 on q_proj/v_proj, alpha 16), same prompts
(kindness TRAIN prompts), same reward (VADER kindness), same batch (3 prompts x 4 completions),
same generation (32 new tokens, temperature 0.7, top_p 1), same optimiser (Adam(W) lr 5e-4),
same KL weight beta = 0.05 to the frozen model: the defaults of ``RunConfig`` (read at run time). TRL is configured fairly for a CPU:
``use_cpu=True``, ``bf16=False`` (its default is bf16, slower on CPU), ``beta`` explicit,
one generation per optimiser step. Each side runs in its own subprocess (so peak RSS is its
own), on the same machine, one after the other, for each seed. Per step, both log the batch's mean reward (the training
curve); "same reward in less time" compares when ours first reaches TRL's final training reward.
"Reward after N" (eval) is measured identically for
both: 2 answers to each of the first 12 kindness TEST prompts from the trained model with
:func:`alignpro_lite.llm.lm.generate` (fixed seed), scored by the same reward.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _defaults():
    """The RLHF baseline's defaults (the shipped full run's configuration)."""
    from alignpro_lite.experiment.runs import RunConfig

    d = RunConfig(method="rlhf", task="kindness")
    return d.batch_size, d.k, d.answer_tokens, d.temperature, d.lr, d.beta, d.lora_r


BATCH, K, TOKENS, TEMP, LR, BETA, R = _defaults()


def _eval_reward(model, tok) -> float:
    import numpy as np
    import torch

    from alignpro_lite.llm.lm import generate
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import load_task

    xs = [p.prompt for p in load_task("kindness", "test")[:12]]
    with torch.no_grad():
        ys = generate(model, tok, xs, n=2, max_new_tokens=TOKENS, temperature=TEMP, top_p=1.0,
                      seed=7, batch_size=64, progress=False)  # fmt: skip
    flat_x = [x for x in xs for _ in range(2)]
    return float(np.mean(get_reward("kindness")(flat_x, [y for row in ys for y in row])))


def run_ours(steps: int, seed: int) -> dict:
    import torch

    from alignpro_lite.experiment.runs import RunConfig, build_run
    from alignpro_lite.learn.train import train
    from alignpro_lite.llm.lm import load_causal_lm
    from alignpro_lite.llm.tasks import load_task

    model, tok = load_causal_lm()
    cfg = RunConfig(method="rlhf", task="kindness", beta=BETA, steps=steps, batch_size=BATCH, k=K,
                    lr=LR, answer_tokens=TOKENS, temperature=TEMP, lora_r=R)  # fmt: skip
    torch.manual_seed(seed)
    policy, env, model = build_run(cfg, "/tmp/unused", model, tok)
    data = [p.prompt for p in load_task("kindness", "train")]
    before = _eval_reward(model, tok)
    res = train(policy, env, data, lam=BETA, steps=steps, lr=LR, k=K, batch_size=BATCH,
                max_grad_norm=1.0, seed=seed, progress=False)  # fmt: skip
    sec = res.metrics["seconds"].tolist()
    return {"impl": "alignpro-lite", "seconds": sec, "reward_before": before,
            "rewards": res.metrics["reward_mean"].tolist(),
            "reward_after": _eval_reward(model, tok)}  # fmt: skip


def run_trl(steps: int, seed: int) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    from alignpro_lite.llm.lm import load_causal_lm
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import load_task

    model, tok = load_causal_lm()
    reward = get_reward("kindness")
    before = _eval_reward(model, tok)
    prompts = [p.prompt for p in load_task("kindness", "train")]
    ds = Dataset.from_dict({"prompt": [[{"role": "user", "content": x}] for x in prompts]})

    def kindness(completions, prompts=None, **kwargs):  # noqa: ARG001
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        xs = [p[-1]["content"] if isinstance(p, list) else p for p in prompts]
        return [float(v) for v in reward(xs, texts)]

    args = RLOOConfig(
        output_dir="/tmp/bench_trl_out", use_cpu=True, bf16=False, beta=BETA,
        num_generations=K, per_device_train_batch_size=BATCH * K, gradient_accumulation_steps=1,
        steps_per_generation=1, num_iterations=1, max_completion_length=TOKENS,
        temperature=TEMP, top_p=1.0, learning_rate=LR, lr_scheduler_type="constant",
        max_grad_norm=1.0, max_steps=steps, logging_steps=1, save_strategy="no",
        report_to="none", seed=seed, disable_tqdm=True,
    )  # fmt: skip
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t0)

    peft = LoraConfig(r=R, lora_alpha=2 * R, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                      task_type="CAUSAL_LM")  # fmt: skip
    trainer = RLOOTrainer(model=model, reward_funcs=kindness, args=args, train_dataset=ds,
                          processing_class=tok, peft_config=peft, callbacks=[Timer()])  # fmt: skip
    trainer.train()
    trained = trainer.model.eval()
    with torch.no_grad():
        after = _eval_reward(trained, tok)
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    return {"impl": "trl-" + __import__("trl").__version__ + " RLOOTrainer", "seconds": times,
            "reward_before": before, "rewards": rewards, "reward_after": after}  # fmt: skip


def child(which: str, steps: int, threads: int | None, seed: int) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    out = run_ours(steps, seed) if which == "ours" else run_trl(steps, seed)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out))


def _last(xs: list[float], n: int = 5) -> float:
    return sum(xs[-n:]) / len(xs[-n:])


def _time_to(rewards: list[float], seconds: list[float], level: float, n: int = 5) -> float | None:
    """Training seconds until the n-step running mean of the batch reward first reaches ``level``."""
    for t in range(n, len(rewards) + 1):
        if sum(rewards[t - n : t]) / n >= level:
            return sum(seconds[:t])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--seeds", default="0,1", help="comma-separated training seeds (0,1)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in each run")
    ap.add_argument("--child", choices=["ours", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps, args.threads, args.seed)
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    seeds = [int(v) for v in args.seeds.split(",")]
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    for seed in seeds:
        for which in ("ours", "trl"):
            cmd = [sys.executable, __file__, "--child", which, "--steps", str(args.steps),
                   "--seed", str(seed)]  # fmt: skip
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            p = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(p.stdout[-3000:], p.stderr[-3000:], sep="\n")
                raise SystemExit(f"{which} seed {seed} failed (exit {p.returncode})")
            results[which].append({**json.loads(line[7:]), "seed": seed})
            r = results[which][-1]
            print(f"{which} seed {seed}: {sum(r['seconds']) / len(r['seconds']):.1f} s/step, "
                  f"batch reward {r['rewards'][0]:.3f} -> last-5 mean {_last(r['rewards']):.3f}, "
                  f"eval {r['reward_before']:.3f} -> {r['reward_after']:.3f}", flush=True)  # fmt: skip
    print(f"\n{'':24s} {'seed':>4s} {'s/step':>7s} {'peak RSS MB':>11s} {'train reward':>14s} "
          f"{'eval before':>11s} {'eval after':>10s}")  # fmt: skip
    for runs in results.values():
        for r in runs:
            curve = f"{r['rewards'][0]:.3f}->{_last(r['rewards']):.3f}"
            print(f"{r['impl'][:24]:24s} {r['seed']:>4d} {sum(r['seconds']) / len(r['seconds']):7.1f} "
                  f"{r['peak_rss_mb']:11.0f} {curve:>14s} {r['reward_before']:11.3f} "
                  f"{r['reward_after']:10.3f}")  # fmt: skip
    mean = lambda runs, f: sum(f(r) for r in runs) / len(runs)  # noqa: E731
    per_step = {
        w: mean(runs, lambda r: sum(r["seconds"]) / len(r["seconds"]))
        for w, runs in results.items()
    }
    print(f"\nours / TRL seconds per step: {per_step['ours'] / per_step['trl']:.2f}; steps = {args.steps}, "
          f"seeds = {seeds}, batch = {BATCH} prompts x {K}, {TOKENS} new tokens, "
          f"threads = {results['ours'][0]['threads']}")  # fmt: skip
    for o, t in zip(results["ours"], results["trl"], strict=True):
        level = _last(t["rewards"])
        ours_t = _time_to(o["rewards"], o["seconds"], level)
        trl_t = _time_to(t["rewards"], t["seconds"], level)
        reached = "not reached" if ours_t is None else f"{ours_t:.0f} s (TRL {trl_t:.0f} s)"
        print(f"seed {o['seed']}: TRL's final training reward {level:.3f} (last-5 mean); ours reaches "
              f"it (5-step running mean) after {reached}")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
