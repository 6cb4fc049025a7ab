"""The three task families under ``data/tasks/``: user prompts ``x`` with candidate rewrites ``x'``.

Each family has ``{task}_{train,test}.jsonl`` files, one prompt per line (schema in
``data/tasks/README.md``)::

    {"id": "kind-train-001", "task": "kindness", "split": "train", "prompt": "...",
     "label": "harmful" | "benign" | null, "reference": "..." | null,
     "candidates": [{"text": "...", "kind": "original" | "instruction" | "bad"}, ...]}

Candidate 0 is the original prompt verbatim (DESIGN.md: ``pi_ref = pi_F[:, 0]``). ``label`` is
required for harmlessness and ``reference`` for helpfulness; the rewards look them up by the
*original* prompt text (:func:`label_lookup`, :func:`reference_lookup`), because ``r(x, y)``
judges a response against the user's prompt ``x``, never against the rewrite ``x'``.

    >>> prompts = load_task("kindness", "train")
    >>> xs, cands = candidate_lists(prompts)      # list[str] (n_x,), list[list[str]] (n_x, n_c)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alignpro_lite.config import data_dir

TASKS = ("kindness", "harmlessness", "helpfulness")
SPLITS = ("train", "test")
LABELS = ("harmful", "benign")
CANDIDATE_KINDS = ("original", "instruction", "bad")
FIELDS = ("id", "task", "split", "prompt", "label", "reference", "candidates")


@dataclass(frozen=True)
class Candidate:
    """One rewrite ``x'`` of a prompt; ``kind`` says how it was made."""

    text: str
    kind: str  # "original" | "instruction" | "bad"


@dataclass(frozen=True)
class TaskPrompt:
    """One user prompt ``x`` with its candidate rewrites (candidate 0 = ``x`` itself)."""

    id: str
    task: str
    split: str
    prompt: str
    label: str | None  # "harmful" | "benign" (harmlessness), else None
    reference: str | None  # short correct answer (helpfulness), else None
    candidates: tuple[Candidate, ...]

    @property
    def candidate_texts(self) -> list[str]:
        """The rewrites ``x'`` as strings, original first."""
        return [c.text for c in self.candidates]

    @property
    def candidate_kinds(self) -> list[str]:
        return [c.kind for c in self.candidates]


def task_dir() -> Path:
    """Folder of the task files (``<data_dir>/tasks``)."""
    return data_dir() / "tasks"


def task_path(task: str, split: str = "train") -> Path:
    """Where the file of ``task``/``split`` is expected: ``<data_dir>/tasks/{task}_{split}.jsonl``."""
    _check_name(task, "task", TASKS)
    _check_name(split, "split", SPLITS)
    return task_dir() / f"{task}_{split}.jsonl"


def load_task(task: str, split: str = "train") -> list[TaskPrompt]:
    """Load and validate the prompts of one task family and split.

    Raises ``ValueError`` for an unknown task/split, a missing file (saying which file is
    expected where), or any bad line (see :func:`load_task_file`), and when a line's ``task`` or
    ``split`` does not match the file it is in.
    """
    path = task_path(task, split)
    prompts = load_task_file(path)
    for p in prompts:
        if p.task != task or p.split != split:
            raise ValueError(
                f"{path}: prompt {p.id!r} says task={p.task!r}, split={p.split!r}, but this file "
                f"holds task={task!r}, split={split!r}; move the line to "
                f"{p.task}_{p.split}.jsonl or fix its fields."
            )
    return prompts


