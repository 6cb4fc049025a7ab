"""Sampling throughput of the frozen LLM against this machine's roofline, and its load times.

    python benchmarks/bench_sampling.py --threads 1   # 8 prompts x 8 samples x 32 tokens, batch 1/8/32/64
    python benchmarks/bench_sampling.py --quick       # 8 x 8 x 16, batch 1/8/32, no cold load

In one run, per batch size: the roofline (the machine's own decode-shaped matmul rate, measured
here, turned into tokens/s with the model's FLOPs per token), then new tokens per second of
:func:`alignpro_lite.llm.lm.sample_ids` with today's ``"generate"`` engine (``model.generate``,
one prefill per row) and the ``"cache"`` engine (one prefill per prompt, a preallocated KV cache),
each as a fraction of the roofline, and whether both drew the same tokens. Every sequence is
forced to exactly ``max_new_tokens`` new tokens (``min_new_tokens``) and the tokens are counted
from the returned ids. Then the load time of the embedded SmolLM2, cold (dequantising the GGUF)
and cached. Targets: cache >= 2x generate at batch 32 and 64; >= 60 % of the roofline at 64.
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

from alignpro_lite.learn.generative import REWRITE_SYSTEM  # noqa: E402
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


def roofline(batch: int, hidden: int, inter: int, vocab: int, reps: int = 5) -> float:
    """GFLOP/s of this machine's decode-shaped matrix products at ``batch`` rows: the model's own
    shapes ``(B, hidden) @ (hidden, hidden | inter | vocab)`` timed with ``torch.mm`` (best of
    ``reps``). No sampler can decode faster than the model's FLOPs at this rate."""
    shapes = [(hidden, hidden), (hidden, inter), (inter, hidden), (hidden, vocab)]
    mats = [(torch.randn(batch, k), torch.randn(k, n)) for k, n in shapes]
    flops = sum(2 * batch * k * n for k, n in shapes)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for a, b in mats:
            torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def flops_per_token(model) -> float:
    """Matrix FLOPs of one decoded token: 2 x (every weight matrix + the output layer)."""
    n = sum(
        p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "embed" not in name
    )
    cfg = model.config
    return 2.0 * (n + cfg.vocab_size * cfg.hidden_size)


def throughput(model, tok, engine: str, batch: int, prompts, n: int, new_tokens: int):
    """(new tokens, seconds) for ``n`` continuations of every prompt, ``batch`` rows at a time."""
    t0 = time.perf_counter()
    ids = lm.sample_ids(
        model,
        tok,
        prompts,
        n=n,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        seed=len(prompts),
        batch_size=batch,
        system=REWRITE_SYSTEM,
        engine=engine,
        progress=False,
    )
    seconds = time.perf_counter() - t0
    return sum(len(y) for row in ids for y in row), seconds, ids


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
    n, new_tokens = (8, 16) if args.quick else (8, 32)
    batches = [1, 8, 32] if args.quick else [1, 8, 32, 64]
    prompts = PROMPTS  # 8 prompts x n = 8 continuations = 64 rows, the prompter's system text

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {load:.1f} (a shared, busy machine makes these numbers noisy)"
    )
    t0 = time.perf_counter()
    model, tok = lm.load_causal_lm(device="cpu")
    print(f"model load from the user cache: {time.perf_counter() - t0:.2f} s")
    lm.sample_ids(model, tok, PROMPTS[:2], max_new_tokens=4, progress=False)  # warm-up
    cfg = model.config
    per_token = flops_per_token(model)
    print(
        f"\n{len(prompts)} prompts (rewrite instruction + message) x n = {n} continuations x "
        f"{new_tokens} new tokens; {per_token / 1e9:.2f} GFLOP per decoded token.\n"
        "roofline: this machine's decode-shaped matmul rate at that batch, as tokens/s.\n"
        "'generate': model.generate, one prefill per row; 'cache': one prefill per prompt and "
        "a preallocated KV cache."
    )
    head = f"{'batch':>5} {'roofline':>9} {'generate':>9} {'cache':>7} {'speed-up':>8}"
    print(f"{head} {'gen/roof':>8} {'cache/roof':>10} {'same tokens':>11}")
    for b in batches:
        roof = roofline(b, cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size) * 1e9 / per_token
        rates, outs = {}, {}
        for engine in ("generate", "cache"):
            n_tok, sec, outs[engine] = throughput(model, tok, engine, b, prompts, n, new_tokens)
            assert n_tok == len(prompts) * n * new_tokens, (engine, n_tok)
            rates[engine] = n_tok / sec
        g, c = rates["generate"], rates["cache"]
        print(
            f"{b:>5} {roof:>9.1f} {g:>9.1f} {c:>7.1f} {c / g:>7.2f}x {g / roof:>8.0%} "
            f"{c / roof:>10.0%} {str(outs['generate'] == outs['cache']):>11}"
        )

    if not args.quick or args.cold:
        del model
        cold, cached = load_times()
        print(
            f"\nload: cold (GGUF dequantise + save) {cold:.1f} s, cached {cached:.2f} s "
            f"(target <= 3 s)"
        )


if __name__ == "__main__":
    main()
