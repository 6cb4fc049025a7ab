"""Shared plot style: one look for every figure in the notebooks, CLI and README."""

from __future__ import annotations

import matplotlib as mpl

COLORS = {
    "rho_sft": "#9e9e9e",
    "rho_star": "#1f77b4",
    "reward": "#2ca02c",
    "noise": "#ff7f0e",
    "choice": "#9467bd",
    "kl": "#d62728",
    "objective": "#17becf",
    "NoFT": "#9e9e9e",
    "Align-Pro": "#1f77b4",
    "RLHF": "#d62728",
}


def set_style() -> None:
    """Readable defaults: labelled grids, larger fonts, tight layout, no clipping."""
    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "savefig.dpi": 120,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "figure.constrained_layout.use": True,
        }
    )
