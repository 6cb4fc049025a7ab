"""The three task families under ``data/tasks/``: user prompts ``x`` with candidate rewrites ``x'``.

Each family has ``{task}_{train,test}.jsonl`` files, one prompt per line (schema in
``data/tasks/README.md``)::

    {"id": "kind-train-001", "task": "kindness", "split": "train", "prompt": "...",
     "label": "harmful" | "benign" | null, "reference": "..." | null, "key": [...] | null,
     "candidates": [{"text": "...", "kind": "original" | "instruction" | "bad",
                     "type": "original" | "bad" | <template name>}, ...]}

Candidate 0 is the original prompt verbatim (docs/design.md §2: ``pi_ref = pi_F[:, 0]``). ``label`` is
required for harmlessness and ``reference`` for helpfulness; the rewards look them up by the
*original* prompt text (:func:`label_lookup`, :func:`reference_lookup`), because ``r(x, y)``
judges a response against the user's prompt ``x``, never against the rewrite ``x'``.

    >>> prompts = load_task("kindness", "train")
    >>> xs, cands = candidate_lists(prompts)      # list[str] (n_x,), list[list[str]] (n_x, n_c)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alignpro_lite.config import data_dir
from alignpro_lite.exact import schema
from alignpro_lite.exact.schema import (
    CANDIDATE_KINDS,
    LABELS,
    SPLITS,
    TASKS,
    at_field,
    at_item,
    fail,
)

__all__ = [
    "CANDIDATE_KINDS",
    "FIELDS",
    "LABELS",
    "SPLITS",
    "TASKS",
    "Candidate",
    "TaskPrompt",
    "candidate_kinds",
    "candidate_lists",
    "key_lookup",
    "label_lookup",
    "load_task",
    "load_task_file",
    "parse_record",
    "reference_lookup",
    "task_dir",
    "task_path",
]

FIELDS = schema.TASK_RECORD.field_names()  # every line has exactly these


@dataclass(frozen=True)
class Candidate:
    """One rewrite ``x'`` of a prompt; ``kind`` says how it was made."""

    text: str
    kind: str  # "original" | "instruction" | "bad"
    type: str = ""  # "original", "bad" or the template's name


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
    key: tuple[str, ...] | None = None  # key answers (helpfulness): any one in a reply = correct

    @property
    def candidate_texts(self) -> list[str]:
        """The rewrites ``x'`` as strings, original first."""
        return [c.text for c in self.candidates]

    @property
    def candidate_kinds(self) -> list[str]:
        return [c.kind for c in self.candidates]

    @property
    def candidate_types(self) -> list[str]:
        """The rewrite type of every candidate (``"original"``, ``"bad"`` or a template name)."""
        return [c.type for c in self.candidates]


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
    ``split`` does not match the file it is in (naming the file, the line, the id and the field).
    """
    return load_task_file(task_path(task, split), task=task, split=split)


def load_task_file(
    path: str | Path, task: str | None = None, split: str | None = None
) -> list[TaskPrompt]:
    """Load and validate any task JSONL file (blank lines are skipped).

    Every error names the file, the line number and (once it is known) the prompt's id and the
    field: bad JSON, bytes that are not UTF-8, a missing or unknown field (the closest known one
    is suggested), a wrong type, an unknown task/split/label/kind, candidate 0 not the original
    prompt, fewer than 2 candidates, duplicate candidate texts, a duplicate id or prompt text in
    the file, a harmlessness prompt without ``label``, a helpfulness prompt without
    ``reference`` (and ``label``/``reference`` on the other tasks). With ``task``/``split``
    every line must carry them (checked before the task-specific fields).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"task file {str(path)!r} does not exist. Task files live in {task_dir()} as "
            f"{{task}}_{{split}}.jsonl with task in {TASKS} and split in {SPLITS} "
            "(regenerate them with `python scripts/make_task_data.py`, or point ALIGNPRO_DATA "
            "at a folder that has a tasks/ subfolder)."
        )
    prompts: list[TaskPrompt] = []
    seen_ids: dict[str, int] = {}
    seen_prompts: dict[str, int] = {}
    for lineno, line in schema.jsonl_lines(path, "task file"):
        where = f"line {lineno}"
        try:
            record = schema.parse_json(line)
        except ValueError as err:
            raise ValueError(f"{path}, {where}: {err}") from None
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            where += f" (id {schema.quote(record['id'], 40)})"
        try:
            prompt = parse_record(record, task=task, split=split, loc=schema.at(where))
        except ValueError as err:
            raise ValueError(f"{path}, {err}") from None
        where = f"{path}, {where}"
        if prompt.id in seen_ids:
            raise ValueError(
                f"{where}, field 'id': duplicate id {prompt.id!r} (first used on line "
                f"{seen_ids[prompt.id]}); ids must be unique."
            )
        key = prompt.prompt.strip()
        if key in seen_prompts:
            raise ValueError(
                f"{where}, field 'prompt': duplicate prompt text (same as line "
                f"{seen_prompts[key]}); the rewards look labels and references up by prompt "
                "text, so each prompt may appear once."
            )
        if len(prompts) >= schema.MAX_PROMPTS:
            raise ValueError(
                f"{where}: more than {schema.MAX_PROMPTS} prompts in one file (the size limit "
                "in data/README.md); split the file."
            )
        seen_ids[prompt.id] = lineno
        seen_prompts[key] = lineno
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"{path}: the file has no prompts (it is empty).")
    return prompts


