"""Write the headroom tables of the three tasks (train split) and the preregistered λ and β.

    .venv/bin/python scripts/headroom.py            # writes data/headroom/*.csv

For each task, from the shipped TRAIN table (``data/tables/{task}_train*.json[l]``, 8 answers
of the frozen model per rewrite): the gain of every rewrite type over the original prompt,
Align-Pro's cross-fitted best case ``J(rho*) - J(original)`` (λ → 0 and the KL-calibrated λ),
and RLHF's room, best-of-n answers to the original prompt (n = 2, 4, 8), each with its standard
error over prompts (``alignpro_lite.llm.headroom``). Also the refusal rates per rewrite type
(harmlessness: wanted on harmful prompts, over-refusal on benign ones) and ``weights.csv``: λ and
β by the preregistered rule (mean KL of the tilted distribution = 1 nat on the train table).
Nothing here reads a test split.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from alignpro_lite.llm import headroom as H
from alignpro_lite.llm.tasks import TASKS


def weights(task: str) -> dict:
    """λ and β of ``task`` by the preregistered rule (train table only)."""
    r, _, allowed, _, _ = H.table_arrays(task, "train")
    lam, kl_lam, lim_lam = H.kl_calibrated_weight(np.nanmean(r, axis=2), allowed)
    answers = r[:, 0]  # (n_x, m): the frozen model's answers to the original prompt
    beta, kl_beta, lim_beta = H.kl_calibrated_weight(answers, np.ones_like(answers, dtype=bool))
    return {"task": task, "lam": lam, "kl_rho_star": kl_lam, "kl_limit_rho": lim_lam,
            "beta": beta, "kl_pi_star": kl_beta, "kl_limit_pi": lim_beta}  # fmt: skip


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for task in TASKS:
        w = weights(task)
        rows.append(w)
        r, types, allowed, _, _ = H.table_arrays(task, "train")
        t = H.headroom_table(r, types, allowed, lams=(0.0, w["lam"]), best_of=(2, 4, 8), task=task)
        t.to_csv(out / f"{task}.csv", index=False, float_format="%.6g")
        print(t.round(4).to_string(index=False), "\n")
    H.refusal_rates("harmlessness", "train").to_csv(
        out / "harmlessness_refusals.csv", index=False, float_format="%.6g"
    )
    w = pd.DataFrame(rows)
    w.to_csv(out / "weights.csv", index=False, float_format="%.6g")
    print(w.round(4).to_string(index=False))


if __name__ == "__main__":
    here = Path(__file__).resolve().parent.parent
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else here / "data" / "headroom")
