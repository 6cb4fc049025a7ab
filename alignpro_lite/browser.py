"""Drive JupyterLab in headless Chromium: the notebooks as a student sees them.

One idea: start a throw-away JupyterLab server from *this* environment, open a notebook in
Debian's ``/usr/bin/chromium`` through Playwright (never a Playwright browser download), run all
cells, find the λ dashboards and move their sliders like a person would. Used by
``tests/test_browser.py`` (marker ``browser``) and ``python -m alignpro_lite.screenshot``.

DOM contract honoured by :mod:`alignpro_lite.widgets` (CSS classes set with ``add_class``):

* ``.apl-lam``     the λ ``FloatLogSlider`` (``.apl-beta``: the β slider of the bound explorer);
* ``.apl-readout`` the ``HTML`` with the numbers, optionally holding
  ``<span class="apl-redraw-ms">12.3</span>`` (the kernel-side redraw time);
* ``.apl-figure``  the ``Image`` (PNG) with the figure.

A "dashboard" here is one notebook output that holds an ``.apl-lam`` slider.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alignpro_lite.config import repo_root

if TYPE_CHECKING:  # playwright is a dev dependency; import it only where a browser is driven
    from playwright.sync_api import Browser, Locator, Page, Playwright, WebSocket

CHROMIUM_ENV = "ALIGNPRO_CHROMIUM"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT = {"width": 1400, "height": 1000}

# What a broken notebook shows in the page. ipywidgets prints the first two in place of a
# widget whose model is gone (kernel restarted, comm failed); the rest are cell outputs.
WIDGET_ERRORS = ("Error displaying widget", "model not found", "Failed to load model class")
STDERR_OUTPUT = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
EXCEPTION_LINE = re.compile(r"^\w*(Error|Exception)\b.*", re.MULTILINE)
ERROR_MSG = re.compile(rb'"msg_type"\s*:\s*"error"')
RUN_ALL_ITEM = "#jp-mainmenu-run li.lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))"
PROMPTS_JS = (
    "[...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')].map(p => p.textContent)"
)
IDLE_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')];
  return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'));
}"""


