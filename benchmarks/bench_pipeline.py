"""Sampling throughput at the pipeline's OWN shapes: the bank's and the evaluation's calls, replayed.

    python benchmarks/bench_pipeline.py --threads 1            # 7 calls x ~128 rows, ~10 min
    python benchmarks/bench_pipeline.py --threads 1 --quick    # ~64 rows per call

`bench_sampling.py` measures the sampler on a synthetic batch. A replicate samples the frozen model
(and the prompter) at other shapes: 45-60-token chat prompts, 32-token answers and rewrites (the
rewrites often end early), n from 1 (Align-Pro's answers: every row its own prompt) to 36 (the
bank's responses). This script replays those calls, as `learn/bank.py` and
`experiment/evaluate.py` make them, from the shipped kindness artefacts (`runs/bank/kindness`,
`runs/report/samples.csv`, the adapters in `runs/`), each cut to about ``--rows`` rows (its first
prompts, all their ``n`` samples), and times two paths side by side in one run:

* **old**: the sampler as it was called before issue 21 (cache engine, batch 64, every prompt
  prefilled in full, LoRA adapters applied unmerged);
* **new**: the shared token prefix of a call (the chat template's system turn) prefilled once
  (``share_prefix``), LoRA adapters folded into the weights while sampling (``lora.sampling``), and
  the batch size ``--batch`` (default: the library's ``SAMPLE_BATCH``).

**Roofline at those shapes.** The least time this machine's matrix products allow for the work a
call cannot avoid: every distinct prompt's tokens once (the shared prefix once per call) at the
measured rate of a prefill-shaped product (``M`` rows = the prompt tokens of a batch), plus every
sampled token at the measured rate of a decode-shaped product with the path's batch size (the
model's own matrix shapes and layout, ``F.linear`` as in ``nn.Linear``, best of 15, all measured
before the first call; attention over
<= 100 positions adds ~2 % of the FLOPs and is left out). The roofline is printed as tokens/s
(sampled tokens per second), so ``path / roofline`` is the share of the machine's matmul rate the
sampler turns into tokens; the old path's roofline is at batch 64. Tokens are counted from the
returned ids; "same tokens" compares the two paths' draws (equal up to floating-point near-ties).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from alignpro_lite.learn.generative import REWRITE_SYSTEM  # noqa: E402
from alignpro_lite.llm import lm, lora  # noqa: E402
from alignpro_lite.llm.frozen import PI_F_DECODING  # noqa: E402
from alignpro_lite.llm.tasks import load_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"


def _calls(rows: int) -> list[dict]:
    """The bank's three and the evaluation's four sampling calls (kindness), ``~rows`` rows each."""
    spec = json.loads((RUNS / "bank" / "kindness" / "manifest.json").read_text())["spec"]
    train = [p.prompt for p in load_task("kindness", "train")]
    test = [p.prompt for p in load_task("kindness", "test")]
    rw = pd.read_json(RUNS / "bank" / "kindness" / "rewrites.jsonl", lines=True, dtype=False)
    samples = pd.read_csv(RUNS / "report" / "samples.csv")
    ap = samples[(samples.task == "kindness") & (samples.method == "Align-Pro")]
    T, tok_rw, tok_ans = (
        float(spec["temperature"]),
        int(spec["rewrite_tokens"]),
        int(spec["answer_tokens"]),
    )
    pi_f = {**PI_F_DECODING.kwargs(), "max_new_tokens": tok_ans}
    rewrite = {"temperature": T, "top_p": 1.0, "max_new_tokens": tok_rw, "system": REWRITE_SYSTEM}
    n_rw = int(spec["n_rewrites"]) + int(spec["n_heldout"])

    def cut(xs, n):
        return list(xs[: max(1, math.ceil(rows / n))])

    return [
        {"call": "bank: rewrites (SFT prompter)", "xs": cut(train, n_rw), "n": n_rw, "adapter": "sft", **rewrite},
        {"call": "bank: answers to rewrites", "xs": cut([t if t.strip() else " " for t in rw.x_prime], 3),
         "n": int(spec["n_answers"]), "adapter": None, **pi_f},
        {"call": "bank: responses", "xs": cut(train, int(spec["n_responses"])), "n": int(spec["n_responses"]),
         "adapter": None, **{**pi_f, "temperature": T, "top_p": 1.0}},
        {"call": "eval: NoFT", "xs": cut(test, 8), "n": 8, "adapter": None, **pi_f},
        {"call": "eval: Align-Pro rewrites", "xs": cut(test, 8), "n": 8, "adapter": "alignpro", **rewrite},
        {"call": "eval: Align-Pro answers", "xs": cut(ap.x_prime.fillna(" ").tolist(), 1), "n": 1,
         "adapter": None, **pi_f},
        {"call": "eval: RLHF", "xs": cut(test, 8), "n": 8, "adapter": "rlhf",
         **{**pi_f, "temperature": T, "top_p": 1.0}},
    ]  # fmt: skip


def _rate(m: int, cfg, reps: int = 15) -> float:
    """FLOP/s of the model's own matrix products with ``m`` rows: ``F.linear`` of ``(m, in)``
    activations with ``(out, in)`` weights (the layout of ``nn.Linear``: faster than ``torch.mm`` on
    ``(in, out)`` at these sizes), for the attention, MLP and output shapes, best of ``reps``."""
    import torch.nn.functional as F

    h, i, v = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
    shapes = [(h, h), (h, i), (i, h), (h, v)]  # (in, out)
    mats = [(torch.randn(m, k), torch.randn(n, k)) for k, n in shapes]
    flops = sum(2 * m * k * n for k, n in shapes)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for a, w in mats:
            F.linear(a, w)
        best = min(best, time.perf_counter() - t0)
    return flops / best


class Rates:
    """Measured FLOP/s per row count, cached (rounded to a power of 2 above 64 rows)."""

    def __init__(self, cfg) -> None:
        self.cfg, self.cache = cfg, {}

    def __call__(self, m: int) -> float:
        m = max(1, int(m))
        if m > 64:
            m = 1 << round(math.log2(m))
        if m not in self.cache:
            self.cache[m] = _rate(min(m, 4096), self.cfg)
        return self.cache[m]


def _work(tok, call: dict, batch: int) -> tuple[int, int, int]:
    """(prompt tokens that must be prefilled, prefill rows per batch, rows) of a call."""
    ids = [tok(lm.chat_format(tok, x, call.get("system")), add_special_tokens=False)["input_ids"]
           for x in call["xs"]]  # fmt: skip
    distinct = list({tuple(r) for r in ids})
    s = lm.common_prefix(distinct) if len(distinct) > 1 else 0
    need = s + sum(len(r) - s for r in distinct)
    rows = len(call["xs"]) * call["n"]
    per_batch = need / max(1, math.ceil(rows / batch))
    return need, int(per_batch), rows


def _run(model, tok, call: dict, *, batch: int, new: bool) -> tuple[list, float]:
    kw = {k: call[k] for k in ("n", "temperature", "top_p", "max_new_tokens")}
    name = call["adapter"]
    if name is None:
        ctx = lora.use_adapter(model, None)
    else:
        ctx = lora.merged(model, name) if new else lora.use_adapter(model, name)
    t0 = time.perf_counter()
    with ctx, torch.no_grad():
        ids = lm.sample_ids(model, tok, call["xs"], system=call.get("system"), seed=5,
                            batch_size=batch, share_prefix=new, progress=False, **kw)  # fmt: skip
    return ids, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=128, help="rows per call (128)")
    ap.add_argument("--quick", action="store_true", help="64 rows per call")
    ap.add_argument("--batch", type=int, default=None, help="the new path's batch size")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = 64 if args.quick else args.rows
    new_batch = args.batch or lm.SAMPLE_BATCH
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load:.1f}")  # fmt: skip
    model, tok = lm.load_causal_lm(device="cpu")
    model = lora.load_lora(model, RUNS / "sft", "sft")
    model = lora.load_lora(model, RUNS / "alignpro-kindness" / "adapter", "alignpro")
    model = lora.load_lora(model, RUNS / "rlhf-kindness" / "adapter", "rlhf")
    with lora.use_adapter(model, None):
        lm.sample_ids(
            model, tok, ["Hello.", "Hi there."], max_new_tokens=4, progress=False
        )  # warm-up
    n_params = sum(p.numel() for n, p in model.named_parameters()
                   if p.dim() == 2 and "embed" not in n and "lora" not in n)  # fmt: skip
    cfg = model.config
    F = 2.0 * (n_params + cfg.vocab_size * cfg.hidden_size)  # matrix FLOPs per token
    rates = Rates(cfg)
    calls = _calls(rows)
    for call in calls:  # every rate the table needs, measured up front on a quiet machine
        for batch in (64, new_batch):
            need, per_batch, n_rows = _work(tok, call, batch)
            rates(per_batch), rates(min(batch, n_rows))
    print("measured matmul rate (F.linear, model shapes), GFLOP/s by rows: "
          + ", ".join(f"{m}: {r / 1e9:.1f}" for m, r in sorted(rates.cache.items())))  # fmt: skip
    print(f"{F / 1e9:.2f} GFLOP per token; rows per call ~{rows}; old path batch 64, new path "
          f"batch {new_batch}\n")  # fmt: skip
    head = (f"{'call':30s} {'rows':>4s} {'n':>3s} {'prompt tok':>10s} {'new tok':>7s} {'roof@64':>7s} "
            f"{'old tok/s':>9s} {'old/roof':>8s} {'roof@new':>8s} {'new tok/s':>9s} {'new/roof':>8s} "
            f"{'new/old':>7s} {'same':>5s}")  # fmt: skip
    print(head)
    tot = {"old": [0, 0.0, 0.0], "new": [0, 0.0, 0.0]}  # tokens, seconds, roofline seconds
    for call in calls:
        res = {}
        for path, batch in (("old", 64), ("new", new_batch)):
            ids, sec = _run(model, tok, call, batch=batch, new=path == "new")
            n_tok = sum(len(y) for row in ids for y in row)
            need, per_batch, n_rows = _work(tok, call, batch)
            roof_sec = need * F / rates(per_batch) + n_tok * F / rates(min(batch, n_rows))
            res[path] = (ids, n_tok, sec, roof_sec)
            tot[path][0] += n_tok
            tot[path][1] += sec
            tot[path][2] += roof_sec
        (io, no, so, ro), (inew, nn, sn, rn) = res["old"], res["new"]
        print(f"{call['call']:30s} {n_rows:>4d} {call['n']:>3d} {need:>10d} {no:>7d} {no / ro:>7.0f} "
              f"{no / so:>9.1f} {ro / so:>8.0%} {nn / rn:>8.0f} {nn / sn:>9.1f} {rn / sn:>8.0%} "
              f"{(nn / sn) / (no / so):>6.2f}x {str(io == inew):>5s}", flush=True)  # fmt: skip
    (to, so, ro), (tn, sn, rn) = tot["old"], tot["new"]
    print(f"{'all calls':30s} {'':>4s} {'':>3s} {'':>10s} {to:>7d} {to / ro:>7.0f} {to / so:>9.1f} "
          f"{ro / so:>8.0%} {tn / rn:>8.0f} {tn / sn:>9.1f} {rn / sn:>8.0%} "
          f"{(tn / sn) / (to / so):>6.2f}x")  # fmt: skip
    print(
        f"\nload average at the end {os.getloadavg()[0]:.1f}; target: new path >= 75 % of its roofline"
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
