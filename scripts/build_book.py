"""Build the course website (``make book``): Sphinx + MyST-NB + sphinx-book-theme, offline.

    python scripts/build_book.py [--out build/book] [--full]

1. Checks that every notebook in ``notebooks/`` is in the table of contents (``docs/book/toc.md``).
2. Stages the Sphinx source under ``build/book-work/<mode>/src``: ``docs/book/`` (conf.py, the
   local extension, CSS), the README as the landing page with the toc appended, the notebooks,
   ``docs/``, the capstone's preregistration, a results page made from ``runs/round2/report/`` and
   the README's results section, and one API page per subpackage (autodoc). Files are rewritten
   only when their bytes change, so an unchanged rebuild is incremental.
3. Runs ``sphinx-build -W --keep-going`` with ``ALIGNPRO_STATIC=1`` (the λ dashboards render as
   snapshots), ``ALIGNPRO_FAST=1`` unless ``--full``, and jupyter-cache under
   ``build/book-cache/<mode>``: a cell error, a missing reference or image, any warning fails.
4. Reads back the executed notebooks and fails on any error output (a traceback printed rather
   than raised, an ``…Error:`` line) or a raw widget repr; then copies the site to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout; the notebook tests' checks

BOOK = ROOT / "docs" / "book"
TOC = BOOK / "toc.md"
SUBPACKAGES = ("exact", "llm", "learn", "experiment", "ui", "exercises")
TOP_MODULES = ("config", "atomic", "cli")
# What a page must never show in place of a dashboard: ipywidgets' plain-text reprs.
WIDGET_REPR = re.compile(r"\b(VBox|HBox|interactive|FloatLogSlider|SelectionSlider)\(")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class BookError(RuntimeError):
    """The site cannot be built as it stands (the message says what to fix)."""


# --------------------------------------------------------------------------- the toc
def toc_entries(toc: Path = TOC) -> list[str]:
    """The documents listed in the toctrees of ``toc`` (e.g. ``notebooks/01_closed_form``)."""
    out, inside = [], False
    for line in toc.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if s.startswith("```{toctree}"):
            inside = True
        elif inside and s.startswith("```"):
            inside = False
        elif inside and s and not s.startswith(":"):
            out.append(s)
    return out


def check_toc(notebooks: Path = ROOT / "notebooks", toc: Path = TOC) -> None:
    """Fail when a notebook of ``notebooks`` is not in ``toc`` (or the toc names a missing one)."""
    listed = {e for e in toc_entries(toc) if e.startswith("notebooks/")}
    have = {f"notebooks/{p.stem}" for p in notebooks.glob("*.ipynb")}
    missing, gone = sorted(have - listed), sorted(listed - have)
    if missing or gone:
        raise BookError(
            f"{toc.relative_to(ROOT) if toc.is_relative_to(ROOT) else toc}: "
            + (f"notebooks not in the table of contents: {', '.join(missing)}. " if missing else "")
            + (f"listed but not in notebooks/: {', '.join(gone)}." if gone else "")
        )


# --------------------------------------------------------------------------- staging
def _put(dst: Path, data: bytes, staged: set[Path]) -> None:
    """Write ``data`` to ``dst`` unless it already holds exactly that (keeps its mtime)."""
    staged.add(dst)
    if dst.is_file() and dst.read_bytes() == data:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)


def _put_tree(src: Path, dst: Path, staged: set[Path]) -> None:
    for f in sorted(src.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            _put(dst / f.relative_to(src), f.read_bytes(), staged)


def _md_table(rows: list[dict], columns: list[str]) -> str:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |\n"
                          for r in rows)  # fmt: skip


def _readme_section(title_start: str, text: str) -> str:
    """The README's ``## <title_start>…`` section, up to the next ``## `` heading."""
    m = re.search(rf"^## {re.escape(title_start)}.*?(?=^## )", text, re.S | re.M)
    if not m:
        raise BookError(f"README.md has no '## {title_start}' section for the results page")
    return m.group(0)


