"""Serve MathJax 3 from the built site itself (no CDN): the combined ``tex-svg-full.js`` of the
``sphinx-mathjax-offline`` package (PyPI), plus the components it may load on demand.

SVG output needs no web fonts, so the math renders from ``file://`` as well as over HTTP.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

SCRIPT = "tex-svg-full.js"
ON_DEMAND = ("a11y", "ui", "input", "adaptors", "sre")  # the menu's components, loaded lazily


def mathjax_dir() -> Path:
    """The MathJax folder shipped by ``sphinx-mathjax-offline`` (a ValueError names the fix)."""
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "MathJax for the offline site is missing: pip install 'sphinx-mathjax-offline>=0.0.2' "
            "(the book extra: pip install -e '.[book]')"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def _copy(app, exc) -> None:
    if exc is not None or app.builder.format != "html":
        return
    src, dst = mathjax_dir(), Path(app.outdir) / "_static" / "mathjax"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / SCRIPT, dst / SCRIPT)
    for name in ON_DEMAND:
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name, dirs_exist_ok=True)


def setup(app):
    mathjax_dir()  # fail at start, not after the notebooks ran (conf.py sets mathjax_path)
    # MathJax on every page: the sidebar shows titles with math (notebook 07's) on pages that
    # have none of their own
    app.set_html_assets_policy("always")
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
