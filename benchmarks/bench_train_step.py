"""Seconds per training step of Align-Pro (LoRA prompter) and RLHF (LoRA responder) on this
machine's device (cuda when present), plus a resume-equals-uninterrupted check on that device.

    python benchmarks/bench_train_step.py                       # the embedded SmolLM2
    python benchmarks/bench_train_step.py --random-init CONFIG_DIR
        # same architecture, random weights (a folder with config.json + tokenizer files):
        # identical FLOPs, so identical timings; used where the weights cannot be copied

Runs each method twice on the same config and seeds: with today's paths (``model.generate``
sampling, every row's prompt recomputed for the log-probs) and the new ones (one prefill per
prompt with a preallocated KV cache; the prompt's cache shared by its k continuations in the
log-probs). Prints one JSON line per (method, path): device, steps, seconds/step (after one
warm-up step), peak memory; then a table of the speed-ups.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def random_init_model(config_dir: Path, out: Path) -> Path:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(config_dir).save_pretrained(out)
    return out


def toy_reward():
    """Reward = share of words in the answer that are 'kind' (cheap, any device, learnable)."""
    from alignpro_lite.llm.rewards import as_reward

    kind = {"thank", "thanks", "please", "kind", "happy", "glad", "great", "good", "love", "help"}

    def fn(prompts, responses):
        out = []
        for y in responses:
            words = [w.strip(".,!?").lower() for w in y.split()]
            out.append(sum(w in kind for w in words) / max(len(words), 1))
        return np.asarray(out, dtype=float)

    return as_reward(fn, "toy-kind-words", 0.0, 1.0)


@contextlib.contextmanager
def paths(which: str):
    """``"new"``: the package as it is; ``"today"``: sampling through ``model.generate`` with the
    LoRA adapter as a side branch, and log-probs without the shared prefix (the code paths
    before the KV-cache work)."""
    from alignpro_lite.learn import generative
    from alignpro_lite.llm import lm

    saved = lm.sample_ids, generative.token_logprobs, generative.LoRAPolicy.sample
    if which == "today":
        lm.sample_ids = functools.partial(saved[0], engine="generate")
        generative.token_logprobs = functools.partial(saved[1], share_prefix=False)

        def unmerged_sample(self, *args, **kwargs):
            self.merge_lora = False  # the adapter as a side branch while sampling, as before
            return saved[2](self, *args, **kwargs)

        generative.LoRAPolicy.sample = unmerged_sample
    try:
        yield
    finally:
        lm.sample_ids, generative.token_logprobs, generative.LoRAPolicy.sample = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random-init", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from alignpro_lite import experiment as E
    from alignpro_lite.config import get_device
    from alignpro_lite.llm.lm import load_causal_lm
    from alignpro_lite.llm.tasks import load_task

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    name = "smollm2-135m-instruct"
    if args.random_init is not None:
        name = str(random_init_model(args.random_init, work / "model"))
    device = get_device()
    prompts = [p.prompt for p in load_task("kindness", "train")]
    reward = toy_reward()
    results = {"device": device, "torch": torch.__version__}
    if device == "cuda":
        results["gpu"] = torch.cuda.get_device_name(0)
    for method, which in [(m, w) for m in ("align-pro", "rlhf") for w in ("today", "new")]:
        model, tok = load_causal_lm(name)
        cfg = E.RunConfig(
            method=method,
            task="kindness",
            steps=args.steps + 1,  # λ or β: 0.05, each method's default
            batch_size=args.batch_size,
            k=args.k,
            sft_steps=0,
            mu=0.0,
            rewrite_tokens=args.tokens,
            answer_tokens=args.tokens,
            model=name,
            checkpoint_every=args.steps + 1,
        )
        policy, env, model = E.build_run(cfg, work / method, model, tok)
        env.reward = reward  # both environments score with .reward(prompts, responses)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        from alignpro_lite.learn.train import train

        t0 = time.perf_counter()
        with paths(which):
            res = train(
                policy,
                env,
                prompts,
                lam=cfg.kl_weight,
                steps=cfg.steps,
                lr=cfg.lr,
                k=cfg.k,
                batch_size=cfg.batch_size,
                seed=0,
                progress=False,
            )
        total = time.perf_counter() - t0
        sec = res.metrics["seconds"].to_numpy()
        line = {
            "method": method,
            "paths": which,
            "steps": int(len(sec)),
            "s_per_step_after_warmup": float(np.mean(sec[1:])) if len(sec) > 1 else float(sec[0]),
            "first_step_s": float(sec[0]),
            "total_s": total,
            "reward_first": float(res.metrics["reward_mean"].iloc[0]),
            "reward_last": float(res.metrics["reward_mean"].iloc[-1]),
            "param_device": str(next(p for p in policy.parameters() if p.requires_grad).device),
            "peak_mem_gb": (torch.cuda.max_memory_allocated() / 2**30)
            if device == "cuda"
            else None,
            "seqs_per_step": args.batch_size * args.k,
            "tokens": args.tokens,
        }
        results[f"{method}/{which}"] = line
        print(json.dumps(line), flush=True)
        del model, policy, env
    print(
        f"\n{'method':<10} {'today s/step':>12} {'new s/step':>10} {'speed-up':>8} {'same first reward':>17}"
    )
    for method in ("align-pro", "rlhf"):
        a, b = results[f"{method}/today"], results[f"{method}/new"]
        ta, tb = a["s_per_step_after_warmup"], b["s_per_step_after_warmup"]
        same = abs(a["reward_first"] - b["reward_first"]) < 1e-9
        print(f"{method:<10} {ta:>12.2f} {tb:>10.2f} {ta / tb:>7.2f}x {str(same):>17}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
