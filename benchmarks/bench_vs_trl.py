"""Our RLHF loop vs TRL's RLOOTrainer at EQUAL WALL-CLOCK: eval reward after the same training time.

    pip install -e ".[bench]"            # TRL is a benchmark-only extra
    python benchmarks/bench_vs_trl.py                       # 450 s each, seeds 0,1,2 (~35 min)
    python benchmarks/bench_vs_trl.py --budget 120 --seeds 0 --out /tmp/vs-trl   # a quick look

The question a user choosing between the two loops asks: after the same minutes of training, whose
model is better? Per seed, both loops train side by side (two processes started together, one torch
thread each, so both see the same machine load) for the same wall-clock budget, counted from the
first training step; neither starts a step it expects to finish after the budget (expected = the
mean of its own steps so far). Then each evaluates its model, and a first process evaluates the
untrained model.

Same model (embedded SmolLM2-135M-Instruct, LoRA r=8 on q_proj/v_proj, alpha 16), same prompts
(kindness TRAIN prompts), same reward (VADER kindness), same batch (3 prompts x 4 completions),
same generation (32 new tokens, temperature 0.7, top_p 1), same KL weight beta = 0.05 to the
frozen model: the defaults of ``RunConfig`` (read at run time). The algorithm is the same on both
sides, checked against TRL 1.16's source: a sequence-level KL penalty from the sampled log-ratio
(``r - beta * sum_t [log pi(y_t) - log pi_ref(y_t)]``, both at temperature 0.7), the leave-one-out
baseline, no advantage normalisation (TRL's ``normalize_advantages`` defaults to False), the
mean over sequences of ``A * grad log pi`` (TRL's PPO ratio is 1 with one update per generation,
so its clip never acts), gradient norm clipped at 1, Adam(W) with weight decay 0 (= Adam), constant
learning rate 5e-4, no warm-up. What differs is engineering: we sample with the adapter merged
and a preallocated KV cache (one prefill per prompt for its k answers) and reuse the sampling
pass's prompt cache for the log-probs; TRL samples with ``model.generate`` through the unmerged
LoRA and runs extra forward passes for the old and reference log-probs.

Eval (identical for every model): ``--eval-n`` answers to each of the 60 kindness TEST prompts with
:func:`alignpro_lite.llm.lm.generate` (seed 7: answer k to prompt x draws the same random stream in
every model — common random numbers), scored by the same reward; per prompt the mean of its answers.
Differences are paired by prompt; the pooled result treats seeds as blocks (the t interval over the
per-seed mean differences, which includes seed-to-seed variation).

Results land in ``--out`` (one JSON per process, so a stopped run resumes where it stopped) with
``reward_vs_time.png``. Printed: a table per seed and the pooled comparison.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _defaults():
    """The RLHF baseline's defaults (the shipped full run's configuration)."""
    from alignpro_lite.experiment.runs import RunConfig

    d = RunConfig(method="rlhf", task="kindness")
    return d.batch_size, d.k, d.answer_tokens, d.temperature, d.lr, d.beta, d.lora_r


BATCH, K, TOKENS, TEMP, LR, BETA, R = _defaults()


def _eval_rewards(model, tok, n: int) -> list[float]:
    """Per test prompt, the mean reward of its ``n`` answers (common random numbers, seed 7)."""
    import numpy as np
    import torch

    from alignpro_lite.llm.lm import generate
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import load_task

    xs = [p.prompt for p in load_task("kindness", "test")]
    with torch.no_grad():
        ys = generate(model, tok, xs, n=n, max_new_tokens=TOKENS, temperature=TEMP, top_p=1.0,
                      seed=7, batch_size=64, progress=False)  # fmt: skip
    flat_x = [x for x in xs for _ in range(n)]
    r = np.asarray(get_reward("kindness")(flat_x, [y for row in ys for y in row]), dtype=float)
    return r.reshape(len(xs), n).mean(1).tolist()


class _Budget:
    """The stop rule both loops share: do not start a step expected to end after ``budget``
    seconds (expected = elapsed + the mean of the steps so far); always run one step."""

    def __init__(self, budget: float) -> None:
        self.budget = float(budget)
        self.t0 = time.perf_counter()
        self.ends: list[float] = []  # elapsed seconds at the end of each step

    def step_done(self) -> bool:
        """Record a finished step; True when the next one should not start."""
        now = time.perf_counter() - self.t0
        self.ends.append(now)
        return now + now / len(self.ends) > self.budget


class _OutOfTime(Exception):
    pass


def run_ours(budget: float, seed: int, eval_n: int) -> dict:
    import torch

    from alignpro_lite.experiment.runs import RunConfig, build_run
    from alignpro_lite.learn.train import train
    from alignpro_lite.llm.lm import load_causal_lm
    from alignpro_lite.llm.tasks import load_task

    model, tok = load_causal_lm()
    cfg = RunConfig(method="rlhf", task="kindness", beta=BETA, steps=10_000, batch_size=BATCH, k=K,
                    lr=LR, answer_tokens=TOKENS, temperature=TEMP, lora_r=R)  # fmt: skip
    torch.manual_seed(seed)
    policy, env, model = build_run(cfg, "/tmp/unused", model, tok)
    data = [p.prompt for p in load_task("kindness", "train")]
    rewards: list[float] = []
    clock = _Budget(budget)

    def callback(step: int, row: dict) -> None:
        rewards.append(float(row["reward_mean"]))
        if clock.step_done():
            raise _OutOfTime

    clock.t0 = time.perf_counter()
    try:
        train(policy, env, data, lam=BETA, steps=10_000, lr=LR, k=K, batch_size=BATCH,
              max_grad_norm=1.0, seed=seed, callback=callback, progress=False)  # fmt: skip
    except _OutOfTime:
        pass
    return {"impl": "alignpro-lite", "ends": clock.ends, "rewards": rewards,
            "eval": _eval_rewards(model, tok, eval_n)}  # fmt: skip


def run_trl(budget: float, seed: int, eval_n: int) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import RLOOConfig, RLOOTrainer

    from alignpro_lite.llm.lm import load_causal_lm
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import load_task

    model, tok = load_causal_lm()
    reward = get_reward("kindness")
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
        max_grad_norm=1.0, max_steps=10_000, logging_steps=1, save_strategy="no",
        report_to="none", seed=seed, disable_tqdm=True,
    )  # fmt: skip
    clock = _Budget(budget)

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            clock.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if clock.step_done():
                control.should_training_stop = True

    peft = LoraConfig(r=R, lora_alpha=2 * R, target_modules=["q_proj", "v_proj"], lora_dropout=0.0,
                      task_type="CAUSAL_LM")  # fmt: skip
    trainer = RLOOTrainer(model=model, reward_funcs=kindness, args=args, train_dataset=ds,
                          processing_class=tok, peft_config=peft, callbacks=[Clock()])  # fmt: skip
    trainer.train()
    rewards = [h["reward"] for h in trainer.state.log_history if "reward" in h]
    trained = trainer.model.eval()
    return {"impl": "trl-" + __import__("trl").__version__ + " RLOOTrainer", "ends": clock.ends,
            "rewards": rewards, "eval": _eval_rewards(trained, tok, eval_n)}  # fmt: skip


def run_base(eval_n: int) -> dict:
    from alignpro_lite.llm.lm import load_causal_lm

    model, tok = load_causal_lm()
    return {
        "impl": "untrained",
        "ends": [],
        "rewards": [],
        "eval": _eval_rewards(model, tok, eval_n),
    }


def child(which: str, budget: float, threads: int, seed: int, eval_n: int, path: Path) -> None:
    import torch

    torch.set_num_threads(threads)
    if which == "base":
        out = run_base(eval_n)
    else:
        out = (run_ours if which == "ours" else run_trl)(budget, seed, eval_n)
    out.update(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               threads=torch.get_num_threads(), seed=seed, budget=budget, eval_n=eval_n,
               load_average=os.getloadavg()[0])  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out), encoding="utf-8")
    os.replace(tmp, path)


def _spawn(which: str, args, seed: int, path: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, __file__, "--child", which, "--budget", str(args.budget),
           "--threads", str(args.threads), "--seed", str(seed), "--eval-n", str(args.eval_n),
           "--result", str(path)]  # fmt: skip
    log = open(path.with_suffix(".log"), "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def _wait(procs: dict) -> None:
    for which, (p, path) in procs.items():
        if p.wait() != 0 or not path.exists():
            tail = path.with_suffix(".log").read_text(errors="replace")[-3000:]
            raise SystemExit(
                f"{which} failed (exit {p.returncode}); log {path.with_suffix('.log')}:\n{tail}"
            )


def _t_ci(xs: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t interval."""
    from scipy import stats

    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan"), float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return m, m - h, m + h


