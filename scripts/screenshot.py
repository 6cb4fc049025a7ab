"""Regenerate the README screenshots of the λ dashboards, as JupyterLab shows them.

    python scripts/screenshot.py --out docs/img        # or: make screenshot

Starts JupyterLab on a temp copy of ``notebooks/`` (fast mode unless ``--full``), opens
notebook 01 in headless Chromium, runs all cells, sets λ on its dashboard and saves
``dashboard.png`` cropped to the widget; then the same for notebook 02's bound explorer
(``bound_explorer.png``). Needs Debian's ``/usr/bin/chromium``; exits with status 2 and one
line saying so when it is missing, 1 when a notebook shows an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alignpro_lite.config import repo_root

sys.path.insert(0, str(repo_root() / "tests"))  # the harness of tests/test_browser.py
from jupyter_harness import (  # noqa: E402
    VIEWPORT,
    Dashboard,
    NotebookSession,
    launch_chromium,
    missing_requirements,
    running_lab,
)

# (notebook file, output PNG, CSS a dashboard must contain to be the one pictured)
SHOTS = (
    ("01_closed_form.ipynb", "dashboard.png", ".apl-lam"),
    ("02_tradeoffs_and_bound.ipynb", "bound_explorer.png", ".apl-beta"),
)


def _fit_viewport(session: NotebookSession, dashboard: Dashboard) -> None:
    """Widen the page until the figure is shown at the size it was drawn (no downscaling)."""
    layout = dashboard.layout()
    drawn, shown = layout["figure_drawn"], layout["figure_shown"]
    if drawn and shown and drawn[0] > shown[0]:
        size = session.page.viewport_size or VIEWPORT
        width = size["width"] + drawn[0] - shown[0] + 16
        session.page.set_viewport_size({"width": width, "height": size["height"]})
        session.page.wait_for_timeout(300)  # let the output area relayout


def shoot(
    out: Path,
    *,
    lam: float = 0.2,
    notebooks: Path | None = None,
    fast: bool = True,
    scale: float = 2.0,
) -> list[Path]:
    """Open each notebook of :data:`SHOTS`, set λ to ``lam`` and save its dashboard to ``out``.

    ``scale`` is the device pixel ratio (2 = sharp on high-DPI screens). Raises
    ``RuntimeError`` when a notebook has no matching dashboard or shows an error.
    """
    if not lam > 0:
        raise ValueError(f"lam={lam} must be > 0 (λ is a KL weight)")
    from playwright.sync_api import sync_playwright

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks = Path(notebooks or repo_root() / "notebooks")
    saved = []
    with running_lab(notebooks, fast=fast) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            for name, png, css in SHOTS:
                if not (notebooks / name).is_file():
                    raise RuntimeError(f"{notebooks / name} does not exist")
                page = browser.new_page(
                    viewport={"width": VIEWPORT["width"], "height": 1200},
                    device_scale_factor=scale,
                )
                page.set_default_timeout(60_000)
                session = NotebookSession(page, server)
                try:
                    session.open(f"notebooks/{name}")
                    session.run_all(timeout_s=600)
                    session.wait_widgets()
                    matching = [d for d in session.dashboards() if d.has(css)]
                    if not matching:
                        raise RuntimeError(f"{name}: no dashboard with a {css} widget")
                    dashboard = matching[0]
                    _fit_viewport(session, dashboard)
                    dashboard.set_lam(lam)
                    problems = session.problems()
                    if problems:
                        raise RuntimeError(f"{name} shows errors:\n" + "\n".join(problems))
                    saved.append(dashboard.screenshot(out / png))
                    print(f"{out / png}  (λ = {dashboard.lam_text()})")
                finally:
                    session.close()
        finally:
            browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python scripts/screenshot.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--out", type=Path, default=repo_root() / "docs" / "img")
    parser.add_argument("--lam", type=float, default=0.2, help="λ shown in the pictures")
    parser.add_argument("--notebooks", type=Path, default=None, help="folder of the notebooks")
    parser.add_argument("--full", action="store_true", help="run the notebooks in full mode")
    parser.add_argument("--scale", type=float, default=2.0, help="device pixel ratio")
    args = parser.parse_args(argv)
    reason = missing_requirements()
    if reason:
        print(f"screenshot: {reason}", file=sys.stderr)
        return 2
    try:
        shoot(
            args.out, lam=args.lam, notebooks=args.notebooks, fast=not args.full, scale=args.scale
        )
    except (RuntimeError, ValueError, TimeoutError) as exc:
        print(f"screenshot: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
