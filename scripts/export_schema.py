"""Write the JSON Schema of every data and settings file into ``data/README.md``.

The schema is the pydantic models of :mod:`alignpro_lite.exact.schema` (and the settings files
``run.json`` / ``replicate.json``); this script renders each one's JSON Schema between the
markers of ``data/README.md``'s last section. ``--check`` exits 1 if the README is out of date
(``tests/test_problems.py`` runs it), without writing.

    .venv/bin/python scripts/export_schema.py          # rewrite the section
    .venv/bin/python scripts/export_schema.py --check  # is it current?
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from alignpro_lite.atomic import write_text_atomic
from alignpro_lite.config import data_dir
from alignpro_lite.exact.schema import json_schemas
from alignpro_lite.experiment.replicate import replicate_file_schema
from alignpro_lite.experiment.runs import run_file_schema

START = "<!-- json-schema:start (scripts/export_schema.py writes this section) -->"
END = "<!-- json-schema:end -->"


def all_schemas() -> dict[str, dict]:
    out = json_schemas()
    out["run settings (runs/*/run.json)"] = run_file_schema().model_json_schema()
    out["replication settings (replicate.json)"] = replicate_file_schema().model_json_schema()
    return out


def section() -> str:
    parts = [START, ""]
    for name, schema in all_schemas().items():
        parts += [f"<details><summary>{name}</summary>", "", "```json",
                  json.dumps(schema, indent=1, ensure_ascii=False), "```", "", "</details>", ""]  # fmt: skip
    parts.append(END)
    return "\n".join(parts)


def render(readme: str) -> str:
    """``readme`` with the generated section replaced (or appended under its heading)."""
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        return head + section() + rest.split(END, 1)[1]
    return (readme.rstrip("\n") + "\n\n## JSON Schema of every file (generated)\n\n"
            "The same rules as above, as JSON Schema (draft 2020-12) exported from the pydantic "
            "models; the size limits, sums to 1 and cross-file rules are checked by the loaders "
            "on top of it.\n\n" + section() + "\n")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if data/README.md is stale")
    args = ap.parse_args(argv)
    path = Path(data_dir()) / "README.md"
    old = path.read_text(encoding="utf-8")
    new = render(old)
    if args.check:
        if new != old:
            print(f"{path}: the JSON Schema section is out of date; run "
                  "scripts/export_schema.py", file=sys.stderr)  # fmt: skip
            return 1
        return 0
    if new != old:
        write_text_atomic(path, new)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
