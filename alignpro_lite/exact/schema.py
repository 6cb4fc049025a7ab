"""The data files' schema: one pydantic model per file type (and per part of one).

Problem files (full and estimated form), task tables written by ``alignpro-lite estimate``, their
samples lines and the task files' lines are :class:`~alignpro_lite.exact.records.Record` models:
``Model.check(value, loc)`` returns a clean copy or a ``ValueError`` that names the location and
the field, says what is wrong and how to fix it. The settings files (``run.json``,
``replicate.json``) get models built from their dataclasses (:func:`settings_record`).

The callers (:mod:`alignpro_lite.exact.problems`, :mod:`alignpro_lite.llm.tables`,
:mod:`alignpro_lite.llm.tasks`, the run files of :mod:`alignpro_lite.experiment`) prefix the file
name (and line) and add the rules that span several fields or files (sums to 1, candidate 0 =
the original, reward ranges, table <-> task file). :func:`json_schemas` exports the JSON Schema
of every file type; ``data/README.md`` carries it (``scripts/export_schema.py``), with the size
limits and the cross-field rules.
"""

from __future__ import annotations

import math
from typing import Annotated, ClassVar

from pydantic import Field

from alignpro_lite.exact.jsonio import (  # noqa: F401  (re-exported: the readers)
    MAX_FILE_BYTES,
    JsonObject,
    jsonl_lines,
    load_json,
    parse_json,
    read_text,
)
from alignpro_lite.exact.records import (  # noqa: F401  (re-exported: limits, locations)
    MAX_ABS,
    MAX_CANDIDATES,
    MAX_CELLS,
    MAX_DEPTH,
    MAX_PROMPTS,
    MAX_RESPONSES,
    MAX_SAMPLES,
    MAX_TEXT,
    AnyJson,
    Enum,
    ListOf,
    Loc,
    Num,
    Record,
    Str,
    at,
    at_field,
    at_item,
    fail,
    fmt,
    quote,
    render,
    show,
    unknown_key_message,
)

# --------------------------------------------------------------------------- shared vocabularies
TASKS = ("kindness", "harmlessness", "helpfulness")
SPLITS = ("train", "test")
LABELS = ("harmful", "benign")
CANDIDATE_KINDS = ("original", "instruction", "bad")

PROB_SUM_ATOL = 1e-3  # rho_sft and pi_F may sum to 1 +- this (then renormalised)


# --------------------------------------------------------------------------- the schemas
def _range_rule(values: list) -> str | None:
    lo, hi = values
    if not lo < hi:
        return f"must be [lo, hi] with lo < hi, got [{fmt(lo)}, {fmt(hi)}]."
    return None


_FULL_ONLY = (
    "belongs to the full form (a prompt with 'responses'); this file is in estimated form "
    "(prompt 0 has no 'responses'). Either every prompt has 'responses' and every candidate "
    "'pi_F', or no prompt has 'responses' and every candidate has 'R' (and 'V')."
)
_TABLE_ONLY = (
    "belongs to the estimated form (no 'responses'); this file is in full form (prompt 0 has "
    "'responses'). Either every prompt has 'responses' and every candidate 'pi_F', or no prompt "
    "has 'responses' and every candidate has 'R' (and 'V')."
)


def _doc(text: str):
    return Field(description=text)


class Response(Record):
    what: ClassVar[str] = "response"
    text: Annotated[Str(empty_ok=True), _doc("the answer y")]
    reward: Annotated[Num(), _doc("r(x, y), judged against the original prompt")]


_Sim = Annotated[Num(-1.0, 1.0), _doc("semantic preservation cos(x, x')")]
_Kind = Annotated[Enum(CANDIDATE_KINDS, "kind"), _doc("how the rewrite was made")]


class CandidateFull(Record):
    what: ClassVar[str] = "candidate (full form)"
    misplaced: ClassVar[dict[str, str]] = {
        "R": f"'R' {_TABLE_ONLY}", "V": f"'V' {_TABLE_ONLY}", "se": f"'se' {_TABLE_ONLY}"}  # fmt: skip
    text: Annotated[Str(), _doc("the rewrite x'; candidate 0 is the original prompt")]
    rho_sft: Annotated[Num(0.0, 1.0), _doc("rho_sft(x'|x); a prompt's candidates sum to 1")]
    pi_F: Annotated[
        ListOf(Num(0.0, 1.0), min_len=1, max_len=MAX_RESPONSES, plural="probabilities"),
        _doc("pi_F(y|x'), one probability per response of the prompt, summing to 1"),
    ]
    sim: _Sim = None
    kind: _Kind = None


_V = Annotated[Num(0.0, MAX_ABS**2), _doc("variance of the reward over answers, >= 0 (default 0)")]
_SE = Annotated[Num(0.0, MAX_ABS), _doc("standard error of R, >= 0")]


