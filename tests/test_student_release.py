"""The student release (``make student``): nbgrader removes every worked solution, keeps every
check, and the release runs top to bottom with every check failing (nothing is answered yet).

The other half, that the checks pass on the source notebooks, is asserted where the source
notebooks run (tests/test_notebooks.py).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_runner import run_fast

from alignpro_lite.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _load_release():
    spec = importlib.util.spec_from_file_location(
        "student_release", ROOT / "scripts" / "student_release.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


release = _load_release()


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    """The release, built once by the same command ``make student`` runs."""
    out = tmp_path_factory.mktemp("release") / "student"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "student_release.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_every_notebook_is_released(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert (student_dir / "README.md").exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_solution_text_survives(student_dir, path):
    src = nbformat.read(path, as_version=4)
    stu = nbformat.read(student_dir / path.name, as_version=4)
    text = "\n".join(c.source for c in stu.cells)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert release.leftovers(src, stu) == []
    n_solution = 0
    for a, b in zip(src.cells, stu.cells):
        lines = release.solution_lines(a)
        if lines:
            n_solution += 1
            assert not set(lines) & {s.strip() for s in b.source.splitlines()}
        if "apl.exercises.check(" in a.source:  # every check is kept
            check_line = next(s for s in a.source.splitlines() if "apl.exercises.check(" in s)
            assert check_line in b.source
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None
    keys = {k for k in EXERCISES if k.startswith(path.name[:2] + ".")}
    assert n_solution >= len(keys), "every exercise of the notebook has a worked solution"


def test_solution_markers_need_nbgrader_metadata(tmp_path):
    """A solution region in a cell not marked as a solution cell is refused (it would leak)."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "answer = None\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION"
            )
        ]
    )
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "01_x.ipynb")
    with pytest.raises(ValueError, match="nbgrader solution metadata"):
        release.build(tmp_path / "out", tmp_path / "src")
    assert not (tmp_path / "out").exists()  # nothing half-written
    assert release.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path / "src")]) == 2


def test_a_marked_solution_is_removed(tmp_path):
    cell = nbformat.v4.new_code_cell(
        'answer = None\n### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION\napl.exercises.check("01.2", answer)'
    )
    cell.metadata["nbgrader"] = {
        "solution": True,
        "grade": False,
        "grade_id": "a",
        "locked": False,
        "schema_version": 3,
    }
    text = nbformat.v4.new_markdown_cell("The derivation: 6 times 7.")
    text.metadata["nbgrader"] = {
        "solution": True,
        "grade": False,
        "grade_id": "b",
        "locked": False,
        "schema_version": 3,
    }
    (tmp_path / "src").mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[cell, text]), tmp_path / "src" / "01_x.ipynb")
    [out] = release.build(tmp_path / "out", tmp_path / "src")
    nb = nbformat.read(out, as_version=4)
    assert "6 * 7" not in nb.cells[0].source and "check(" in nb.cells[0].source
    assert nb.cells[1].source == release.TEXT_STUB


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_release_runs_and_every_check_fails(student_dir, path, monkeypatch, tmp_path):
    # run beside the source notebooks (the same working folder a student's copy would have)
    errors, results, keys = run_fast(
        student_dir / path.name, path.parent, monkeypatch, tmp_path, label="student "
    )
    assert not errors
    assert set(results) == keys, "every check of the notebook ran in the release"
    assert not any(results.values()), f"a check passed on the unanswered release: {results}"


def test_the_source_notebooks_work_in_an_nbgrader_course(tmp_path):
    """docs/INSTRUCTOR.md's claim: copy the notebooks to source/<assignment>/ and run
    ``nbgrader generate_assignment``; nbgrader validates the cell metadata and strips the same
    solutions (a markdown solution cell must also be a grade cell, for example)."""
    course = tmp_path / "course"
    (course / "source" / "week1").mkdir(parents=True)
    for path in NOTEBOOKS:
        (course / "source" / "week1" / path.name).write_bytes(path.read_bytes())
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        'c.CourseDirectory.course_id = "alignpro"\n'
        f'c.ClearSolutions.code_stub = {{"python": "{release.CODE_STUB}"}}\n'
    )
    bin_dir = str(Path(sys.executable).parent)  # nbgrader calls alembic from the same environment
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run(
        [str(Path(bin_dir) / "nbgrader"), "generate_assignment", "week1", "--force"],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    released = sorted((course / "release" / "week1").glob("*.ipynb"))
    assert [p.name for p in released] == [p.name for p in NOTEBOOKS]
    for src, out in zip(NOTEBOOKS, released):
        a, b = nbformat.read(src, as_version=4), nbformat.read(out, as_version=4)
        assert "BEGIN SOLUTION" not in "\n".join(c.source for c in b.cells)
        assert release.leftovers(a, b) == []


@pytest.mark.parametrize("where", ["root", "source", "root_parent"])
def test_the_release_never_overwrites_the_sources(where, tmp_path):
    target = {"root": ROOT, "source": ROOT / "notebooks", "root_parent": ROOT.parent}[where]
    before = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    with pytest.raises(ValueError, match="overwrite the source notebooks"):
        release.build(target)
    assert sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")) == before


def test_other_files_in_the_output_folder_are_kept(tmp_path):
    out = tmp_path / "build"
    (out / "replicate").mkdir(parents=True)
    (out / "replicate" / "precious.txt").write_text("two hours of work")
    release.build(out)
    assert (out / "replicate" / "precious.txt").read_text() == "two hours of work"
    assert (out / "01_closed_form.ipynb").exists()


def test_a_symlinked_out_cannot_reach_the_sources(tmp_path):
    """--out L with L -> notebooks/ replaced all 8 source notebooks (the guard compared the
    unresolved path)."""
    link = tmp_path / "L"
    link.symlink_to(ROOT / "notebooks")
    before = {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    with pytest.raises(ValueError, match="overwrite the source notebooks"):
        release.build(link)
    assert {p.name: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")} == before


def test_out_inside_the_repository_must_be_under_build(tmp_path):
    readme = (ROOT / "data" / "tasks" / "README.md").read_bytes()
    with pytest.raises(ValueError, match="outside build/"):
        release.build(ROOT / "data" / "tasks")
    assert (ROOT / "data" / "tasks" / "README.md").read_bytes() == readme
    assert not list((ROOT / "data" / "tasks").glob("*.ipynb"))


def test_a_students_edited_notebook_is_not_replaced(tmp_path):
    out = tmp_path / "student"
    release.build(out)
    nb = out / "01_closed_form.ipynb"
    release.build(out)  # rerunning over an untouched release is fine
    nb.write_text(nb.read_text() + " ")  # the student's work
    with pytest.raises(ValueError, match="edited since"):
        release.build(out)
    assert nb.read_text().endswith(" ")
    release.build(out, force=True)
    assert not nb.read_text().endswith(" ")


def test_a_students_edited_readme_is_not_replaced(tmp_path):
    """Only the notebooks were guarded: a student's notes in the release README were lost."""
    out = tmp_path / "student"
    release.build(out)
    readme = out / "README.md"
    readme.write_text(readme.read_text() + "\nmy notes\n")
    with pytest.raises(ValueError, match="README.md"):
        release.build(out)
    assert readme.read_text().endswith("my notes\n")
    release.build(out, force=True)
    assert "my notes" not in readme.read_text()