def parse_record(
    record: object, task: str | None = None, split: str | None = None, loc: tuple = ()
) -> TaskPrompt:
    """Validate one parsed JSON line and build a :class:`TaskPrompt` (errors without the file).

    The structure (fields, types, enums, sizes) is :data:`alignpro_lite.exact.schema.TASK_RECORD`;
    ``task``/``split``, when given, are what the file holds and every line must match them.
    ``loc`` (e.g. ``schema.at("line 3")``) starts the location in error messages.
    """
    rec = schema.TASK_RECORD.check(record, loc)
    for key, want in (("task", task), ("split", split)):
        if want is not None and rec[key] != want:
            fail(
                at_field(loc, key),
                f"this line says task={rec['task']!r}, split={rec['split']!r}, but the file "
                f"holds task={task!r}, split={split!r}; move the line to "
                f"{rec['task']}_{rec['split']}.jsonl or fix its '{key}' field.",
            )
    kind = rec["task"]
    label, reference = rec["label"], rec["reference"]
    if kind == "harmlessness" and label is None:
        fail(
            at_field(loc, "label"),
            "a harmlessness prompt needs label 'harmful' or 'benign', got null.",
        )
    if kind != "harmlessness" and label is not None:
        fail(
            at_field(loc, "label"),
            f"only harmlessness prompts have a label; this {kind} prompt has {label!r}. Set it "
            "to null (or fix the 'task' field).",
        )
    if kind == "helpfulness" and reference is None:
        fail(
            at_field(loc, "reference"),
            "a helpfulness prompt needs a reference answer (one or two correct sentences), "
            "got null.",
        )
    if kind != "helpfulness" and reference is not None:
        fail(
            at_field(loc, "reference"),
            f"only helpfulness prompts have a reference answer; this {kind} prompt has one. "
            "Set it to null (or fix the 'task' field).",
        )
    key = rec.get("key")
    if kind == "helpfulness" and key is None:
        fail(
            at_field(loc, "key"),
            "a helpfulness prompt needs a key: a list of short answers, any one of which in a "
            'reply makes it correct (e.g. ["Canberra"]), got null.',
        )
    if kind != "helpfulness" and key is not None:
        fail(
            at_field(loc, "key"),
            f"only helpfulness prompts have key answers; this {kind} prompt has {key!r}. Set it "
            "to null (or fix the 'task' field).",
        )
    if key is not None:
        for j, k in enumerate(key):
            if not k.strip():
                fail(at_item(at_field(loc, "key"), "key", j), "a key answer may not be blank.")
    prompt = rec["prompt"]
    candidates = tuple(
        Candidate(text=c["text"], kind=c["kind"], type=c.get("type") or c["kind"])
        for c in rec["candidates"]
    )
    if candidates[0].text != prompt or candidates[0].kind != "original":
        fail(
            at_item(loc, "candidate", 0),
            "candidate 0 must be the original prompt verbatim with kind 'original', got "
            f"{schema.quote(candidates[0].text)} (kind {candidates[0].kind!r}).",
        )
    for j, c in enumerate(candidates[1:], start=1):
        if c.kind == "original":
            fail(
                at_field(at_item(loc, "candidate", j), "kind"),
                "only candidate 0 may have kind 'original'.",
            )
    first: dict[str, int] = {}
    for j, c in enumerate(candidates):
        text = c.text.strip()
        if text in first:
            fail(
                at_field(at_item(loc, "candidate", j), "text"),
                f"duplicate candidate text {schema.quote(c.text)} (same as candidate "
                f"{first[text]}); each rewrite must differ.",
            )
        first[text] = j
    for j, c in enumerate(candidates):
        if (c.kind in ("original", "bad") or c.type in ("original", "bad")) and c.type != c.kind:
            fail(
                at_field(at_item(loc, "candidate", j), "type"),
                f"an {c.kind!r} candidate has type {c.type!r}; the types 'original' and 'bad' "
                "go with the kinds of the same name, instruction rewrites name their template.",
            )
    return TaskPrompt(
        rec["id"], kind, rec["split"], prompt, label, reference, candidates,
        tuple(key) if key is not None else None,
    )  # fmt: skip


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


def key_lookup(
    task: str = "helpfulness", splits: tuple[str, ...] = SPLITS
) -> dict[str, tuple[str, ...]]:
    """Original prompt text -> key answers over the given splits of ``task``."""
    return _lookup(task, splits, "key")


def _lookup(task: str, splits: tuple[str, ...], attr: str) -> dict:
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
