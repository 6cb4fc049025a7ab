"""Drive JupyterLab in headless Chromium: the notebooks as a student sees them.

One idea: start a throw-away JupyterLab server from *this* environment, open a notebook in
Debian's ``/usr/bin/chromium`` through Playwright (never a Playwright browser download), run all
cells, find the λ dashboards and move their sliders like a person would. Used by
``tests/test_browser.py`` (marker ``browser``) and ``scripts/screenshot.py``.

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
KERNEL_WS = re.compile(r"/api/kernels/([^/?#]+)/channels")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RUN_ALL_ITEM = "#jp-mainmenu-run li.lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))"
PROMPTS_JS = (
    "[...document.querySelectorAll('.jp-Notebook .jp-InputArea-prompt')].map(p => p.textContent)"
)
# The notebook panel's own view of its kernel. JupyterLab runs with expose_app_in_browser, so
# ``window.jupyterapp`` is the application: the session context says whether *this* notebook
# has a kernel, connected and idle (the toolbar's indicator says "idle" before any kernel).
PANEL_STATE_JS = """path => {
  const app = window.jupyterapp;
  if (!app) return {error: 'window.jupyterapp is missing: start JupyterLab with '
                           + '--LabApp.expose_app_in_browser=True'};
  const panel = Array.from(app.shell.widgets('main'))
    .find(w => w.context && w.context.path === path && w.sessionContext);
  if (!panel) return {panel: false};
  const sc = panel.sessionContext, k = sc.session ? sc.session.kernel : null;
  const cells = panel.content.widgets;
  return {
    panel: true,
    ready: sc.isReady,
    display_status: sc.kernelDisplayStatus,
    kernel: k ? k.id : null,
    connection: k ? k.connectionStatus : null,
    status: k ? k.status : null,
    current: app.shell.currentWidget === panel,
    run_all_enabled: app.commands.isEnabled('notebook:run-all-cells'),
    code_cells: cells.filter(c => c.model.type === 'code'
                                  && c.model.sharedModel.getSource().trim() !== '').length,
  };
}"""
# Widget outputs as the page shows them: still loading, shown (a view or an ipywidgets error
# in place), how many elements carry each ``apl-*`` class, and figures not decoded yet.
WIDGET_DOM_JS = """() => {
  const outs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
  const classes = {};
  outs.forEach(o => o.querySelectorAll('[class*="apl-"]').forEach(el => el.classList.forEach(
    c => { if (c.startsWith('apl-')) classes[c] = (classes[c] || 0) + 1; })));
  return {
    loading: outs.filter(o => o.textContent.includes('Loading widget')).length,
    shown: outs.filter(o => o.classList.contains('jupyter-widgets')
                            || o.querySelector(':scope > .jupyter-widgets')).length,
    classes,
    figures_pending: [...document.querySelectorAll('.jp-Notebook img.apl-figure')]
                       .filter(i => !(i.complete && i.naturalWidth > 0)).length,
  };
}"""
OUTPUTS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')].map(o => {
  const first = o.firstElementChild;
  const cls = (first ? first.className : o.className).toString().split(' ')
                .filter(c => c.startsWith('apl-') || c.startsWith('widget-')).join(' ');
  return (cls ? '<' + cls + '> ' : '') + o.innerText.trim().replace(/\\s+/g, ' ').slice(0, 100);
})"""


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

    def session_kernel(self, path: str) -> dict[str, Any] | None:
        """The kernel model (``id``, ``execution_state``...) of the session of ``path``, if any.

        ``/api/sessions`` is the server's word on which kernel serves which notebook; other
        notebooks' kernels (still open in another page) do not count.
        """
        for sess in self.api("sessions"):
            if sess.get("path") == path and sess.get("kernel"):
                return sess["kernel"]
        return None

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
        "--LabApp.expose_app_in_browser=True",
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


@dataclass(frozen=True)
class KernelMessage:
    """One Jupyter message on a kernel websocket of the page, cut down to what the waits need."""

    sent: bool  # True: the page sent it (a request); False: the kernel's (reply, iopub)
    kernel_id: str
    channel: str  # "shell", "iopub", "control", "stdin"
    msg_type: str
    msg_id: str
    parent_id: str  # msg_id of the request it answers ("" for a request)
    content: dict[str, Any]  # see _brief_content: states, counts, widget models; no outputs


