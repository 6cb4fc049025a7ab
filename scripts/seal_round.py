"""Record the digests a resumed run checks in a replication written before they were recorded.

For every ``*/fit.json`` under the given folders: ``adapter_sha256`` of its ``adapter/``; for
every evaluation cache ``eval/{task}/*.csv``: ``csv_sha256`` in its ``.json`` key; for every
``report.json`` (a report folder): ``outputs_sha256`` of the folder's other files; for every
saved adapter: ``weights.sha256`` beside it (checked by ``lora.load_lora``). Values already
recorded are checked, not overwritten (a mismatch is reported and the script exits 1). Used once
on the shipped round 2 (``python scripts/seal_round.py runs/round2/seed0 runs/round2/seed1
runs/round2/seed2``); afterwards an edited adapter or cache is refused by name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from alignpro_lite.atomic import DIGESTS_KEY, file_sha256, write_sealed_json, write_text_atomic
from alignpro_lite.experiment.replicate import adapter_digest
from alignpro_lite.llm.lora import DIGEST_FILE, digest_text


def seal(folder: Path) -> tuple[int, list[str]]:
    done, bad = 0, []
    for f in sorted(folder.glob("**/fit.json")):
        info = json.loads(f.read_text(encoding="utf-8"))
        sha = adapter_digest(f.parent / "adapter")
        if info.get("adapter_sha256") not in (None, sha):
            bad.append(str(f))
        elif "adapter_sha256" not in info:
            write_text_atomic(f, json.dumps({**info, "adapter_sha256": sha}, indent=1))
            done += 1
    for csv in sorted({*folder.glob("**/eval/*.csv"), *folder.glob("**/eval/*/*.csv")}):
        key_path = csv.with_suffix(".json")
        if not key_path.is_file():
            continue
        key = json.loads(key_path.read_text(encoding="utf-8"))
        sha = file_sha256(csv)
        if key.get("csv_sha256") not in (None, sha):
            bad.append(str(csv))
        elif "csv_sha256" not in key:
            write_text_atomic(key_path, json.dumps({**key, "csv_sha256": sha}))
            done += 1
    for config in sorted(folder.glob("**/adapter_config.json")):  # every saved adapter
        digest = config.parent / DIGEST_FILE
        want = digest_text(config.parent)
        have = digest.read_text(encoding="utf-8") if digest.is_file() else None
        if have is not None and have.split("\n")[0] != want.split("\n")[0]:
            bad.append(str(digest))  # the weights changed since the digest was written
        elif have != want:  # none yet, or one without the config's line
            write_text_atomic(digest, want)
            done += 1
    if not (folder / "report.json").is_file() and any(folder.glob("*.csv")):
        write_sealed_json(folder, "report.json", {})  # a report folder without its report.json
        done += 1
    for meta_path in sorted({*folder.glob("**/report.json")}):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if DIGESTS_KEY in meta:
            continue  # sealed when written: verified by its readers
        write_sealed_json(meta_path.parent, meta_path.name, meta)
        done += 1
    return done, bad


def main(argv=None) -> int:
    folders = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not folders:
        print("usage: python scripts/seal_round.py FOLDER [FOLDER ...]", file=sys.stderr)
        return 2
    status = 0
    for d in folders:
        done, bad = seal(d)
        print(f"{d}: {done} digests recorded" + (f"; MISMATCH: {bad}" if bad else ""))
        status |= bool(bad)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