class CandidateTable(Record):
    what: ClassVar[str] = "candidate (estimated form)"
    misplaced: ClassVar[dict[str, str]] = {"pi_F": f"'pi_F' {_FULL_ONLY}"}
    text: Annotated[Str(), _doc("the rewrite x'; candidate 0 is the original prompt")]
    rho_sft: Annotated[Num(0.0, 1.0), _doc("rho_sft(x'|x); a prompt's candidates sum to 1")]
    R: Annotated[Num(), _doc("R(x, x'), the mean reward of the rewrite")]
    V: _V = 0.0
    se: _SE = 0.0
    sim: _Sim = None
    kind: _Kind = None


_Text = Annotated[Str(), _doc("the user prompt x")]
_Weight = Annotated[
    Num(0.0, MAX_ABS), _doc("P(x) before normalisation, >= 0; omit it for the default 1")
]
_CANDIDATES = "the rewrites, the original prompt first"


class PromptFull(Record):
    what: ClassVar[str] = "prompt (full form)"
    text: _Text
    weight: _Weight = 1.0
    responses: Annotated[
        ListOf(Response, 1, MAX_RESPONSES, label="response", plural="responses"),
        _doc("the answers with their rewards; in the full form every prompt has 'responses' "
             "(prompt 0 has them), in the estimated form none does"),
    ]  # fmt: skip
    candidates: Annotated[
        ListOf(CandidateFull, 1, MAX_CANDIDATES, label="candidate", plural="candidates"),
        _doc(_CANDIDATES),
    ]


class PromptTable(Record):
    what: ClassVar[str] = "prompt (estimated form)"
    misplaced: ClassVar[dict[str, str]] = {"responses": f"'responses' {_FULL_ONLY}"}
    text: _Text
    weight: _Weight = 1.0
    candidates: Annotated[
        ListOf(CandidateTable, 1, MAX_CANDIDATES, label="candidate", plural="candidates"),
        _doc(_CANDIDATES),
    ]


class Meta(Record):
    what: ClassVar[str] = "table meta"
    task: Annotated[Str(), _doc("the task family")] = None
    split: Annotated[Str(), _doc("the split")] = None
    n: Annotated[Num(1, MAX_SAMPLES, integer=True), _doc("answers per rewrite")] = None
    seed: Annotated[Num(0, 2**64, integer=True), _doc("sampling seed")] = None
    reward: Annotated[Str(), _doc("reward id name@version")] = None
    sampling: Annotated[AnyJson, _doc("generation settings")] = None
    model: Annotated[Str(), _doc("frozen LLM fingerprint")] = None
    max_prompts: Annotated[
        Num(1, MAX_PROMPTS, integer=True),
        _doc("the table covers only the first max_prompts prompts of the task file"),
    ] = None


_RewardRange = Annotated[
    ListOf(Num(), 2, 2, plural="numbers [lo, hi]", rule=_range_rule),
    _doc("[lo, hi] with lo < hi containing every reward"),
]
_Name = Annotated[Str(empty_ok=True, max_len=1_000), _doc("a short name")]
_Description = Annotated[Str(empty_ok=True), _doc("free text")]
_MetaField = Annotated[Meta, _doc("provenance of an estimated table")]
_PROMPTS = "a non-empty list of prompts"


class _Problem(Record):
    """What every problem file has besides its prompts (the forms differ in the prompts)."""

    what: ClassVar[str] = "problem file"
    name: _Name = None
    description: _Description = None
    reward_range: _RewardRange = None
    meta: _MetaField = None


class ProblemFull(_Problem):
    prompts: Annotated[
        ListOf(PromptFull, 1, MAX_PROMPTS, label="prompt", plural="prompts"), _doc(_PROMPTS)
    ]


class ProblemTable(_Problem):
    prompts: Annotated[
        ListOf(PromptTable, 1, MAX_PROMPTS, label="prompt", plural="prompts"), _doc(_PROMPTS)
    ]


# A task table written by `alignpro-lite estimate` (tables.load_task_table): everything the
# estimator writes is required.
class CandidateTaskTable(CandidateTable):
    V: _V
    se: _SE
    sim: _Sim
    kind: _Kind


class PromptTaskTable(PromptTable):
    weight: _Weight
    candidates: Annotated[
        ListOf(CandidateTaskTable, 1, MAX_CANDIDATES, label="candidate", plural="candidates"),
        _doc(_CANDIDATES),
    ]


class TaskTable(ProblemTable):
    reward_range: _RewardRange
    prompts: Annotated[
        ListOf(PromptTaskTable, 1, MAX_PROMPTS, label="prompt", plural="prompts"), _doc(_PROMPTS)
    ]