def results_page(root: Path = ROOT) -> str:
    """The capstone's results: round 2's targets and gap tables, then the README's results."""
    rep = root / "runs" / "round2" / "report"

    def rows(name: str) -> list[dict]:
        with open(rep / name, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    def fmt(v: str) -> str:
        try:
            return f"{float(v):+.3f}" if v not in ("", None) else ""
        except ValueError:
            return v

    gap = [{k: (fmt(v) if k not in ("task", "status", "seeds") else v) for k, v in r.items()}
           for r in rows("gap.csv")]  # fmt: skip
    readme = (root / "README.md").read_text(encoding="utf-8")
    return (
        "# Capstone results (round 2)\n\n"
        "Round 2 was preregistered in [the preregistration](runs/PREREGISTRATION.md) before any of "
        "its test numbers existed; [notebook 08](notebooks/08_align_pro_vs_rlhf.ipynb) reads the "
        "same report (`runs/round2/report/`, three seeds pooled) and shows every figure.\n\n"
        "## The preregistered targets, expected and observed\n\n"
        "From `runs/round2/report/targets.csv`.\n\n"
        + _md_table(rows("targets.csv"), ["target", "task", "what", "expected", "observed", "met"])
        + "\n## How much of RLHF's gain Align-Pro closes\n\n"
        "From `runs/round2/report/gap.csv` (rewards in reward units, pooled over the seeds).\n\n"
        + _md_table(
            gap,
            [
                "task",
                "ap_minus_noft",
                "rlhf_minus_noft",
                "seeds",
                "gap_closed",
                "ci_low",
                "ci_high",
                "status",
            ],
        )  # fmt: skip
        + "\n"
        + _readme_section("Results", readme).replace("## Results", "## The write-up:", 1)
    )


def api_pages() -> dict[str, str]:
    """``api/<name>.md`` -> its text: one page per subpackage, one per top-level module."""
    import pkgutil

    import alignpro_lite

    pages = {}
    for sub in SUBPACKAGES:
        pkg = __import__(f"alignpro_lite.{sub}", fromlist=["_"])
        mods = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.ispkg)
        body = f".. automodule:: alignpro_lite.{sub}\n   :no-members:\n\n" + "".join(
            f".. automodule:: alignpro_lite.{sub}.{m}\n\n" for m in mods
        )
        pages[sub] = f"# `alignpro_lite.{sub}`\n\n```{{eval-rst}}\n{body}```\n"
    body = "".join(f".. automodule:: alignpro_lite.{m}\n\n" for m in TOP_MODULES)
    pages["core"] = (
        "# `config`, `atomic`, `cli`\n\nThe floor every layer stands on, and the command line.\n\n"
        f"```{{eval-rst}}\n{body}```\n"
    )
    names = [*SUBPACKAGES, "core"]
    pages["index"] = (
        "# API reference\n\nGenerated from the package's docstrings. The layers follow the course: "
        "`exact` ← `llm` ← `learn` ← `experiment` ← `cli`; `ui` draws beside them.\n\n"
        "```{eval-rst}\n.. automodule:: alignpro_lite\n   :no-members:\n```\n\n"
        "```{toctree}\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n"
    )
    assert alignpro_lite
    return pages


def stage(src: Path, root: Path = ROOT) -> None:
    """Write the Sphinx source folder ``src`` (stale files removed, unchanged ones untouched)."""
    staged: set[Path] = set()
    for f in BOOK.rglob("*"):
        if f.is_file() and f.name != "toc.md" and "__pycache__" not in f.parts:
            _put(src / f.relative_to(BOOK), f.read_bytes(), staged)
    readme = (root / "README.md").read_text(encoding="utf-8")
    _put(src / "index.md", (readme.rstrip() + "\n\n" + TOC.read_text("utf-8")).encode(), staged)
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        _put(src / "notebooks" / nb.name, nb.read_bytes(), staged)
    for md in sorted((root / "docs").glob("*.md")):
        _put(src / "docs" / md.name, md.read_bytes(), staged)
    _put_tree(root / "docs" / "img", src / "docs" / "img", staged)
    _put(
        src / "runs" / "PREREGISTRATION.md", (root / "runs/PREREGISTRATION.md").read_bytes(), staged
    )
    power = root / "runs" / "round2" / "power"
    for f in sorted(power.iterdir()):
        if f.suffix in {".png", ".svg"}:
            _put(src / "runs/round2/power" / f.name, f.read_bytes(), staged)
    # its first heading is an H2 (it reads as a section on GitHub): the page's title here
    text = re.sub(r"\A## ", "# ", (power / "README.md").read_text(encoding="utf-8"))
    _put(src / "runs/round2/power/README.md", text.encode(), staged)
    for f in sorted((root / "runs" / "report").glob("*.png")):
        _put(src / "runs/report" / f.name, f.read_bytes(), staged)
    _put(src / "results.md", results_page(root).encode(), staged)
    for name, text in api_pages().items():
        _put(src / "api" / f"{name}.md", text.encode(), staged)
    for f in sorted(src.rglob("*"), reverse=True):
        if f.is_file() and f not in staged:
            f.unlink()


