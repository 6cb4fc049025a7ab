"""The preregistration's fingerprint: what the evaluation is, as data a test can recompute.

``runs/PREREGISTRATION.md`` fixes the evaluation before any test number of the capstone runs is
seen. Its ``fingerprint`` block lists what must not change afterwards: the SHA-256 of every task
file, the versions of the training rewards and of the gold judges, the frozen model's decoding,
the evaluation's seed and sample count, and the preregistered λ and β per task.
``tests/test_preregistration.py`` recomputes :func:`fingerprint` and fails on any difference,
so a change to the evaluation cannot pass silently; a deliberate change is a new, dated entry in
the document's deviations section.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = [
    "fingerprint",
    "fingerprint_lines",
    "read_fingerprint",
    "round2_fingerprint",
    "ROUND2_SEEDS",
]

ROUND2_SEEDS = (0, 1, 2)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint() -> dict[str, str]:
    """``{name: value}`` of everything the preregistration fixes (all values are strings)."""
    import pandas as pd

    from alignpro_lite.config import data_dir
    from alignpro_lite.experiment.evaluate import EVAL_SEED, N_SAMPLES
    from alignpro_lite.llm.frozen import PI_F_DECODING
    from alignpro_lite.llm.judges import gold_judge
    from alignpro_lite.llm.rewards import get_reward
    from alignpro_lite.llm.tasks import SPLITS, TASKS, task_path

    out: dict[str, str] = {}
    for task in TASKS:
        for split in SPLITS:
            out[f"task file {task}_{split}.jsonl"] = _sha256(task_path(task, split))
    for task in TASKS:
        out[f"reward {task}"] = hashlib.sha256(get_reward(task).version.encode()).hexdigest()[:16]
        out[f"gold judge {task}"] = hashlib.sha256(gold_judge(task).version.encode()).hexdigest()[
            :16
        ]
    out["pi_F decoding"] = json.dumps(PI_F_DECODING.kwargs(), sort_keys=True)
    out["eval seed"] = str(EVAL_SEED)
    out["answers per test prompt"] = str(N_SAMPLES)
    weights = pd.read_csv(data_dir() / "headroom" / "weights.csv").set_index("task")
    for task in TASKS:
        out[f"lambda {task}"] = f"{weights.loc[task, 'lam']:.4g}"
        out[f"beta {task}"] = f"{weights.loc[task, 'beta']:.4g}"
    return out


def round2_fingerprint() -> dict[str, str]:
    """What round 2 fixes beyond :func:`fingerprint`: each seed's replication settings
    (:func:`~alignpro_lite.experiment.replicate.round2_config`, their SHA-256), the seeds, the
    NoFT pool size and the pooled comparisons (:mod:`alignpro_lite.experiment.pooled`)."""
    from alignpro_lite.experiment.pooled import COMPARISONS
    from alignpro_lite.experiment.replicate import round2_config

    out: dict[str, str] = {"seeds": ",".join(map(str, ROUND2_SEEDS))}
    for s in ROUND2_SEEDS:
        cfg = json.dumps(round2_config(s).to_json(), sort_keys=True)
        out[f"settings seed {s}"] = hashlib.sha256(cfg.encode()).hexdigest()[:16]
    out["NoFT answers per test prompt"] = str(round2_config(0).bon_pool)
    out["comparisons"] = "; ".join(f"{a} - {b}" for a, b in COMPARISONS)
    return out


def fingerprint_lines(block: str = "fingerprint") -> str:
    """A fingerprint as the ``name: value`` lines of the document's block (``block``:
    ``"fingerprint"`` or ``"fingerprint-round2"``)."""
    fp = round2_fingerprint() if block == "fingerprint-round2" else fingerprint()
    return "\n".join(f"{k}: {v}" for k, v in fp.items())


def read_fingerprint(path: str | Path, block: str = "fingerprint") -> dict[str, str]:
    """The fenced block tagged ``fingerprint`` (or another ``block`` tag) of a preregistration
    document as ``{name: value}``."""
    text = Path(path).read_text(encoding="utf-8")
    tag = f"```{block}\n"
    start = text.find(tag)
    if start < 0:
        raise ValueError(f"{path} has no ```{block} block.")
    body = text[start + len(tag) :].split("```", 1)[0]
    return dict(line.split(": ", 1) for line in body.strip().splitlines())