class SamplesLine(Record):
    what: ClassVar[str] = "samples line"
    prompt_id: Annotated[Str(), _doc("the id of the prompt in the task file")]
    c: Annotated[Num(0, MAX_CANDIDATES, integer=True), _doc("the candidate index, from 0")]
    kind: Annotated[Enum(CANDIDATE_KINDS, "kind"), _doc("the candidate's kind")]
    candidate: Annotated[Str(), _doc("the candidate's text")]
    responses: Annotated[
        ListOf(Str(empty_ok=True), 1, MAX_SAMPLES, plural="answers"), _doc("the sampled answers")
    ]
    rewards: Annotated[
        ListOf(Num(), 1, MAX_SAMPLES, plural="rewards"), _doc("one reward per answer")
    ]


class TaskCandidate(Record):
    what: ClassVar[str] = "task candidate"
    text: Annotated[Str(), _doc("the rewrite x'")]
    kind: Annotated[Enum(CANDIDATE_KINDS, "kind"), _doc("original | instruction | bad")]
    type: Annotated[
        Str(max_len=40),
        _doc("the rewrite type: 'original', 'bad' or the template's name (e.g. 'refuse-rule'); "
             "default: the kind"),
    ] = None  # fmt: skip


class TaskRecord(Record):
    what: ClassVar[str] = "task line"
    id: Annotated[Str(max_len=200), _doc("unique id, e.g. kind-train-001")]
    task: Annotated[Enum(TASKS, "task"), _doc("the family; must match the file name")]
    split: Annotated[Enum(SPLITS, "split"), _doc("train or test; must match the file name")]
    prompt: Annotated[Str(), _doc("the user prompt x")]
    label: Annotated[
        Enum(LABELS, "label") | None,
        _doc("'harmful' or 'benign' for harmlessness, null elsewhere"),
    ]
    reference: Annotated[
        Str() | None, _doc("a short correct answer for helpfulness, null elsewhere")
    ]
    key: (
        Annotated[
            ListOf(Str(max_len=60), 1, 8, plural="keys"),
            _doc("helpfulness: 1-8 short key answers (any one in a reply = correct), null "
                 "elsewhere"),
        ]
        | None
    ) = None  # fmt: skip
    candidates: Annotated[
        ListOf(TaskCandidate, 2, MAX_CANDIDATES, label="candidate", plural="candidates"),
        _doc("at least 2 rewrites, the original first"),
    ]


# The names the loaders use.
RESPONSE, CANDIDATE_FULL, CANDIDATE_TABLE = Response, CandidateFull, CandidateTable
PROMPT_FULL, PROMPT_TABLE, META = PromptFull, PromptTable, Meta
PROBLEM_FULL, PROBLEM_TABLE, TASK_TABLE = ProblemFull, ProblemTable, TaskTable
SAMPLES_LINE, TASK_CANDIDATE, TASK_RECORD = SamplesLine, TaskCandidate, TaskRecord

FILE_TYPES: dict[str, type[Record]] = {
    "problem file (full form)": ProblemFull,
    "problem file (estimated form)": ProblemTable,
    "task table (alignpro-lite estimate)": TaskTable,
    "samples line (tables/*_samples.jsonl)": SamplesLine,
    "task line (tasks/*.jsonl)": TaskRecord,
}
"""Every data file type, by the name ``data/README.md`` gives it."""


# --------------------------------------------------------------------------- settings files
_SETTING_TYPES = {
    "int": Num(-math.inf, math.inf, integer=True),
    "float": Num(-math.inf, math.inf),
    "str": Str(),
    "tuple[str, ...]": ListOf(Str(), 0, 1_000, plural="strings"),
    "tuple[float, ...]": ListOf(Num(-math.inf, math.inf), 0, 1_000, plural="numbers"),
}


def settings_record(config: type, what: str, required: bool = True,
                    extra: dict | None = None) -> type[Record]:  # fmt: skip
    """A :class:`Record` for the JSON file of the settings dataclass ``config`` (``run.json``,
    ``replicate.json``): one strictly typed field per dataclass field (``int``, ``float``,
    ``str``, their ``| None`` forms, tuples of strings or numbers). ``extra``: the file's own
    bookkeeping keys and their types (e.g. ``replicate.json``'s ``weights``); any other key is an
    error that suggests the closest one. ``required=False``: a missing field keeps the class
    default."""
    from dataclasses import MISSING, fields

    from pydantic import create_model

    spec = {}
    for f in fields(config):
        kind = str(f.type).replace("typing.", "")
        nullable = kind.endswith(" | None")
        base = _SETTING_TYPES[kind.removesuffix(" | None")]
        annotation = base | None if nullable else base
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        spec[f.name] = (annotation, ...) if required or not has_default else (annotation, None)
    for name, annotation in (extra or {}).items():
        spec[name] = (annotation, None)
    model = create_model(config.__name__ + "File", __base__=Record, **spec)
    model.what = what
    return model


def json_schemas() -> dict[str, dict]:
    """The JSON Schema (draft 2020-12) of every data file type, as ``data/README.md`` shows it."""
    return {name: model.model_json_schema() for name, model in FILE_TYPES.items()}