# --------------------------------------------------------------------------- checks
def notebook_problems(executed: Path) -> list[str]:
    """Error outputs and raw widget reprs in the executed notebooks under ``executed``."""
    import nbformat
    from notebook_runner import error_outputs

    problems = []
    for path in sorted(executed.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for o in error_outputs(nb):
            text = o.get("ename", "") or str(o.get("text", ""))[:200]
            problems.append(f"{path.name}: error output: {text.strip()[:200]}")
        for cell in nb.cells:
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if WIDGET_MIME in data or WIDGET_REPR.search(str(data.get("text/plain", ""))):
                    problems.append(f"{path.name}: a raw widget output instead of a snapshot: "
                                    f"{str(data.get('text/plain', ''))[:80]!r}")  # fmt: skip
    return problems


def run_sphinx(src: Path, html: Path, doctrees: Path, env: dict) -> None:
    """``sphinx-build -W --keep-going``: any warning (missing reference, image, cell error) fails."""
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
           "-d", str(doctrees), str(src), str(html)]  # fmt: skip
    if subprocess.run(cmd, env=env).returncode != 0:
        raise BookError("sphinx-build failed: see the warnings above (every warning is fatal)")


def build_env(full: bool, cache: Path) -> dict:
    env = dict(os.environ)
    # no progress bars on a static page (tqdm.auto would leave a widget, transformers its own)
    env.update(TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env.update(ALIGNPRO_STATIC="1", ALIGNPRO_FAST="0" if full else "1", BOOK_CACHE=str(cache),
               HF_HUB_OFFLINE=env.get("HF_HUB_OFFLINE", "1"),
               TRANSFORMERS_OFFLINE=env.get("TRANSFORMERS_OFFLINE", "1"),
               PYTHONHASHSEED=env.get("PYTHONHASHSEED", "0"))  # fmt: skip
    # the kernels import this checkout's package, whatever the environment has installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def publish(html: Path, out: Path) -> None:
    """Replace ``out`` with the built site (only ever a folder a previous build wrote)."""
    out = out.resolve()
    if out == ROOT or out in ROOT.parents or ROOT.is_relative_to(out):
        raise BookError(f"--out {out} would replace the project itself")
    if out.exists():
        if any(out.iterdir()) and not (out / ".buildinfo").is_file():
            raise BookError(f"--out {out} exists and is not a site built here: remove it yourself")
        shutil.rmtree(out)
    shutil.copytree(html, out)


def inputs_digest(root: Path = ROOT) -> str:
    """A digest of what the notebooks' outputs depend on besides their own code (which
    jupyter-cache keys on): the package, the shipped data and runs, and this builder."""
    h = hashlib.sha256()
    files = [*sorted((root / "alignpro_lite").rglob("*.py")), Path(__file__).resolve()]
    for top in ("data", "runs"):
        files += sorted(f for f in (root / top).rglob("*")
                        if f.is_file() and "eval" not in f.relative_to(root / top).parts[:1])  # fmt: skip
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() if f.is_relative_to(root) else b"")
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cache_dir(mode: str, root: Path = ROOT) -> Path:
    """``build/book-cache/<mode>-<digest>``: a package or data change re-executes the notebooks;
    the caches of older inputs are removed."""
    base = root / "build" / "book-cache"
    cache = base / f"{mode}-{inputs_digest(root)}"
    for old in base.glob(f"{mode}-*"):
        if old != cache:
            shutil.rmtree(old, ignore_errors=True)
    return cache


def build(out: Path, full: bool = False, work: Path | None = None) -> Path:
    """Build the site into ``out``; returns ``out/index.html``."""
    mode = "full" if full else "fast"
    work = work or ROOT / "build" / "book-work" / mode
    cache = cache_dir(mode)
    t0 = time.monotonic()
    check_toc()
    stage(work / "src")
    t1 = time.monotonic()
    run_sphinx(work / "src", work / "html", work / "doctrees", build_env(full, cache))
    t2 = time.monotonic()
    problems = notebook_problems(work / "jupyter_execute")
    if problems:
        raise BookError("the executed notebooks show errors:\n  " + "\n  ".join(problems))
    publish(work / "html", out)
    print(f"book ({mode} mode): {out / 'index.html'}  [stage {t1 - t0:.1f} s, sphinx "
          f"{t2 - t1:.1f} s, checks+copy {time.monotonic() - t2:.1f} s]")  # fmt: skip
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "book")
    ap.add_argument("--full", action="store_true", help="run the notebooks in full mode")
    args = ap.parse_args(argv)
    try:
        build(args.out, full=args.full)
    except BookError as err:
        print(f"make book: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
