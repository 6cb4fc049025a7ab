"""Sphinx configuration of the course website (``make book``; ``scripts/build_book.py``).

The source folder Sphinx reads is a staging copy made by ``scripts/build_book.py`` under
``build/``: this file, ``toc.md``, the README as ``index.md``, the notebooks, ``docs/``, the
capstone's preregistration and results, and the generated API pages. Everything is offline: the
notebooks run locally (cached by jupyter-cache), MathJax is served from the site itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

project = "alignpro-lite"
author = "alignpro-lite contributors"
copyright = "alignpro-lite contributors, MIT licence"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "offline_mathjax",  # _ext/: MathJax from the site itself, never a CDN
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "toc.md"]
# Not broken pages: a notebook's heading levels jumping, a code fence tagged with a made-up
# language (the preregistration's fingerprint blocks). Every other warning fails the build.
# ref.python: "more than one target found" for a builtin in a type hint (``cls: type`` matches
# every documented attribute named ``type``); the link still goes to one of them, no page breaks.
suppress_warnings = ["myst.header", "misc.highlighting_failure", "ref.python"]

mathjax_path = "mathjax/tex-svg-full.js"  # copied into _static/ by _ext/offline_mathjax.py

# ---------------------------------------------------------------- MyST and notebook execution
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 4  # the README's "#section" links resolve
myst_dmath_double_inline = True

nb_execution_mode = os.environ.get("BOOK_EXECUTION_MODE", "cache")
nb_execution_cache_path = os.environ.get("BOOK_CACHE", "")
nb_execution_timeout = int(os.environ.get("BOOK_CELL_TIMEOUT", "900"))
nb_execution_raise_on_error = True  # a cell error fails the build
nb_execution_show_tb = True
nb_output_stderr = "show"  # the build script fails on any error-looking output
nb_ipywidgets_js: dict = {}  # no widget JavaScript from a CDN: dashboards are static snapshots
nb_merge_streams = True

# ---------------------------------------------------------------- API reference
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields, not a second description of each member
add_module_names = False

# ---------------------------------------------------------------- HTML
html_theme = "sphinx_book_theme"
html_title = "alignpro-lite"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "navigation_with_keys": False,
    "launch_buttons": {},
}
html_context = {"default_mode": "light"}  # unset, the theme logs a console error on a first visit
html_last_updated_fmt = None
html_copy_source = True
html_show_sourcelink = False
# The search page fetches every hit to show a snippet, which a browser refuses from file:// (an
# error per hit): the hits are listed with their titles only, so the site opened as files works.
html_show_search_summary = False
