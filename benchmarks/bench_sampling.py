"""Sampling throughput of the frozen LLM and its load times.

    python benchmarks/bench_sampling.py            # 32 sequences x 32 new tokens per batch size
    python benchmarks/bench_sampling.py --quick    # 8 x 16, batch 1/4/8, no cold load
    python benchmarks/bench_sampling.py --threads 1   # often faster on an oversubscribed CPU

Prints new tokens per second of :func:`alignpro_lite.llm.lm.sample_ids` at batch sizes 1, 8 and 32
with the same total work for each (every sequence is forced to exactly ``max_new_tokens`` new
tokens with ``min_new_tokens``, and the tokens are counted from the returned ids, not assumed),
then the load time of the embedded SmolLM2 cold (dequantising the GGUF into an empty
temporary cache) and cached (the saved copy, SHA-256 check included).
Targets: batched throughput >= 5x batch 1; cached load <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

from alignpro_lite.llm import lm  # noqa: E402

PROMPTS = [
    "Describe your ideal weekend.",
    "Give me a tip for learning to cook.",
    "What makes a good friend?",
    "Explain why the sky is blue.",
    "Write a short note to a neighbour.",
    "How do I start running?",
    "Name three uses of a paperclip.",
    "What is a healthy breakfast?",
]


def load_times() -> tuple[float, float]:
    """Seconds for a cold load (empty cache: GGUF -> dequantise -> save -> load) and a cached one."""
    tmp = tempfile.mkdtemp(prefix="alignpro-bench-")
    old = os.environ.get("ALIGNPRO_CACHE")
    os.environ["ALIGNPRO_CACHE"] = tmp
    try:
        t0 = time.perf_counter()
        lm.load_causal_lm(device="cpu")
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        lm.load_causal_lm(device="cpu")
        cached = time.perf_counter() - t0
    finally:
        if old is None:
            os.environ.pop("ALIGNPRO_CACHE", None)
        else:
            os.environ["ALIGNPRO_CACHE"] = old
        shutil.rmtree(tmp, ignore_errors=True)
    return cold, cached


def throughput(model, tok, batch: int, sequences: int, new_tokens: int) -> tuple[int, float]:
    """(new tokens generated, seconds) for ``sequences`` prompts sampled ``batch`` at a time."""
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(sequences)]
    t0 = time.perf_counter()
    ids = lm.sample_ids(
        model,
        tok,
        prompts,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        seed=len(prompts),
        batch_size=batch,
        progress=False,
    )
    seconds = time.perf_counter() - t0
    return sum(len(y) for row in ids for y in row), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small run (8 x 16), no cold load")
    ap.add_argument("--cold", action="store_true", help="measure the cold load even in --quick")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's choice; 1 is often faster on a busy, shared CPU)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sequences, new_tokens = (8, 16) if args.quick else (32, 32)
    batches = [1, 4, 8] if args.quick else [1, 8, 32]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} (a shared, busy machine makes these numbers noisy)"
    )
    t0 = time.perf_counter()
    model, tok = lm.load_causal_lm(device="cpu")
    print(f"model load from the user cache: {time.perf_counter() - t0:.2f} s")
    lm.sample_ids(model, tok, PROMPTS[:2], max_new_tokens=4, progress=False)  # warm-up

    print(f"\n{sequences} sequences x {new_tokens} new tokens per batch size")
    print(f"{'batch':>5} {'tokens':>7} {'seconds':>8} {'tok/s':>7} {'vs batch 1':>10}")
    base = None
    for b in batches:
        n_tok, sec = throughput(model, tok, b, sequences, new_tokens)
        assert n_tok == sequences * new_tokens, f"expected {sequences * new_tokens}, got {n_tok}"
        rate = n_tok / sec
        base = base or rate
        print(f"{b:>5} {n_tok:>7} {sec:>8.2f} {rate:>7.1f} {rate / base:>9.1f}x")

    if not args.quick or args.cold:
        del model
        cold, cached = load_times()
        print(
            f"\nload: cold (GGUF dequantise + save) {cold:.1f} s, cached {cached:.2f} s "
            f"(target <= 3 s)"
        )


if __name__ == "__main__":
    main()
