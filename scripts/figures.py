"""Regenerate the README's static figures of notebook 02 (no browser needed).

    python scripts/figures.py --out docs/img        # or: make figures

Writes ``frontier.png`` (the reward–KL frontier of Align-Pro, RLHF and best-of-n on the teaching
instance, with the tangent of slope λ = 0.1) and ``reachable.png`` (the convex hull of the
prompted policies on the 3-response instance), with the same package calls as notebook 02.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import alignpro_lite as apl  # noqa: E402


def frontier_figure():
    p = apl.teaching_problem()
    lams = np.sort(np.append(np.geomspace(1e-3, 1e2, 60), 0.1))
    fr = apl.exact.frontier
    frontiers = {
        "Align-Pro": fr.alignpro_frontier(p.rho_sft, p.R, lams, p.P),
        "RLHF": fr.rlhf_frontier(p.pi_ref, p.r, lams, p.P),
        "best-of-n": fr.best_of_n_frontier(p.pi_ref, p.r, [1, 2, 3, 4, 6, 8, 12, 16, 32, 64], p.P),
    }
    fig, ax = plt.subplots(figsize=(8, 4.6))
    apl.ui.plots.plot_frontier(ax, frontiers, lam_tangent=0.1)
    return fig


def reachable_figure():
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    apl.ui.plots.plot_reachable_simplex(ax, apl.exact.reachable.three_response_problem(), x=0)
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    apl.ui.plots.set_style()
    for name, make in (("frontier.png", frontier_figure), ("reachable.png", reachable_figure)):
        fig = make()
        fig.savefig(out / name)
        plt.close(fig)
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
