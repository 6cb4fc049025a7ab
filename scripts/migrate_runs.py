"""Rewrite shipped run folders and reports from the first layout to today's keys (idempotent).

    python scripts/migrate_runs.py runs            # every run folder and report under runs/

* ``run.json``: the KL weight under its own name (``lam`` for align-pro, ``beta`` for rlhf) and
  the frozen model's decoding as separate keys (:func:`alignpro_lite.experiment.runs.migrate_run_config`);
* ``config.json`` (a second copy of the loop's settings, also kept in the checkpoint) is removed:
  one settings file per run;
* a report's ``samples.csv`` gains the ``lam`` and ``beta`` columns
  (:func:`alignpro_lite.experiment.evaluate.migrate_samples`).

Numbers do not change: tests check that the migrated files give the same tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from alignpro_lite.atomic import write_sealed_json
from alignpro_lite.experiment.evaluate import kl_weights_of_report, migrate_samples
from alignpro_lite.experiment.runs import RUN_FILE, RunConfig


def migrate_folder(root: Path) -> list[str]:
    """Migrate every run folder and report below ``root``; returns what changed."""
    changed = []
    for path in sorted(root.rglob(RUN_FILE)):
        old = json.loads(path.read_text(encoding="utf-8"))
        new = RunConfig.from_json(old, source=path).to_json()
        if new != old:
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(new, indent=1) + "\n", encoding="utf-8")
            tmp.replace(path)
            changed.append(str(path))
        extra = path.with_name("config.json")
        if extra.is_file():
            extra.unlink()
            changed.append(f"{extra} (removed)")
    for path in sorted(root.rglob("samples.csv")):
        old = pd.read_csv(path, keep_default_na=False)
        if {"lam", "beta"} <= set(old.columns):
            continue
        meta = path.with_name("report.json")
        runs = (
            json.loads(meta.read_text(encoding="utf-8")).get("runs", []) if meta.is_file() else []
        )
        tmp = path.with_suffix(".csv.tmp")
        migrate_samples(old, *kl_weights_of_report(runs)).to_csv(tmp, index=False)
        tmp.replace(path)
        if meta.is_file():  # the report's digests now describe the migrated file
            write_sealed_json(path.parent, meta.name, json.loads(meta.read_text(encoding="utf-8")))
        changed.append(str(path))
    return changed


if __name__ == "__main__":
    for line in migrate_folder(Path(sys.argv[1] if len(sys.argv) > 1 else "runs")):
        print(f"migrated {line}")