def chromium_path() -> Path:
    """Debian's Chromium (``$ALIGNPRO_CHROMIUM`` overrides ``/usr/bin/chromium``)."""
    return Path(os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium")


def missing_requirements() -> str | None:
    """One line saying why the browser cannot run here, or ``None`` when it can."""
    path = chromium_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        return (
            f"no Chromium at {path}: install Debian's package (`sudo apt-get install chromium`, "
            f"or `make browser`) or point ${CHROMIUM_ENV} at a chromium binary"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"playwright is not importable ({exc}): `pip install -e '.[dev]'`"
    if not jupyter_command():
        return "JupyterLab is not installed in this environment: `pip install -e '.[notebooks]'`"
    return None


def jupyter_command() -> list[str]:
    """``jupyter lab`` of the running interpreter's environment (a fresh clone's ``.venv``)."""
    sibling = Path(sys.executable).with_name("jupyter")
    if sibling.is_file():
        return [str(sibling), "lab"]
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return []
    return [sys.executable, "-m", "jupyterlab"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_root(dest: Path, notebooks: Path | None = None) -> Path:
    """Copy the notebooks folder into ``dest/notebooks`` and return ``dest``.

    A copy, so JupyterLab's autosave never writes outputs into the committed notebooks. The
    data is *not* copied: the package finds it with ``alignpro_lite.config.data_dir()``,
    whatever the kernel's working directory, and a notebook that reads ``../data`` fails here.
    """
    src = Path(notebooks or repo_root() / "notebooks")
    if not src.is_dir():
        raise ValueError(f"notebooks={src} is not a folder; pass the folder holding the .ipynb")
    dest = Path(dest)
    shutil.copytree(
        src, dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    return dest


def _write_lab_config(config_dir: Path) -> None:
    """A private Jupyter config dir: no news toast, no update check, kernels left to us.

    ``labconfig/page_config.json`` is what ``jupyter labextension disable
    "@jupyterlab/apputils-extension:announcements"`` writes; the user settings are belt and
    braces (fetchNews "false" is "Never" in the Notifications settings).
    """
    labconfig = config_dir / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
    (labconfig / "page_config.json").write_text(json.dumps(page_config))
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    (settings / "apputils-extension").mkdir(parents=True, exist_ok=True)
    notification = {"fetchNews": "false", "checkForUpdates": False}
    (settings / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps(notification)
    )


@dataclass
class LabServer:
    """A running JupyterLab; :meth:`stop` ends it and the kernels it started."""

    proc: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    log_path: Path
    base: str = field(init=False)

    def __post_init__(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        """``/lab/tree/<path>`` style URL with the token (``?reset`` drops a saved workspace)."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        """Call the server's REST API (``/api/...``) and decode the JSON answer."""
        req = urllib.request.Request(
            f"{self.base}/api/{path.lstrip('/')}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def kernels_idle(self) -> bool:
        """True when every kernel of this server reports ``execution_state == "idle"``."""
        return all(k.get("execution_state") == "idle" for k in self.api("kernels"))

    def log_tail(self, n: int = 40) -> str:
        """Last ``n`` lines of the server (and kernel) log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Shut kernels down, then end the server's process group and any kernel left over.

        Kernels run in their own session (jupyter_client starts them with
        ``start_new_session``), so their pids are collected first and ended one by one.
        """
        if self.proc.poll() is not None:
            return
        descendants = []
        try:
            import psutil

            descendants = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:  # psutil missing or the server already gone: the group kill remains
            pass
        try:
            for kernel in self.api("kernels"):
                self.api(f"kernels/{kernel['id']}", method="DELETE")
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=timeout)
        for child in descendants:
            try:
                child.kill()
            except Exception:
                pass


def start_lab(
    root_dir: Path,
    *,
    workdir: Path,
    env: dict[str, str] | None = None,
    fast: bool = True,
    timeout: float = 120.0,
) -> LabServer:
    """Start ``jupyter lab`` on 127.0.0.1, a free port, a random token, ``--no-browser``.

    ``root_dir`` is what the file browser shows (see :func:`prepare_root`); ``workdir`` holds
    the private config dir and the server log. The kernel inherits ``HF_HUB_OFFLINE=1``,
    ``TRANSFORMERS_OFFLINE=1`` and, when ``fast``, ``ALIGNPRO_FAST=1``. Raises
    ``RuntimeError`` with the log tail if the server is not answering within ``timeout`` s.
    """
    cmd = jupyter_command()
    if not cmd:
        raise RuntimeError("JupyterLab is not installed: `pip install -e '.[notebooks]'`")
    workdir = Path(workdir)
    config_dir = workdir / "jupyter-config"
    _write_lab_config(config_dir)
    port, token = free_port(), os.urandom(24).hex()
    full_env = dict(os.environ)
    full_env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_RUNTIME_DIR=str(workdir / "jupyter-runtime"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONHASHSEED=full_env.get("PYTHONHASHSEED", "0"),
    )
    if fast:
        full_env["ALIGNPRO_FAST"] = "1"
    full_env.update(env or {})
    args = [
        *cmd,
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
        args.append("--allow-root")
    log_path = workdir / "jupyterlab.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until stop()
    proc = subprocess.Popen(
        args,
        cwd=root_dir,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = LabServer(
        proc=proc, port=port, token=token, root_dir=Path(root_dir), log_path=log_path
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            server.api("status")
            return server
        except Exception:
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def running_lab(
    notebooks: Path | None = None, *, fast: bool = True, workdir: Path | None = None
) -> Iterator[LabServer]:
    """A JupyterLab on a temp copy of ``notebooks``, stopped on success and on failure."""
    with tempfile.TemporaryDirectory(prefix="apl-lab-") as tmp:
        work = Path(workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        root = prepare_root(Path(tmp) / "root", notebooks)
        server = start_lab(root, workdir=work, fast=fast)
        try:
            yield server
        finally:
            server.stop()


def launch_chromium(pw: Playwright, *, headless: bool = True) -> Browser:
    """Debian's Chromium through Playwright with the flags that work headless here."""
    return pw.chromium.launch(
        executable_path=str(chromium_path()), headless=headless, args=list(CHROMIUM_ARGS)
    )


@dataclass
class Redraw:
    """What moving a slider did, timed in the browser (ms from the input to the new DOM)."""

    lam_before: str
    lam_after: str
    readout_before: str
    readout_after: str
    readout_ms: float | None  # input -> last change of .apl-readout (None: it never changed)
    figure_ms: float | None  # input -> last change of the .apl-figure PNG (None: no change)
    kernel_ms: float | None  # the dashboard's own .apl-redraw-ms, when it shows one

    @property
    def readout_changed(self) -> bool:
        """True when the readout text differs after the move."""
        return self.readout_after != self.readout_before


@dataclass
class Dashboard:
    """One notebook output holding a λ slider (``.apl-lam``) and what it drives."""

    page: Page
    root: Locator  # the .jp-OutputArea-output holding the widgets
    index: int

    @property
    def lam(self) -> Locator:
        """The λ slider widget (label + noUi track + editable readout)."""
        return self.root.locator(".apl-lam").first

    @property
    def readout(self) -> Locator:
        """The HTML with the numbers."""
        return self.root.locator(".apl-readout").first

    @property
    def figure(self) -> Locator:
        """The figure ``<img>``."""
        return self.root.locator(".apl-figure").first

    def has(self, css: str) -> bool:
        """True when this dashboard contains an element matching ``css``."""
        return self.root.locator(css).count() > 0

    def lam_text(self) -> str:
        """The value the λ slider's own readout shows (e.g. ``"1.00"``)."""
        return self.lam.locator(".widget-readout").inner_text().strip()

    def readout_text(self) -> str:
        """The readout's visible text, without the kernel redraw-time span."""
        return self.readout.evaluate(
            """el => { const c = el.cloneNode(true);
                       c.querySelectorAll('.apl-redraw-ms').forEach(s => s.remove());
                       return c.innerText.trim(); }"""
        )

    def kernel_ms(self) -> float | None:
        """The dashboard's own last redraw time (``.apl-redraw-ms``), if it shows one."""
        span = self.readout.locator(".apl-redraw-ms")
        if span.count() == 0:
            return None
        match = re.search(r"[-+]?\d+(?:\.\d+)?", span.first.inner_text())
        return float(match.group()) if match else None

    def _watch(self) -> None:
        """Record, in the page, the time of every change of the readout and the figure."""
        self.root.evaluate(
            """root => {
              const rec = {readout: [], figure: []};
              window.__aplWatch = rec;
              if (window.__aplObservers) window.__aplObservers.forEach(o => o.disconnect());
              window.__aplObservers = [];
              const watch = (sel, key, opts) => {
                const el = root.querySelector(sel);
                if (!el) return;
                const o = new MutationObserver(() => rec[key].push(performance.now()));
                o.observe(el, opts);
                window.__aplObservers.push(o);
              };
              watch('.apl-readout', 'readout', {subtree: true, childList: true,
                                                characterData: true});
              watch('.apl-figure', 'figure', {attributes: true, attributeFilter: ['src']});
            }"""
        )

    def _settle(self, t0: float, timeout_s: float, quiet_ms: float = 600.0) -> dict[str, Any]:
        """Wait until the readout changed and nothing changed for ``quiet_ms``; return times."""
        self.page.wait_for_function(
            """([t0, quiet]) => {
              const r = window.__aplWatch, now = performance.now();
              const last = Math.max(0, ...r.readout, ...r.figure);
              return r.readout.some(t => t >= t0) && now - last > quiet;
            }""",
            arg=[t0, quiet_ms],
            timeout=timeout_s * 1000,
            polling=100,
        )
        return self.page.evaluate("() => window.__aplWatch")

    def drag_lam(self, fraction: float = 0.25, timeout_s: float = 30.0) -> Redraw:
        """Drag the λ handle by ``fraction`` of the track width with the mouse.

        The sign of ``fraction`` is the direction; it flips when the handle would leave the
        track. With ``continuous_update`` the kernel sees every intermediate value.

        Times are measured in the page with ``performance.now()``: from the mouse press that
        moves the handle to the last DOM change of the readout / figure.
        """
        if not -1.0 < fraction < 1.0 or fraction == 0.0:
            raise ValueError(f"fraction={fraction} must be in (-1, 1) and non-zero")
        handle = self.lam.locator(".noUi-handle").first
        track = self.lam.locator(".noUi-target").first
        handle.scroll_into_view_if_needed()
        hb, tb = handle.bounding_box(), track.bounding_box()
        if hb is None or tb is None:
            raise RuntimeError("the λ slider is not visible (no bounding box)")
        x0, y0 = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        lo, hi = tb["x"] + 1, tb["x"] + tb["width"] - 1
        x1 = x0 + fraction * tb["width"]
        if not lo <= x1 <= hi:  # would leave the track: go the other way
            x1 = x0 - fraction * tb["width"]
        x1 = min(max(x1, lo), hi)
        before = self.lam_text(), self.readout_text()
        self._watch()
        t0 = self.page.evaluate("() => performance.now()")
        self.page.mouse.move(x0, y0)
        self.page.mouse.down()
        self.page.mouse.move(x1, y0, steps=4)
        self.page.mouse.up()
        return self._finish(before, t0, timeout_s)

    def nudge(self, key: str = "auto", css: str = ".apl-lam", timeout_s: float = 30.0) -> Redraw:
        """Focus the slider's handle and press ``key`` once: exactly one value change.

        The cleanest latency measurement (one kernel round trip, one redraw), and the keyboard
        path a student without a mouse uses. ``css`` picks the slider (``.apl-beta`` for β);
        ``key="auto"`` steps left unless the handle already sits at the minimum.
        """
        handle = self.root.locator(f"{css} .noUi-handle").first
        handle.scroll_into_view_if_needed()
        if key == "auto":
            now, low = (
                float(handle.get_attribute(a) or "nan") for a in ("aria-valuenow", "aria-valuemin")
            )
            key = "ArrowRight" if now <= low else "ArrowLeft"
        before = self.lam_text(), self.readout_text()
        self._watch()
        handle.focus()
        t0 = self.page.evaluate("() => performance.now()")
        self.page.keyboard.press(key)
        return self._finish(before, t0, timeout_s)

    def set_lam(self, value: float, timeout_s: float = 30.0) -> Redraw:
        """Type ``value`` into the λ slider's editable readout and press Enter."""
        box = self.lam.locator(".widget-readout").first
        box.scroll_into_view_if_needed()
        before = self.lam_text(), self.readout_text()
        self._watch()
        t0 = self.page.evaluate("() => performance.now()")
        box.click()
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.type(f"{value:g}")
        self.page.keyboard.press("Enter")
        redraw = self._finish(before, t0, timeout_s)
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        return redraw

    def _finish(self, before: tuple[str, str], t0: float, timeout_s: float) -> Redraw:
        try:
            rec = self._settle(t0, timeout_s)
        except Exception:  # the readout never changed: report it, the caller asserts
            rec = self.page.evaluate("() => window.__aplWatch")
        times = {k: [t - t0 for t in v if t >= t0] for k, v in rec.items()}
        return Redraw(
            lam_before=before[0],
            lam_after=self.lam_text(),
            readout_before=before[1],
            readout_after=self.readout_text(),
            readout_ms=max(times["readout"]) if times["readout"] else None,
            figure_ms=max(times["figure"]) if times["figure"] else None,
            kernel_ms=self.kernel_ms(),
        )

    def layout(self) -> dict[str, Any]:
        """Sizes in CSS px: the output, its scroll width, the figure as shown and as drawn."""
        return self.root.evaluate(
            """root => {
              const r = root.getBoundingClientRect();
              const img = root.querySelector('.apl-figure');
              const i = img ? img.getBoundingClientRect() : null;
              return {
                output_width: Math.round(r.width),
                scroll_overflow: root.scrollWidth - root.clientWidth,
                figure_drawn: img ? [img.naturalWidth, img.naturalHeight] : null,
                figure_shown: i ? [Math.round(i.width), Math.round(i.height)] : null,
                figure_overflow: i ? Math.round(i.right - r.right) : null,
              };
            }"""
        )

    def figure_digest(self) -> str:
        """A short hash of the figure's ``src`` (changes when the PNG changes)."""
        src = self.figure.get_attribute("src") or ""
        return hashlib.sha1(src.encode()).hexdigest()[:12]

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of this dashboard only (cropped to its output area)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.root.scroll_into_view_if_needed()
        self.root.screenshot(path=str(path), animations="disabled")
        return path


class NotebookSession:
    """One notebook open in JupyterLab in one browser page, plus what went wrong in it."""

    def __init__(self, page: Page, server: LabServer) -> None:
        self.page = page
        self.server = server
        self.kernel_errors: list[str] = []
        self.page_errors: list[str] = []
        self.path: str | None = None
        self.dialogs_dismissed: list[str] = []  # titles of the dialogs accepted on open
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws: WebSocket) -> None:
        """Keep every kernel ``error`` message, including those of widget callbacks.

        A callback that raises prints its traceback in the log console, not under a cell,
        so the page alone would miss it; the iopub frames do not.
        """
        if "/channels" not in ws.url:
            return

        def on_frame(payload: str | bytes) -> None:
            data = payload.encode() if isinstance(payload, str) else payload
            if ERROR_MSG.search(data):
                text = data.decode(errors="replace")
                match = re.search(r'"ename"\s*:\s*"([^"]*)".{0,20}"evalue"\s*:\s*"([^"]*)"', text)
                self.kernel_errors.append(": ".join(match.groups()) if match else text[-300:])

        ws.on("framereceived", on_frame)

    def open(self, notebook: str, timeout_s: float = 90.0) -> None:
        """Open ``notebook`` (path under the server root) and wait for its kernel to be idle."""
        self.path = notebook
        self.page.goto(self.server.url(f"lab/tree/{notebook}?reset"), wait_until="load")
        self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
            timeout=timeout_s * 1000
        )
        self.dismiss_dialogs()
        self.wait_kernel_ready(timeout_s)

    def close(self) -> None:
        """Close the page and shut this notebook's kernel down (frees the CPU for the next)."""
        try:
            self.page.close()
        finally:
            for sess in self.server.api("sessions"):
                if self.path and sess.get("path", "").endswith(self.path):
                    self.server.api(f"sessions/{sess['id']}", method="DELETE")

    def dismiss_dialogs(self) -> None:
        """Accept a "Select Kernel" dialog (committed notebooks carry a kernelspec, but still)."""
        dialog = self.page.locator(".jp-Dialog")
        if dialog.count() == 0:
            return
        title = dialog.locator(".jp-Dialog-header").first
        self.dialogs_dismissed.append(title.inner_text().strip() if title.count() else "?")
        accept = dialog.locator(".jp-Dialog-footer .jp-mod-accept").first
        if accept.count():
            accept.click()
        else:
            self.page.keyboard.press("Escape")
        dialog.first.wait_for(state="detached", timeout=10_000)

    def wait_kernel_ready(self, timeout_s: float) -> None:
        """Wait for the notebook toolbar's kernel indicator to say idle."""
        indicator = self.page.locator(
            ".jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator[data-status='idle']"
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.dismiss_dialogs()
            if indicator.count() and self.server.api("kernels"):
                return
            time.sleep(0.25)
        raise TimeoutError(f"the kernel was not idle {timeout_s:.0f} s after opening the notebook")

    def run_all(self, timeout_s: float = 300.0) -> float:
        """Run → Run All Cells from the menu bar; wait until every cell ran. Returns seconds."""
        t0 = time.monotonic()
        before = self.page.evaluate(f"() => {PROMPTS_JS}")
        # A late "Select Kernel" dialog (slow machines) swallows clicks: dismiss it and retry
        # until the prompts show that Run All took effect ([*] queued or [n] done).
        for attempt in range(6):
            self.dismiss_dialogs()
            try:
                self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click(
                    timeout=7_500
                )
                self.page.locator(RUN_ALL_ITEM).first.click(timeout=7_500)
                self.page.wait_for_function(
                    f"before => JSON.stringify({PROMPTS_JS}) !== JSON.stringify(before)",
                    arg=before,
                    timeout=10_000,
                )
                break
            except Exception:  # playwright's TimeoutError; close a half-open menu and retry
                if attempt == 5:
                    raise
                self.page.keyboard.press("Escape")
        self.wait_idle(timeout_s - (time.monotonic() - t0))
        return time.monotonic() - t0

    def wait_idle(self, timeout_s: float = 120.0, quiet_s: float = 1.0) -> None:
        """Wait until no prompt shows ``[*]`` and the kernel is idle for ``quiet_s`` in a row."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if self.page.evaluate(IDLE_JS) and self.server.kernels_idle():
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return
            else:
                quiet_since = None
            time.sleep(0.2)
        raise TimeoutError(f"cells still running after {timeout_s:.0f} s")

    def wait_widgets(self, timeout_s: float = 30.0) -> None:
        """Wait until no output still says "Loading widget..."."""
        self.page.wait_for_function(
            """() => ![...document.querySelectorAll('.jp-OutputArea-output')]
                      .some(o => o.textContent.includes('Loading widget'))""",
            timeout=timeout_s * 1000,
        )

    def dashboards(self) -> list[Dashboard]:
        """Every output holding a λ slider, in notebook order."""
        outputs = self.page.locator(".jp-OutputArea-output").filter(
            has=self.page.locator(".apl-lam")
        )
        return [Dashboard(self.page, outputs.nth(i), i) for i in range(outputs.count())]

    def problems(self) -> list[str]:
        """What a student would see go wrong: tracebacks, broken widgets, kernel errors."""
        found = []
        body = "\n".join(self.page.locator(".jp-OutputArea-output").all_inner_texts())
        found += [f"page shows {w!r}" for w in WIDGET_ERRORS if w in body]
        for text in self.page.locator(STDERR_OUTPUT).all_inner_texts():
            if "Traceback" in text or EXCEPTION_LINE.search(text):
                found.append("error output:\n" + text[-1500:])
        found += [f"kernel error message: {e}" for e in self.kernel_errors]
        found += [f"uncaught page error: {e}" for e in self.page_errors]
        return found

    def stderr_outputs(self) -> list[str]:
        """Every stderr output (warnings included), for the report."""
        return self.page.locator(STDERR_OUTPUT).all_inner_texts()

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the visible page."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), animations="disabled")
        return path
