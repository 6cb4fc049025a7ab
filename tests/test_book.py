"""The course as a website (``make book``): built in fast mode, then read page by page in Chromium.

The build (``scripts/build_book.py``, cached by jupyter-cache, so a second run is quick) must pass
its own checks: every warning fatal, no error output, every notebook in the toc. Then Debian's
Chromium opens every page from ``file://`` with every other request aborted (offline, proven):
no console error, every image decoded with a non-zero size, the math typeset by MathJax, search
finding ``rho_sft``, every internal link landing on a file and an anchor that exist. Canaries show
that each check can fail. Screenshots of the landing page and of notebook 02's frontier go to
``build/book-shots/`` (``$BOOK_SHOTS=docs/img`` refreshes the README's copies).

Run:   .venv/bin/pytest -m book tests/test_book.py -s
Needs: the book extra (``pip install -e '.[book]'``); for the browser part Debian's Chromium
(``make browser``) and playwright (dev extra).
"""

from __future__ import annotations

import html
import os
import re
import sys
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from jupyter_harness import launch_chromium, missing_requirements

from alignpro_lite.config import repo_root

ROOT = repo_root()
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402

SITE = ROOT / "build" / "book"
# Screenshots land in build/book-shots/ (a test never rewrites tracked files); the copies in
# docs/img/ were taken with BOOK_SHOTS=docs/img.
IMG = Path(os.environ.get("BOOK_SHOTS") or ROOT / "build" / "book-shots")
MISSING_BROWSER = missing_requirements()
try:
    import myst_nb  # noqa: F401
    import sphinx_book_theme  # noqa: F401

    MISSING_BOOK = None
except ImportError as exc:
    MISSING_BOOK = f"the book extra is not installed ({exc}): pip install -e '.[book]'"

pytestmark = [
    pytest.mark.book,
    pytest.mark.timeout(900),
    pytest.mark.skipif(MISSING_BOOK is not None, reason=f"book test skipped: {MISSING_BOOK}"),
]
needs_browser = pytest.mark.skipif(
    MISSING_BROWSER is not None, reason=f"browser test skipped: {MISSING_BROWSER}"
)

# Waits for MathJax (when the page loads it) and every <img> to decode, then reports the page.
PAGE_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return {
    images: imgs.map(i => ({src: i.getAttribute('src'), w: i.naturalWidth, h: i.naturalHeight})),
    math_source: document.querySelectorAll('.math, span.math, div.math').length,
    mjx: document.querySelectorAll('mjx-container').length,
    mjx_article: document.querySelectorAll('article mjx-container').length,
    mjx_errors: document.querySelectorAll('mjx-merror').length,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    text: document.body.innerText,
  };
}"""
RAW_WIDGET = re.compile(r"\b(VBox|HBox|interactive|FloatLogSlider)\(|Error displaying widget")


# --------------------------------------------------------------------------- the build
@pytest.fixture(scope="module")
def site() -> Path:
    """The site built in fast mode into build/book (the notebooks' outputs cached)."""
    build_book.build(SITE, full=False)
    return SITE


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


def test_the_build_has_every_page(site: Path):
    pages = {p.relative_to(site).as_posix() for p in _pages(site)}
    wanted = {"index.html", "results.html", "search.html", "docs/NOTATION.html",
              "docs/INSTRUCTOR.html", "runs/PREREGISTRATION.html", "api/index.html",
              "api/exact.html"}  # fmt: skip
    wanted |= {f"notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert wanted <= pages, f"missing pages: {sorted(wanted - pages)}"
    nb02 = (site / "notebooks" / "02_tradeoffs_and_bound.html").read_text(encoding="utf-8")
    assert "A static snapshot" in nb02, "notebook 02's dashboard is not shown as a snapshot"
    assert "_static/mathjax/tex-svg-full.js" in nb02 and (site / "_static/mathjax").is_dir()
    api = (site / "api" / "exact.html").read_text(encoding="utf-8")
    assert "optimal_prompter" in api and 'class="math' in api, "the API page lost its formulas"


# --------------------------------------------------------------------------- canaries (no browser)
def test_canary_a_notebook_missing_from_the_toc_fails(tmp_path: Path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    for p in (ROOT / "notebooks").glob("*.ipynb"):
        (nbs / p.name).write_text("{}")
    build_book.check_toc(nbs)  # the shipped set is complete
    (nbs / "09_new_chapter.ipynb").write_text("{}")
    with pytest.raises(build_book.BookError, match="09_new_chapter"):
        build_book.check_toc(nbs)


def test_canary_error_outputs_and_raw_widgets_fail(tmp_path: Path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="Traceback (most recent call last):\n"
                                                            "ValueError: boom\n"),
    ]), nbformat.v4.new_code_cell("w", outputs=[
        nbformat.v4.new_output("display_data", data={"text/plain": "VBox(children=(...))"}),
    ]), nbformat.v4.new_code_cell("ok", outputs=[
        nbformat.v4.new_output("display_data", data={"text/plain": "42"}),
    ])]  # fmt: skip
    nbformat.write(nb, tmp_path / "x.ipynb")
    problems = build_book.notebook_problems(tmp_path)
    assert len(problems) == 2, problems
    assert "error output" in problems[0] and "widget" in problems[1]