def load_task_file(path: str | Path) -> list[TaskPrompt]:
    """Load and validate any task JSONL file (blank lines are skipped).

    Every error names the file and line number: bad JSON, a missing or unknown field, an unknown
    task/split/label/kind, candidate 0 not the original prompt, fewer than 2 candidates,
    duplicate candidate texts, a duplicate id or prompt text in the file, a harmlessness prompt
    without ``label``, a helpfulness prompt without ``reference``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"task file {str(path)!r} does not exist. Task files live in {task_dir()} as "
            f"{{task}}_{{split}}.jsonl with task in {TASKS} and split in {SPLITS} "
            "(regenerate them with `python scripts/make_task_data.py`, or point ALIGNPRO_DATA "
            "at a folder that has a tasks/ subfolder)."
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err}).") from None
    prompts: list[TaskPrompt] = []
    seen_ids: dict[str, int] = {}
    seen_prompts: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{where}: not valid JSON ({err.msg} at column {err.colno})."
            ) from None
        try:
            prompt = parse_record(record)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if prompt.id in seen_ids:
            raise ValueError(
                f"{where}: duplicate id {prompt.id!r} (first used on line {seen_ids[prompt.id]}); "
                "ids must be unique."
            )
        key = prompt.prompt.strip()
        if key in seen_prompts:
            raise ValueError(
                f"{where}: duplicate prompt text (same as line {seen_prompts[key]}); the rewards "
                "look labels and references up by prompt text, so each prompt may appear once."
            )
        seen_ids[prompt.id] = lineno
        seen_prompts[key] = lineno
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: the file has no prompts (it is empty).")
    return prompts


def parse_record(record: object) -> TaskPrompt:
    """Validate one parsed JSON line and build a :class:`TaskPrompt` (errors without location)."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}.")
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"missing field(s) {missing}; every line needs {list(FIELDS)}.")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; allowed fields are {list(FIELDS)}.")
    id_ = _nonempty_str(record["id"], "id")
    task = _nonempty_str(record["task"], "task")
    _check_name(task, "task", TASKS)
    split = _nonempty_str(record["split"], "split")
    _check_name(split, "split", SPLITS)
    prompt = _nonempty_str(record["prompt"], "prompt")

    label = record["label"]
    if label is not None and label not in LABELS:
        raise ValueError(f"label must be one of {LABELS} or null, got {label!r}.")
    if task == "harmlessness" and label is None:
        raise ValueError("a harmlessness prompt needs label 'harmful' or 'benign', got null.")
    reference = record["reference"]
    if reference is not None:
        reference = _nonempty_str(reference, "reference")
    if task == "helpfulness" and reference is None:
        raise ValueError("a helpfulness prompt needs a reference answer, got null.")

    raw = record["candidates"]
    if not isinstance(raw, list) or len(raw) < 2:
        n = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise ValueError(
            f"candidates must be a list of at least 2 rewrites (the original first), got {n}."
        )
    candidates = []
    for j, c in enumerate(raw):
        if not isinstance(c, dict) or set(c) != {"text", "kind"}:
            raise ValueError(f"candidate {j} must be an object with exactly 'text' and 'kind'.")
        text = _nonempty_str(c["text"], f"candidate {j} text")
        if c["kind"] not in CANDIDATE_KINDS:
            raise ValueError(
                f"candidate {j} kind must be one of {CANDIDATE_KINDS}, got {c['kind']!r}."
            )
        candidates.append(Candidate(text=text, kind=c["kind"]))
    if candidates[0].text != prompt or candidates[0].kind != "original":
        raise ValueError(
            "candidate 0 must be the original prompt verbatim with kind 'original', got "
            f"{candidates[0].text!r} (kind {candidates[0].kind!r})."
        )
    if any(c.kind == "original" for c in candidates[1:]):
        raise ValueError("only candidate 0 may have kind 'original'.")
    texts = [c.text.strip() for c in candidates]
    if len(set(texts)) != len(texts):
        dup = next(t for t in texts if texts.count(t) > 1)
        raise ValueError(f"duplicate candidate text {dup!r}; each rewrite must differ.")
    return TaskPrompt(id_, task, split, prompt, label, reference, tuple(candidates))


# --------------------------------------------------------------------------- views for other modules
def candidate_lists(prompts: list[TaskPrompt]) -> tuple[list[str], list[list[str]]]:
    """``(xs, candidates)``: the original prompts ``(n_x,)`` and their rewrites ``(n_x, n_c_i)``."""
    return [p.prompt for p in prompts], [p.candidate_texts for p in prompts]


def candidate_kinds(prompts: list[TaskPrompt]) -> list[list[str]]:
    """The ``kind`` of every candidate, ``(n_x, n_c_i)``: mark the ``bad`` ones in plots."""
    return [p.candidate_kinds for p in prompts]


def label_lookup(task: str = "harmlessness", splits: tuple[str, ...] = SPLITS) -> dict[str, str]:
    """Original prompt text -> ``"harmful"``/``"benign"`` over the given splits of ``task``."""
    return _lookup(task, splits, "label")


def reference_lookup(task: str = "helpfulness", splits: tuple[str, ...] = SPLITS) -> dict[str, str]:
    """Original prompt text -> reference answer over the given splits of ``task``."""
    return _lookup(task, splits, "reference")


def _lookup(task: str, splits: tuple[str, ...], attr: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for split in splits:
        for p in load_task(task, split):
            value = getattr(p, attr)
            if value is None:
                continue
            key = p.prompt.strip()
            if key in table and table[key] != value:
                raise ValueError(
                    f"prompt {p.prompt!r} has two different {attr}s across {task} splits: "
                    f"{table[key]!r} and {value!r}."
                )
            table[key] = value
    return table


# --------------------------------------------------------------------------- small checks
def _check_name(value: str, name: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; choose one of {allowed}.")


def _nonempty_str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}.")
    return value
