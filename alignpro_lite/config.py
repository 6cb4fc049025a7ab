"""Settings every layer shares: seeds, torch threads, device, fast mode, paths (no plotting).

``apl.setup()`` (this module's :func:`prepare` plus the plot style of :mod:`alignpro_lite.ui.plots`)
is the first call of each notebook (nbdev/fastbook habit). The single
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
STATIC_ENV = "ALIGNPRO_STATIC"
CACHE_ENV = "ALIGNPRO_CACHE"
DATA_ENV = "ALIGNPRO_DATA"


def fast_mode() -> bool:
    """True when ``ALIGNPRO_FAST`` is set to a truthy value (``1``, ``true``, ``yes``)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def static_mode() -> bool:
    """True when ``ALIGNPRO_STATIC`` is truthy: the λ dashboards show a static snapshot (their
    figure and readout, no ipywidgets), as the website built by ``make book`` does."""
    return os.environ.get(STATIC_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def repo_root() -> Path:
    """The project folder (the parent of the ``alignpro_lite`` package)."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder of the shipped data (``$ALIGNPRO_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get(DATA_ENV) or repo_root() / "data")


def cache_dir() -> Path:
    """User cache (``$ALIGNPRO_CACHE`` or ``~/.cache/alignpro-lite``), created on demand."""
    env = os.environ.get(CACHE_ENV)
    path = Path(env or Path.home() / ".cache" / "alignpro-lite")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        where = f"${CACHE_ENV}={env!r}" if env else str(path)
        raise ValueError(f"the cache folder {where} cannot be created ({err.strerror}); point "
                         f"{CACHE_ENV} at a folder you can write to.") from None  # fmt: skip
    return path


DEVICE_RE = r"(cpu|cuda(:\d+)?|mps)"


def check_device(device, flag: str = "device") -> str:
    """``device`` if it names a torch device this project runs on (``cpu``, ``cuda``,
    ``cuda:N``, ``mps``), else a ``ValueError`` naming ``flag`` — before any work is done."""
    import re

    if not isinstance(device, str) or not re.fullmatch(DEVICE_RE, device):
        raise ValueError(f"{flag} must be 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}.")
    return device


def get_device(device: str | None = None) -> str:
    """``device`` if given (checked: :func:`check_device`), else ``"cuda"`` when available, else
    ``"cpu"`` (never hard-coded)."""
    if device is not None:
        return check_device(device)
    try:
        import torch
    except ImportError:  # the discrete notebooks do not need torch
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and (if installed) torch; ``seed`` a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)


class threads:
    """``with threads(n):`` run torch on ``n`` threads (``None``: leave as is), restored after.

    The one place the package sets torch's thread count. On a busy 2-core machine one thread
    can be ~10x faster than two (threads spin-wait on each other); on an idle one, two are
    ~1.6x faster. Fast mode (CI) runs on one thread. Measure, then choose.
    """

    def __init__(self, n: int | None) -> None:
        if n is not None and (isinstance(n, bool) or int(n) != n or n < 1):
            raise ValueError(f"threads must be an integer >= 1 or None, got {n!r}.")
        self.n = None if n is None else int(n)

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        if self.n is not None:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def _fast_mode_threads() -> None:
    """Fast mode (CI) runs torch on one thread for the rest of the process (see :class:`threads`)."""
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


def prepare(seed: int = 0, *, device: str | None = None) -> Setup:
    """Seed everything, pick the device and apply fast mode (no plotting: see ``apl.setup``).

    Returns a :class:`Setup` so a notebook can branch on ``cfg.fast``.
    """
    seed_everything(seed)
    if fast_mode():
        _fast_mode_threads()
    return Setup(seed=seed, fast=fast_mode(), device=get_device(device), data=data_dir())


def lazy_package(package: str, submodules: tuple[str, ...], exports: dict[str, str] | None = None):
    """``(__getattr__, __dir__)`` for a sub-package whose modules need torch.

    ``apl.llm.lm`` imports ``alignpro_lite.llm.lm`` on first use, so ``import alignpro_lite``
    stays torch-free; ``exports`` maps a name to the submodule that defines it (``train_run`` →
    ``runs``). Every name shows in ``dir()`` and tab completion; an unknown name raises
    ``AttributeError`` like any module.
    """
    import importlib

    exports = dict(exports or {})

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        module = importlib.import_module(package)
        return sorted(set(vars(module)) | set(submodules) | set(exports))

    return __getattr__, __dir__
