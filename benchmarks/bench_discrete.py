"""Speed of the exact λ sweep against its floor.

A sweep of 100 λ x 1,000 prompts x 64 candidates through ``optimal_prompter`` and every metric
(``sweep_metrics``: rho*, mean reward, both variance terms, KL, objective, λ log Z), compared
with a bare ``scipy.special.log_softmax`` over an array of the same shape — the floor for this
computation. Target: <= 3x the floor and < 0.5 s on 2 cores.

    python benchmarks/bench_discrete.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from scipy.special import log_softmax

import alignpro_lite as apl


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n-lam", type=int, default=100)
    ap.add_argument("--n-x", type=int, default=1000)
    ap.add_argument("--n-c", type=int, default=64)
    args = ap.parse_args()

    prob = apl.random_problem(args.n_x, args.n_c, 8, seed=0, zero_candidates=0.1)
    rho_sft, R, V, P = prob.rho_sft, prob.R, prob.V, prob.P
    lams = np.geomspace(1e-3, 1e2, args.n_lam)
    shape = (args.n_lam, args.n_x, args.n_c)
    logits = np.log(rho_sft + 1e-300)[None] + R[None] / lams[:, None, None]  # same-shape input

    t_floor = best_of(lambda: log_softmax(logits, axis=-1), args.repeats)
    t_ours = best_of(lambda: apl.sweep_metrics(rho_sft, R, lams, V, P), args.repeats)
    t_rho = best_of(lambda: apl.optimal_prompter(rho_sft, R, lams), args.repeats)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}"
    )
    print(f"shape (L, n_x, n_c) = {shape}, best of {args.repeats}")
    print(f"floor  scipy.special.log_softmax          : {t_floor * 1e3:8.1f} ms")
    print(
        f"ours   optimal_prompter (rho* only)       : {t_rho * 1e3:8.1f} ms  "
        f"({t_rho / t_floor:.2f}x floor)"
    )
    print(
        f"ours   sweep_metrics (rho* + all metrics) : {t_ours * 1e3:8.1f} ms  "
        f"({t_ours / t_floor:.2f}x floor)"
    )
    ok = t_ours <= 3 * t_floor and t_ours < 0.5
    print(f"target <= 3x floor and < 0.5 s: {'MET' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