def parse_kernel_frame(payload: str | bytes) -> tuple[str, dict, dict, dict] | None:
    """``(channel, header, parent_header, content)`` of one kernel websocket frame, or ``None``.

    JupyterLab speaks ``v1.kernel.websocket.jupyter.org`` when the server offers it (jupyter
    server 2 does): a binary frame of little-endian uint64 offsets, then channel, header,
    parent header, metadata, content (JSON each) and any buffers. Otherwise frames are JSON text.
    """
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return (
                msg.get("channel", ""),
                msg["header"],
                msg.get("parent_header") or {},
                msg.get("content") or {},
            )
        n = int.from_bytes(payload[:8], "little")
        offsets = [int.from_bytes(payload[8 * i + 8 : 8 * i + 16], "little") for i in range(n)]
        parts = [payload[a:b] for a, b in zip(offsets, [*offsets[1:], len(payload)])]
        header, parent, _, content = (json.loads(p) for p in parts[1:5])
        return parts[0].decode(), header, parent or {}, content or {}
    except Exception:  # not a kernel message we can read (legacy binary frame, truncated)
        return None


def _brief_content(msg_type: str, content: dict) -> dict[str, Any]:
    """The part of a message's content the waits use (figures and text are left out)."""
    if msg_type == "status":
        return {"execution_state": content.get("execution_state")}
    if msg_type == "execute_reply":
        return {"status": content.get("status"), "execution_count": content.get("execution_count")}
    if msg_type == "error":
        return {"ename": content.get("ename"), "evalue": content.get("evalue")}
    if msg_type in ("display_data", "execute_result"):
        view = (content.get("data") or {}).get(WIDGET_VIEW)
        return {"model_id": view.get("model_id")} if isinstance(view, dict) else {}
    if msg_type in ("comm_open", "comm_msg", "comm_close"):
        data = content.get("data") or {}
        state = data.get("state") or {}
        return {
            "comm_id": content.get("comm_id"),
            "target_name": content.get("target_name"),
            "method": data.get("method"),
            "state": {
                k: state[k] for k in ("_view_name", "_dom_classes", "children") if k in state
            },
        }
    return {}


