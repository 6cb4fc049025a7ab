"""The package's layout is a contract: layers point one way (import-linter), the top-level
import stays fast and torch-free, and every sub-package shows in ``dir()``."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alignpro_lite.config import repo_root

ROOT = repo_root()
LINT = Path(sys.executable).with_name("lint-imports")
needs_linter = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), str(root / "pyproject.toml")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@needs_linter
def test_the_layers_contract_holds():
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


@needs_linter
@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("exact/discrete.py", "import alignpro_lite.llm.tasks", "Layers follow the course"),
        ("llm/tasks.py", "import alignpro_lite.learn.train", "Layers follow the course"),
        ("ui/plots.py", "import alignpro_lite.experiment.runs", "ui sits beside"),
        ("learn/policies.py", "import matplotlib.pyplot", "draw nothing"),
        ("config.py", "import matplotlib", "the floor"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, forbidden, contract):
    """The check can fail: the same package with one upward import added is refused."""
    shutil.copytree(ROOT / "alignpro_lite", tmp_path / "alignpro_lite",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "alignpro_lite" / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    lines = res.stdout.splitlines()
    assert any(contract in line and line.rstrip().endswith("BROKEN") for line in lines), res.stdout


def test_import_is_torch_free_and_every_subpackage_is_visible():
    code = (
        "import sys, time; t = time.perf_counter(); import alignpro_lite as apl; "
        "dt = time.perf_counter() - t; "
        "assert 'torch' not in sys.modules, 'import alignpro_lite imported torch'; "
        "names = dir(apl); "
        "assert all(n in names for n in ('exact', 'llm', 'learn', 'experiment', 'ui', 'exercises')); "
        "assert all(n in dir(apl.llm) for n in ('lm', 'lora', 'tables')); "
        "assert 'train_run' in dir(apl.experiment) and 'train' in dir(apl.learn); "
        "assert not hasattr(apl, 'evaluate') and not hasattr(apl.llm, 'nope'); "
        "print(f'{dt:.3f}')"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]


def test_the_package_imports_nothing_from_tests_or_scripts():
    private = {
        "tests",
        "scripts",
        "jupyter_harness",
        "tiny_model",
        "conftest",
        "strategies",
        "notebook_runner",
    }
    for path in (ROOT / "alignpro_lite").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in private, f"{path} imports {name}"


def test_no_module_reaches_into_another_modules_private_names():
    """``from x import _y`` and ``mod._y`` across modules of the package are refused."""
    bad = []
    for path in (ROOT / "alignpro_lite").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("alignpro_lite")
            ):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{path.name}: from {node.module} import {a.name}")
                    aliases[a.asname or a.name] = node.module
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("alignpro_lite"):
                        aliases[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):  # fmt: skip
                bad.append(f"{path.name}: {node.value.id}.{node.attr}")
    assert not bad, bad
