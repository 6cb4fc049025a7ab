"""One setup cell for every notebook: seeds, plot style, device, fast mode, paths.

``apl.setup()`` is the first call of each notebook (nbdev/fastbook habit). The single
fast-mode switch is the environment variable ``ALIGNPRO_FAST`` (``1`` = shrink the work,
as CI does); everything that can be long reads :func:`fast_mode`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FAST_ENV = "ALIGNPRO_FAST"
CACHE_ENV = "ALIGNPRO_CACHE"
DATA_ENV = "ALIGNPRO_DATA"


def fast_mode() -> bool:
    """True when ``ALIGNPRO_FAST`` is set to a truthy value (``1``, ``true``, ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def repo_root() -> Path:
    """The project folder (the parent of the ``alignpro_lite`` package)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder of the shipped data (``$ALIGNPRO_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get(DATA_ENV) or repo_root() / "data")


def cache_dir() -> Path:
    """User cache (``$ALIGNPRO_CACHE`` or ``~/.cache/alignpro-lite``), created on demand."""
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "alignpro-lite")
    path.mkdir(parents=True, exist_ok=True)
    return path


def get_device(device: str | None = None) -> str:
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"`` (never hard-coded)."""
    if device is not None:
        return device
    try:
        import torch
    except ImportError:  # the discrete notebooks do not need torch
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and (if installed) torch."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


def _one_torch_thread() -> None:
    """Fast mode (CI) runs torch on one thread: on a shared 2-core machine two torch threads
    fight each other, and one was measured 3-10x faster for this package's small models."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` decided; printed at the top of each notebook."""

    seed: int
    fast: bool
    device: str
    data: Path

    def __str__(self) -> str:  # one readable line under the setup cell
        mode = "FAST (CI-sized)" if self.fast else "full"
        return f"alignpro-lite | seed={self.seed} | mode={mode} | device={self.device} | data={self.data}"


def setup(seed: int = 0, *, plots: bool = True, device: str | None = None) -> Setup:
    """Seed everything, set the plot style, pick the device and report fast mode.

    Returns a :class:`Setup` so a notebook can branch on ``cfg.fast``.
    """
    seed_everything(seed)
    if fast_mode():
        _one_torch_thread()
    if plots:
        from alignpro_lite.plotting import set_style

        set_style()
    return Setup(seed=seed, fast=fast_mode(), device=get_device(device), data=data_dir())