class NotebookSession:
    """One notebook open in JupyterLab in one browser page, plus what went wrong in it.

    Every message on the page's kernel websockets is kept (:attr:`messages`, cut down), so the
    waits are on what the kernel did and the page then shows, never on a quiet spell or a
    retried click: :meth:`open` returns once *this* notebook's kernel is connected and idle,
    :meth:`run_all` once the kernel answered one ``execute_request`` per code cell and the
    prompts show it, :meth:`wait_widgets` once every widget the run displayed is on the page
    with all its children, :meth:`dashboards` once the expected λ sliders are there.
    """

    def __init__(self, page: Page, server: LabServer) -> None:
        self.page = page
        self.server = server
        self.kernel_errors: list[str] = []
        self.page_errors: list[str] = []
        self.messages: list[KernelMessage] = []
        self.path: str | None = None
        self.kernel_id: str | None = None
        self.dialogs_dismissed: list[str] = []  # titles of the dialogs accepted on open
        self._run_mark = 0  # len(messages) when the last Run All was clicked
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws: WebSocket) -> None:
        """Record every kernel message both ways; keep each ``error`` (widget callbacks too).

        A callback that raises prints its traceback in the log console, not under a cell,
        so the page alone would miss it; the iopub frames do not.
        """
        match = KERNEL_WS.search(ws.url)
        if not match:
            return
        kernel_id = match.group(1)

        def record(payload: str | bytes, sent: bool) -> None:
            parsed = parse_kernel_frame(payload)
            if parsed is None:
                data = payload.encode() if isinstance(payload, str) else payload
                if not sent and ERROR_MSG.search(data):  # unreadable, but an error: keep it
                    self.kernel_errors.append(data.decode(errors="replace")[-300:])
                return
            channel, header, parent, content = parsed
            msg_type = header.get("msg_type", "")
            if not sent and msg_type == "error":
                self.kernel_errors.append(f"{content.get('ename')}: {content.get('evalue')}")
            self.messages.append(
                KernelMessage(
                    sent=sent,
                    kernel_id=kernel_id,
                    channel=channel,
                    msg_type=msg_type,
                    msg_id=header.get("msg_id", ""),
                    parent_id=parent.get("msg_id", ""),
                    content=_brief_content(msg_type, content),
                )
            )

        ws.on("framesent", lambda payload: record(payload, True))
        ws.on("framereceived", lambda payload: record(payload, False))

    # -- what the kernel did, from its messages ------------------------------------------------

    def mark(self) -> int:
        """A position in :attr:`messages`: pass it to :meth:`wait_answered` as ``since``."""
        return len(self.messages)

    def _requests(self, since: int, msg_type: str | None = None) -> list[KernelMessage]:
        """Shell requests this page sent to its kernel since ``since`` (of ``msg_type``)."""
        return [
            m
            for m in self.messages[since:]
            if m.sent
            and m.channel == "shell"
            and m.kernel_id == self.kernel_id
            and (msg_type is None or m.msg_type == msg_type)
        ]

    def _answers(self, since: int) -> tuple[dict[str, KernelMessage], set[str]]:
        """Replies received since ``since`` by request id, and the ids the kernel went idle on."""
        replies, idle = {}, set()
        for m in self.messages[since:]:
            if m.sent or not m.parent_id:
                continue
            if m.msg_type.endswith("_reply"):
                replies[m.parent_id] = m
            elif m.msg_type == "status" and m.content.get("execution_state") == "idle":
                idle.add(m.parent_id)
        return replies, idle

    def _answered(self, kernel_id: str, msg_type: str) -> bool:
        """True when the kernel replied to a ``msg_type`` request the page sent it."""
        replies, _ = self._answers(0)
        return any(
            m.sent and m.kernel_id == kernel_id and m.msg_type == msg_type and m.msg_id in replies
            for m in self.messages
        )

    def _widget_models(self) -> dict[str, dict[str, Any]]:
        """The widget models as the comm messages built them: id -> view name, classes, children."""
        models: dict[str, dict[str, Any]] = {}
        for m in self.messages:
            comm_id = m.content.get("comm_id")
            if m.msg_type == "comm_open" and m.content.get("target_name") == "jupyter.widget":
                models[comm_id] = dict(m.content["state"])
            elif m.msg_type == "comm_msg" and comm_id in models:
                if m.content.get("method") in ("update", "echo_update"):
                    models[comm_id].update(m.content["state"])
            elif m.msg_type == "comm_close":
                models.pop(comm_id, None)
        return models

    def _expected_widgets(self) -> tuple[int, dict[str, int]]:
        """Widget views the last run displayed, and the ``apl-*`` elements they must hold.

        A ``clear_output`` drops the widgets its cell displayed before it. Children are
        followed through the ``IPY_MODEL_<id>`` references of box widgets.
        """
        shown: dict[str, list[str]] = {}  # request id -> model ids displayed for it
        for m in self.messages[self._run_mark :]:
            if m.sent or m.kernel_id != self.kernel_id:
                continue
            if m.msg_type == "clear_output":
                shown[m.parent_id] = []
            elif m.content.get("model_id"):
                shown.setdefault(m.parent_id, []).append(m.content["model_id"])
        models = self._widget_models()
        roots = [mid for ids in shown.values() for mid in ids]
        classes: dict[str, int] = {}
        stack = list(roots)
        while stack:
            state = models.get(stack.pop(), {})
            for c in state.get("_dom_classes") or ():
                if c.startswith("apl-"):
                    classes[c] = classes.get(c, 0) + 1
            for ref in state.get("children") or ():
                if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                    stack.append(ref.removeprefix("IPY_MODEL_"))
        return len(roots), classes

    def _panel_state(self) -> dict[str, Any]:
        """The notebook panel's own view of its kernel (see ``PANEL_STATE_JS``)."""
        state = self.page.evaluate(PANEL_STATE_JS, self.path)
        if "error" in state:
            raise RuntimeError(state["error"])
        return state

    def describe(self) -> str:
        """What the page and the kernel show now, for failure messages."""
        lines = []

        def add(label: str, get: Any) -> None:
            try:
                lines.append(f"{label}: {get()}")
            except Exception as exc:  # the description must not hide the failure it describes
                lines.append(f"{label}: ({type(exc).__name__}: {exc})")

        add("notebook", lambda: f"{self.path}, kernel {self.kernel_id}")
        add("panel", self._panel_state)
        add("server", lambda: self.server.session_kernel(self.path or ""))
        add("dialogs", lambda: self.page.locator(".jp-Dialog-header").all_inner_texts())
        add("prompts", lambda: " ".join(self.page.evaluate(f"() => {PROMPTS_JS}")))
        add("widgets on the page", lambda: self.page.evaluate(WIDGET_DOM_JS))
        add("widgets displayed by the kernel, apl-* they hold", self._expected_widgets)
        run = self.messages[self._run_mark :]
        add(
            "execute requests since Run All",
            lambda: len(self._requests(self._run_mark, "execute_request")),
        )
        add(
            "kernel replies since Run All",
            lambda: [
                (m.content.get("execution_count"), m.content.get("status"))
                for m in run
                if m.msg_type == "execute_reply"
            ],
        )
        add("outputs", lambda: "".join(f"\n  {o}" for o in self.page.evaluate(OUTPUTS_JS)))
        add("problems", lambda: "".join(f"\n  {p}" for p in self.problems()))
        return "\n".join(lines)

    # -- driving the notebook ------------------------------------------------------------------

    def open(self, notebook: str, timeout_s: float = 90.0) -> None:
        """Open ``notebook`` (path under the server root); return when its kernel is ready."""
        self.path = notebook
        self.page.goto(self.server.url(f"lab/tree/{notebook}?reset"), wait_until="load")
        self.page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(
            timeout=timeout_s * 1000
        )
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

    def wait_kernel_ready(self, timeout_s: float = 90.0) -> str:
        """Wait until *this* notebook's kernel is connected and idle; return its id.

        Checked where it is decided, not on a default-looking UI (the toolbar's indicator
        reads "idle" before the notebook has any kernel) nor on another notebook's kernel:
        the panel's session context has a kernel, its websocket is connected, its status is
        idle and it answered the page's ``kernel_info_request``; the server's session for
        this path names the same kernel, idle; the notebook is the current widget, so Run All
        is enabled. A "Select Kernel" dialog is accepted whenever it shows. A notebook without
        kernelspec gets its kernel only through that dialog, so once this returns no dialog
        is left to swallow a later click.
        """
        if self.path is None:
            raise RuntimeError("open() a notebook first")
        deadline = time.monotonic() + timeout_s
        while True:
            self.dismiss_dialogs()
            state = self._panel_state()
            kernel = state.get("kernel")
            if (
                kernel
                and state.get("ready")
                and state.get("connection") == "connected"
                and state.get("status") == "idle"
                and state.get("current")
                and state.get("run_all_enabled")
                and self._answered(kernel, "kernel_info_request")
            ):
                rest = self.server.session_kernel(self.path)
                if (
                    rest
                    and rest.get("id") == kernel
                    and rest.get("execution_state") == "idle"
                    and self.page.locator(".jp-Dialog").count() == 0
                ):
                    self.kernel_id = kernel
                    return kernel
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the kernel of {self.path} was not connected and idle {timeout_s:.0f} s "
                    f"after opening it\n{self.describe()}"
                )
            self.page.wait_for_timeout(100)  # also lets playwright deliver the frames

    def run_all(self, timeout_s: float = 300.0) -> float:
        """Run → Run All Cells from the menu bar; wait until every cell ran. Returns seconds.

        One click, no retry: the kernel is ready first (see :meth:`wait_kernel_ready`), so
        nothing can swallow it, and :meth:`wait_idle` proves it from the kernel's messages.
        """
        self.wait_kernel_ready(timeout_s)  # at once when open() already waited
        expected = self._panel_state()["code_cells"]
        self._run_mark = self.mark()
        t0 = time.monotonic()
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(f"{RUN_ALL_ITEM}:not(.lm-mod-disabled)").first.click()
        self.wait_idle(timeout_s, expected=expected)
        return time.monotonic() - t0

    def wait_idle(self, timeout_s: float = 120.0, expected: int = 0) -> None:
        """Wait until the kernel finished what the last Run All sent, and the page shows it.

        Kernel side: at least ``expected`` ``execute_request`` left the page since the click
        (JupyterLab sends one per non-blank code cell, all at once; after an error the kernel
        answers the rest "aborted"), and every shell request since has its reply and its
        iopub ``idle`` status (iopub is ordered: every output of a request precedes its
        ``idle``). Page side: each executed cell's prompt shows the execution count of its
        reply, and no prompt shows ``[*]``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            sent = self._requests(self._run_mark)
            executes = [m for m in sent if m.msg_type == "execute_request"]
            replies, idle = self._answers(self._run_mark)
            done = all(
                m.msg_id in idle and (m.msg_id in replies or not m.msg_type.endswith("_request"))
                for m in sent
            )
            if len(executes) >= expected and done:
                counts = {
                    replies[m.msg_id].content.get("execution_count")
                    for m in executes
                    if replies[m.msg_id].content.get("status") in ("ok", "error")
                }
                prompts = self.page.evaluate(f"() => {PROMPTS_JS}")
                shown = {int(n) for p in prompts for n in re.findall(r"\[(\d+)\]", p)}
                if counts <= shown and not any("*" in p for p in prompts):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Run All of {self.path} not finished after {timeout_s:.0f} s: "
                    f"{len(executes)} of {expected} code cells sent to the kernel, "
                    f"{sum(m.msg_id in idle for m in sent)} of {len(sent)} requests "
                    f"finished\n{self.describe()}"
                )
            self.page.wait_for_timeout(100)

    def wait_answered(self, since: int, timeout_s: float = 30.0, at_least: int = 1) -> None:
        """Wait until the page sent ``at_least`` shell requests since ``since`` (a :meth:`mark`)
        and the kernel finished each one: whatever a widget callback printed or raised is in.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            sent = self._requests(since)
            _, idle = self._answers(since)
            if len(sent) >= at_least and all(m.msg_id in idle for m in sent):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the kernel did not finish the page's requests within {timeout_s:.0f} s: "
                    f"{[m.msg_type for m in sent]} sent, {len(idle)} finished\n{self.describe()}"
                )
            self.page.wait_for_timeout(100)

    def wait_widgets(self, timeout_s: float = 60.0) -> None:
        """Wait until every widget the last run displayed is on the page, children included.

        What to expect comes from the kernel messages (see :meth:`_expected_widgets`): the
        page must show that many widget outputs, none still "Loading widget...", at least as
        many elements of each ``apl-*`` class as the displayed widgets hold, and every
        ``.apl-figure`` image decoded. (A box widget appears before its children are
        rendered, so "no Loading widget..." alone is not enough.) An output that shows an
        ipywidgets error ends the wait: :meth:`problems` reports it.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            n_widgets, classes = self._expected_widgets()
            dom = self.page.evaluate(WIDGET_DOM_JS)
            if dom["loading"] == 0 and dom["shown"] >= n_widgets:
                broken = any(w in t for t in self._output_texts() for w in WIDGET_ERRORS)
                complete = all(dom["classes"].get(c, 0) >= n for c, n in classes.items())
                if broken or (complete and dom["figures_pending"] == 0):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the widgets of {self.path} were not all rendered {timeout_s:.0f} s "
                    f"after the run\n{self.describe()}"
                )
            self.page.wait_for_timeout(100)

    def _output_texts(self) -> list[str]:
        return self.page.locator(".jp-OutputArea-output").all_inner_texts()

    def dashboards(self, expected: int = 1, timeout_s: float = 60.0) -> list[Dashboard]:
        """Every output holding a λ slider, in notebook order, once at least ``expected`` show.

        Waits for the widgets first (:meth:`wait_widgets`), then for the ``.apl-lam`` outputs;
        raises ``TimeoutError`` saying what the page shows instead.
        """
        deadline = time.monotonic() + timeout_s
        self.wait_widgets(timeout_s)
        outputs = self.page.locator(".jp-OutputArea-output").filter(
            has=self.page.locator(".apl-lam")
        )
        while (found := outputs.count()) < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.path} shows {found} λ dashboards (outputs with an .apl-lam slider) "
                    f"{timeout_s:.0f} s after the run, expected at least {expected}\n"
                    f"{self.describe()}"
                )
            self.page.wait_for_timeout(100)
        return [Dashboard(self.page, outputs.nth(i), i) for i in range(found)]

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