def _running(r: dict, w: int = 5) -> list[float]:
    """The training batch reward's ``w``-step running mean."""
    x = r["rewards"]
    return [
        sum(x[max(0, t - w + 1) : t + 1]) / len(x[max(0, t - w + 1) : t + 1]) for t in range(len(x))
    ]


def _plot(results: dict, base: float, path: Path) -> None:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    colours = {"ours": "tab:blue", "trl": "tab:orange"}
    for which, runs in results.items():
        name = "alignpro-lite" if which == "ours" else runs[0]["impl"]
        grid = np.linspace(max(r["ends"][0] for r in runs), min(r["ends"][-1] for r in runs), 60)
        for r in runs:
            ax.plot(r["ends"], _running(r), color=colours[which], alpha=0.25, lw=1)
        mean = np.mean([np.interp(grid, r["ends"], _running(r)) for r in runs], axis=0)
        ax.plot(grid, mean, color=colours[which], lw=2.5,
                label=f"{name}: training reward, mean of {len(runs)} seeds")  # fmt: skip
        for j, r in enumerate(runs):
            ax.errorbar([r["ends"][-1] + 6 * (j - 1)], [r["eval_mean"]],
                        yerr=[[r["eval_mean"] - r["eval_lo"]], [r["eval_hi"] - r["eval_mean"]]],
                        fmt="o", color=colours[which], capsize=3, ms=5,
                        label=None if j else f"{name}: test eval at the budget (95 % CI)")  # fmt: skip
    ax.axhline(base, color="grey", ls=":", label=f"untrained model, test eval {base:.3f}")
    ax.set_xlabel("training wall-clock (s); both loops side by side, 1 thread each")
    ax.set_ylabel("kindness reward (VADER compound)")
    ax.set_title("Reward vs wall-clock (thin lines: each seed's 5-step running mean)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--budget", type=float, default=450.0,
                    help="training seconds per loop (450 = TRL's 20-step time in the earlier run)")  # fmt: skip
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (0,1,2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each process (1)")
    ap.add_argument("--eval-n", type=int, default=4, help="answers per test prompt in the eval (4)")
    ap.add_argument("--out", default="build/bench_vs_trl", help="results folder (resumes)")
    ap.add_argument("--child", choices=["ours", "trl", "base"], help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.budget, args.threads, args.seed, args.eval_n, Path(args.result))
        return
    if args.budget <= 0 or args.threads < 1 or args.eval_n < 1:
        raise SystemExit("--budget must be > 0, --threads and --eval-n >= 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(v) for v in args.seeds.split(",")]
    tag = f"b{args.budget:g}_n{args.eval_n}_t{args.threads}"
    base_path = out / f"base_n{args.eval_n}.json"
    if not base_path.exists():
        print("evaluating the untrained model ...", flush=True)
        _wait({"base": (_spawn("base", args, 0, base_path), base_path)})
    base = json.loads(base_path.read_text())
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    for seed in seeds:
        paths = {w: out / f"{w}_seed{seed}_{tag}.json" for w in results}
        todo = {w: (_spawn(w, args, seed, p), p) for w, p in paths.items() if not p.exists()}
        if todo:
            print(f"seed {seed}: training {' and '.join(todo)} side by side for {args.budget:g} s ...",
                  flush=True)  # fmt: skip
            _wait(todo)
        for w, p in paths.items():
            r = json.loads(p.read_text())
            r["eval_mean"], r["eval_lo"], r["eval_hi"] = _t_ci(r["eval"])
            results[w].append(r)
    b_mean, b_lo, b_hi = _t_ci(base["eval"])
    print(f"\nkindness, budget {args.budget:g} s of training per loop, {args.threads} thread each, side by "
          f"side; eval: 60 test prompts x {args.eval_n} answers (CRN), 95 % t intervals over prompts")  # fmt: skip
    print(f"untrained model: eval {b_mean:.3f} [{b_lo:.3f}, {b_hi:.3f}]")
    head = f"{'loop':26s} {'seed':>4s} {'steps':>5s} {'s/step':>6s} {'train s':>7s} {'RSS MB':>6s} {'load':>4s}"
    print(f"{head} {'batch reward 1st->last5':>23s} {'eval [95% CI]':>22s}")
    for runs in results.values():
        for r in runs:
            n = len(r["ends"])
            curve = f"{r['rewards'][0]:.3f}->{sum(r['rewards'][-5:]) / len(r['rewards'][-5:]):.3f}"
            ev = f"{r['eval_mean']:.3f} [{r['eval_lo']:.3f}, {r['eval_hi']:.3f}]"
            print(f"{r['impl'][:26]:26s} {r['seed']:>4d} {n:>5d} {r['ends'][-1] / n:>6.1f} "
                  f"{r['ends'][-1]:>7.0f} {r['peak_rss_mb']:>6.0f} {r['load_average']:>4.1f} "
                  f"{curve:>23s} {ev:>22s}")  # fmt: skip
    print("\npaired by prompt, ours - TRL at equal time:")
    seed_means = []
    for o, t in zip(results["ours"], results["trl"], strict=True):
        d = [a - b for a, b in zip(o["eval"], t["eval"], strict=True)]
        m, lo, hi = _t_ci(d)
        seed_means.append(m)
        steps = f"{len(o['ends'])} vs {len(t['ends'])} steps"
        print(f"  seed {o['seed']}: {m:+.3f} [{lo:+.3f}, {hi:+.3f}]  ({steps})")
    if len(seed_means) > 1:
        m, lo, hi = _t_ci(seed_means)
        print(
            f"  pooled, seeds as blocks (t over {len(seed_means)} seed means): {m:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        )
        n_p = len(results["ours"][0]["eval"])
        by_prompt = [
            sum(
                o["eval"][i] - t["eval"][i]
                for o, t in zip(results["ours"], results["trl"], strict=True)
            )
            / len(seed_means)
            for i in range(n_p)
        ]
        m, lo, hi = _t_ci(by_prompt)
        print(f"  pooled over prompts (each prompt's mean over seeds; leaves out seed-to-seed "
              f"variation): {m:+.3f} [{lo:+.3f}, {hi:+.3f}]")  # fmt: skip
    for w in results:
        gains = [r["eval_mean"] - b_mean for r in results[w]]
        m, lo, hi = _t_ci(gains) if len(gains) > 1 else (gains[0], float("nan"), float("nan"))
        print(f"  {w} - untrained: {m:+.3f} [{lo:+.3f}, {hi:+.3f}] (t over seeds)")
    sps = {
        w: sum(r["ends"][-1] / len(r["ends"]) for r in runs) / len(runs)
        for w, runs in results.items()
    }
    print(f"\nseconds per step, ours / TRL (side by side): {sps['ours'] / sps['trl']:.2f}")
    _plot(results, b_mean, out / "reward_vs_time.png")
    print(f"plot: {out / 'reward_vs_time.png'}")


if __name__ == "__main__":
    main()
