"""Write the student release of the notebooks: nbgrader removes the worked solutions, the checks stay.

Usage (``make student``)::

    python scripts/student_release.py [--out build/student] [--source notebooks]

Solutions live in the source notebooks, the way nbgrader expects them (docs/INSTRUCTOR.md):

* in a code cell, between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the region becomes
  ``# YOUR CODE HERE``, so ``answer = None`` above it stays and the check below it says "not
  attempted yet" (a function keeps its signature and docstring and returns ``None``);
* a whole markdown cell marked as a solution (a derivation) becomes ``YOUR ANSWER HERE``.

Every cell with a solution carries nbgrader's cell metadata (``"solution": true``), so the
same notebooks also work with ``nbgrader generate_assignment`` in a course folder. This script
runs nbgrader's own preprocessors (``ClearSolutions``, ``ClearOutput``) on each notebook, checks
that no solution text is left, and writes the release atomically as a set (staged beside the
output folder and swapped in; other files there are kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE"
TEXT_STUB = "YOUR ANSWER HERE"
README = """# Student release

The course notebooks with the worked solutions removed (made by `make student`). Run them
from the project's environment (`make lab`, then open these files), top to bottom. Each
exercise cell ends with `apl.exercises.check(...)`, which says ✓ or ✗;
`apl.exercises.hint("NN.k")` prints a hint on demand.
"""


def is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def solution_lines(cell) -> list[str]:
    """The stripped, non-trivial lines of a cell's solution (what must not reach students)."""
    lines = cell.source.splitlines()
    if cell.cell_type == "markdown":
        chosen = lines if is_solution(cell) else []
    else:
        chosen, inside = [], False
        for line in lines:
            if BEGIN in line:
                inside = True
            elif END in line:
                inside = False
            elif inside:
                chosen.append(line)
    trivial = {"", "answer = None", CODE_STUB}
    return [s.strip() for s in chosen if s.strip() not in trivial and not s.strip().startswith("#")]


def strip_solutions(nb):
    """The student version of one notebook (nbgrader's ClearSolutions and ClearOutput)."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    for cell in nb.cells:
        has_region = BEGIN in cell.source or END in cell.source
        if has_region and not is_solution(cell):
            first = cell.source.splitlines()[0][:60]
            raise ValueError(
                f"a cell has solution markers but no nbgrader solution metadata ({first!r}); "
                "mark it as a solution cell (metadata nbgrader.solution = true)."
            )
    clear = ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=TEXT_STUB)
    nb, _ = clear.preprocess(nb, {})
    nb, _ = ClearOutput().preprocess(nb, {})
    return nb


def leftovers(source_nb, student_nb) -> list[str]:
    """Solution lines of ``source_nb`` that survive in the same cell of ``student_nb``, and any
    marker left anywhere (should be [])."""
    text = "\n".join(c.source for c in student_nb.cells)
    found = [BEGIN, END] if (BEGIN in text or END in text) else []
    if len(student_nb.cells) != len(source_nb.cells):
        return found + ["(the release has a different number of cells)"]
    for cell, student in zip(source_nb.cells, student_nb.cells):
        student_lines = {s.strip() for s in student.source.splitlines()}
        found += [s for s in solution_lines(cell) if s in student_lines]
    return found


MANIFEST = ".release.json"


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_not_edited(out: Path, force: bool) -> None:
    """Refuse to replace notebooks (and the release's README) in ``out`` that are not byte for
    byte what the last release wrote there (a student's work), unless ``force``."""
    import json

    if force or not out.is_dir():
        return
    existing = sorted(out.glob("[0-9][0-9]_*.ipynb"))
    if not existing:
        return
    m = out / MANIFEST
    written = json.loads(m.read_text(encoding="utf-8")) if m.is_file() else {}
    if "README.md" in written and (out / "README.md").is_file():
        existing.append(out / "README.md")  # releases that recorded it: it is guarded too
    edited = [p.name for p in existing if written.get(p.name) != _digest(p)]
    if edited:
        raise ValueError(
            f"--out {str(out)!r} holds notebooks that the last release did not write or that "
            f"were edited since ({', '.join(edited[:3])}{', …' if len(edited) > 3 else ''}); "
            "a release would replace them. Give another folder, or pass --force to overwrite."
        )


def build(out: Path, source: Path = ROOT / "notebooks", force: bool = False) -> list[Path]:
    """Write the student release of every ``NN_*.ipynb`` in ``source`` into ``out``.

    The set is staged beside ``out`` and swapped in (``alignpro_lite.atomic.staged_dir``): other
    files already in ``out`` are kept, an interrupted build leaves ``out`` untouched. ``out``
    may not be the repository, the source folder, or a folder that contains either, nor land
    (symbolic links followed) anywhere in the repository outside ``build/``; notebooks already
    in ``out`` that the last release did not write unchanged (``.release.json`` holds their
    digests) are not replaced unless ``force``.
    """
    from alignpro_lite.atomic import staged_dir

    source = Path(source)
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise ValueError(
            f"no notebooks NN_*.ipynb in {source}; pass --source the notebooks folder."
        )
    target = Path(os.path.abspath(out))
    real = Path(os.path.realpath(out))  # where the files would really land (links followed)
    for protected in (ROOT, source.resolve()):
        for t in (target, real):
            if t == protected or t in protected.parents:
                raise ValueError(
                    f"--out {str(out)!r} is or contains {protected}; the release would overwrite "
                    "the source notebooks. Give a separate folder, e.g. --out build/student."
                )
    if (real == ROOT or ROOT in real.parents) and not (
        real == ROOT / "build" or (ROOT / "build") in real.parents
    ):
        raise ValueError(
            f"--out {str(out)!r} lands in the repository at {real.relative_to(ROOT)}, outside "
            "build/; the release would write over tracked files. Give a folder under build/ "
            "(e.g. --out build/student) or outside the repository."
        )  # fmt: skip
    _check_not_edited(real, force)
    students = [(path, strip_solutions(nbformat.read(path, as_version=4))) for path in paths]
    for path, student in students:
        left = leftovers(nbformat.read(path, as_version=4), student)
        if left:
            raise ValueError(f"{path.name}: solution text survived the release: {left[:3]}")
    import json

    names = [p.name for p in paths] + ["README.md", MANIFEST]
    with staged_dir(real, flag="--out", owned=names) as tmp:
        for path, student in students:
            nbformat.write(student, tmp / path.name)
        (tmp / "README.md").write_text(README)
        digests = {path.name: _digest(tmp / path.name) for path, _ in students}
        digests["README.md"] = _digest(tmp / "README.md")
        (tmp / MANIFEST).write_text(json.dumps(digests, indent=1), encoding="utf-8")
    return [target / p.name for p in paths]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("STUDENT_OUT") or "build/student")
    ap.add_argument("--source", default=str(ROOT / "notebooks"))
    ap.add_argument("--force", action="store_true",
                    help="replace notebooks in --out even if they were edited since the last release")  # fmt: skip
    args = ap.parse_args(argv)
    try:
        written = build(Path(args.out), Path(args.source), force=args.force)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"student release: {len(written)} notebooks in {args.out} (solutions removed, checks kept)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