def test_canary_a_missing_image_fails_the_build(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    for f in ("conf.py", "_ext/offline_mathjax.py", "_static/book.css"):
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_bytes((build_book.BOOK / f).read_bytes())
    (src / "index.md").write_text("# Canary\n\n![a figure](docs/img/no_such_figure.png)\n")
    env = build_book.build_env(False, tmp_path / "cache")
    with pytest.raises(build_book.BookError, match="sphinx-build failed"):
        build_book.run_sphinx(src, tmp_path / "html", tmp_path / "doctrees", env)


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


@cache
def _ids(path: Path) -> frozenset[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return frozenset(
        html.unescape(m) for m in re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text)
    )


def _link_problems(site: Path, links: list[str]) -> list[str]:
    """Internal links (file:// inside the site) whose file or anchor does not exist."""
    bad = []
    for href in links:
        u = urlsplit(href)
        if u.scheme != "file":
            continue
        target = Path(unquote(u.path))
        if not target.exists():
            bad.append(f"{href}: no such file")
        elif u.fragment and target.suffix == ".html" and unquote(u.fragment) not in _ids(target):
            bad.append(f"{href}: no anchor #{u.fragment}")
    return bad


def open_page(ctx, url: str) -> tuple[dict, list[str]]:
    """Load ``url`` with every non-file request aborted; returns (page report, problems)."""
    problems: list[str] = []
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            problems.append(f"network request (offline site): {r.request.url}")
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(url, wait_until="load")
        report = page.evaluate(PAGE_JS)
        report["page"] = page
    except BaseException:
        page.close()
        raise
    for img in report["images"]:
        if not (img["w"] > 0 and img["h"] > 0):
            problems.append(f"image not shown: {img['src']}")
    if report["mjx_errors"]:
        problems.append(f"{report['mjx_errors']} MathJax errors")
    if RAW_WIDGET.search(report["text"]):
        problems.append("a raw widget repr or widget error is shown")
    return report, problems


@needs_browser
def test_every_page_loads_offline_with_images_math_and_links(site: Path, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    failures, math = {}, {}
    try:
        for path in _pages(site):
            rel = path.relative_to(site).as_posix()
            report, problems = open_page(ctx, path.as_uri())
            report["page"].close()
            problems += _link_problems(site, report["links"])
            if report["math_source"] and not report["mjx"]:
                problems.append(f"{report['math_source']} math elements, none typeset")
            math[rel] = report["mjx_article"]  # in the page itself, not only the sidebar
            if problems:
                failures[rel] = problems[:8]
    finally:
        ctx.close()
    assert not failures, failures
    for rel in ("docs/NOTATION.html", "notebooks/02_tradeoffs_and_bound.html", "api/exact.html"):
        assert math.get(rel, 0) > 0, f"no MathJax output on {rel}"


@needs_browser
def test_search_finds_rho_sft(site: Path, browser):
    ctx = browser.new_context()
    try:
        report, problems = open_page(ctx, (site / "search.html").as_uri() + "?q=rho_sft")
        page = report["page"]
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        n = page.locator("#search-results ul.search li").count()
        assert not problems, problems
        assert n >= 3, f"search for rho_sft found {n} pages"
    finally:
        ctx.close()


@needs_browser
def test_screenshots_of_the_landing_page_and_the_frontier(site: Path, browser):
    IMG.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    try:
        report, problems = open_page(ctx, (site / "index.html").as_uri())
        assert not problems, problems
        report["page"].screenshot(path=str(IMG / "book_landing.png"))
        report, problems = open_page(
            ctx, (site / "notebooks" / "02_tradeoffs_and_bound.html").as_uri()
        )
        assert not problems, problems
        cell = report["page"].locator("div.cell:has(pre:has-text('alignpro_frontier'))").first
        fig = cell.locator("img").first
        fig.scroll_into_view_if_needed()
        fig.screenshot(path=str(IMG / "book_02_frontier.png"))
    finally:
        ctx.close()
    for name in ("book_landing.png", "book_02_frontier.png"):
        assert (IMG / name).stat().st_size > 10_000, name


@needs_browser
def test_canary_the_page_checks_catch_a_broken_page(tmp_path: Path, browser):
    (tmp_path / "other.html").write_text("<p id='here'>x</p>")
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><img src='missing.png'><script src='https://example.org/x.js'></script>"
        "<script>console.error('boom')</script><p>VBox(children=(FloatLogSlider(),))</p>"
        "<a href='other.html#here'>ok</a><a href='other.html#gone'>x</a><a href='nope.html'>y</a>"
        "</body></html>"
    )
    ctx = browser.new_context()
    try:
        report, problems = open_page(ctx, bad.as_uri())
        report["page"].close()
    finally:
        ctx.close()
    links = _link_problems(tmp_path, report["links"])
    text = "\n".join(problems)
    assert "image not shown: missing.png" in text
    assert "network request" in text and "console: boom" in text and "raw widget" in text
    assert len(links) == 2 and "#gone" in links[0] + links[1], links
