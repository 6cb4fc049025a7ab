"""The paper's published results, the yardstick round 2 is compared with.

``data/paper/results.csv``: Align-Pro's results figure (Trivedi et al., AAAI 2025, vol. 39 no. 26,
pp. 27653–27661; the figure as posted by the authors' lab): mean reward and reward variance of
NoFT, Align-Pro and RLHF for two prompters (P1, P2) × two frozen models (F1, F2) on three
datasets (UltraFeedback, Orca, HelpSteer), GPT-4 as the judge. The values are read off the
figure's bars against its axis ticks (±0.01); the paper gives no intervals and no seeds.
"""

from __future__ import annotations

import pandas as pd

from alignpro_lite.config import repo_root

__all__ = ["load_paper_results", "paper_cells"]


def load_paper_results() -> pd.DataFrame:
    """The figure's 36 bars: ``config, dataset, method, mean_reward, reward_variance``."""
    path = repo_root() / "data" / "paper" / "results.csv"
    df = pd.read_csv(path)
    need = {"config", "dataset", "method", "mean_reward", "reward_variance"}
    if not need <= set(df.columns) or len(df) != 36:
        raise ValueError(
            f"{path}: expected 36 rows with columns {sorted(need)}; restore it from git."
        )
    return df


def paper_cells() -> pd.DataFrame:
    """One row per (config, dataset): the three means, the gap closed
    ``(J_AP − J_NoFT) / (J_RLHF − J_NoFT)``, the shape ``NoFT < Align-Pro < RLHF`` and whether
    Align-Pro's (total) reward variance is below NoFT's."""
    df = load_paper_results()
    m = df.pivot_table(index=["config", "dataset"], columns="method", values="mean_reward")
    v = df.pivot_table(index=["config", "dataset"], columns="method", values="reward_variance")
    out = pd.DataFrame(
        {
            "noft": m["NoFT"],
            "align_pro": m["Align-Pro"],
            "rlhf": m["RLHF"],
            "gap_closed": (m["Align-Pro"] - m["NoFT"]) / (m["RLHF"] - m["NoFT"]),
            "shape_noft_ap_rlhf": (m["NoFT"] < m["Align-Pro"]) & (m["Align-Pro"] < m["RLHF"]),
            "ap_total_var_below_noft": v["Align-Pro"] < v["NoFT"],
        }
    )
    return out.reset_index()
