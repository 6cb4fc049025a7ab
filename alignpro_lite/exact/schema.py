"""One declarative schema for every data file: problem files, estimated tables, samples, tasks.

A schema is built from a handful of specs (:class:`Str`, :class:`Num`, :class:`Enum`,
:class:`Nullable`, :class:`ListOf`, :class:`Obj` of :class:`Field`, :class:`AnyJson`). Checking a
parsed JSON value against a spec returns a clean copy (numbers as ``float``, optional fields
with their defaults) or raises a ``ValueError`` that names the location and the field, says what
is wrong and how to fix it::

    prompt 2, candidate 1, field 'rho_sft': must be a number in [0, 1], got -0.1.
    prompt 0, candidate 3: unknown field 'Rho_sft'. Did you mean 'rho_sft'? Field names are
    case-sensitive. The fields of a candidate (full form) are: text, rho_sft, pi_F, sim, kind.

The callers (:mod:`alignpro_lite.exact.problems`, :mod:`alignpro_lite.llm.tables`,
:mod:`alignpro_lite.llm.tasks`) prefix the file name (and line) and add the rules that span several
fields or files (sums to 1, candidate 0 = the original, reward ranges, table <-> task file).
The schema, the size limits below and the cross-field rules are documented in ``data/README.md``.

Reading files goes through :func:`read_text` / :func:`load_json` / :func:`jsonl_lines`: they
name the file on a missing file, bytes that are not UTF-8, invalid JSON, ``NaN``/``Infinity``
literals, duplicate keys or nesting that is too deep.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------- limits (data/README.md)
MAX_PROMPTS = 100_000  # prompts per problem / table / task file
MAX_CANDIDATES = 1_000  # candidates per prompt
MAX_RESPONSES = 1_000  # responses per prompt (full form)
MAX_SAMPLES = 10_000  # answers per candidate in a samples line
MAX_CELLS = 10_000_000  # padded n_x * n_c * n_y (full form) or n_x * n_c (estimated form)
MAX_TEXT = 100_000  # characters in one text field
MAX_ABS = 1e12  # |reward|, |R|, weight, se (V up to MAX_ABS**2)
MAX_DEPTH = 32  # nesting of free-form objects (meta.sampling)
MAX_FILE_BYTES = 512 * 2**20  # 512 MiB

# --------------------------------------------------------------------------- shared vocabularies
TASKS = ("kindness", "harmlessness", "helpfulness")
SPLITS = ("train", "test")
LABELS = ("harmful", "benign")
CANDIDATE_KINDS = ("original", "instruction", "bad")

PROB_SUM_ATOL = 1e-3  # rho_sft and pi_F may sum to 1 +- this (then renormalised)


# --------------------------------------------------------------------------- locations
Loc = tuple  # of segments: ("field", key), ("item", label or None, index) or ("at", text)


def at(text: str) -> Loc:
    """A location that starts with free text, e.g. ``at("line 8")``."""
    return (("at", text),)


def at_field(loc: Loc, key: str) -> Loc:
    return (*loc, ("field", key))


def at_item(loc: Loc, label: str | None, index: int) -> Loc:
    return (*loc, ("item", label, index))


def render(loc: Loc) -> str:
    """``prompt 2, candidate 1, field 'pi_F'[3]`` / ``field 'meta.sampling.top_p'``."""
    parts: list[list] = []  # [kind, text]
    segs = list(loc)
    for k, seg in enumerate(segs):
        if seg[0] == "at":
            parts.append(["item", seg[1]])
        elif seg[0] == "field":
            nxt = segs[k + 1] if k + 1 < len(segs) else None
            if nxt is not None and nxt[0] == "item" and nxt[1]:
                continue  # "prompt 3" says more than "field 'prompts'"
            if parts and parts[-1][0] == "field":
                parts[-1][1] += f".{seg[1]}"
            else:
                parts.append(["field", seg[1]])
        else:
            _, label, index = seg
            if label:
                parts.append(["item", f"{label} {index}"])
            elif parts and parts[-1][0] in ("field", "entry"):
                parts[-1] = ["entry", _render_part(parts[-1]) + f"[{index}]"]
            else:
                parts.append(["entry", f"entry {index}"])
    return ", ".join(_render_part(p) for p in parts)


def _render_part(part: list) -> str:
    return f"field {quote(part[1])}" if part[0] == "field" else part[1]


def quote(text: str, limit: int = 60) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters: one line, control characters escaped."""
    text = str(text)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def fail(loc: Loc, message: str):
    """Raise the ``ValueError`` of a bad value at ``loc``."""
    where = render(loc)
    raise ValueError(f"{where}: {message}" if where else message)


def show(value) -> str:
    """A short JSON-ish description of a bad value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} (a boolean)"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and abs(value).bit_length() > 128:
        return "a huge integer"  # repr() of a 5000-digit int is itself an error
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 40 else f"a {len(text)}-digit number"
    if isinstance(value, str):
        return f"{quote(value)} (a string)"
    if isinstance(value, list):
        return f"a list of {len(value)} entries" if value else "an empty list"
    if isinstance(value, dict) and not value:
        return "an empty object"
    if isinstance(value, dict):
        keys = ", ".join(quote(k, 20) for k in list(value)[:4])
        return f"an object with fields {keys}{', ...' if len(value) > 4 else ''}"
    return type(value).__name__


def _fmt(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------- specs
class Spec:
    """Base class: ``check(value, loc)`` returns the clean value or raises ``ValueError``."""

    def check(self, value, loc: Loc = ()):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Str(Spec):
    """A string; non-empty (not only spaces) unless ``empty_ok``; at most ``max_len`` chars."""

    empty_ok: bool = False
    max_len: int = MAX_TEXT

    def check(self, value, loc: Loc = ()):
        if not isinstance(value, str):
            fail(loc, f"must be {self.describe()}, got {show(value)}.")
        if not self.empty_ok and not value.strip():
            fail(loc, f"must be a non-empty string, got {show(value)}.")
        if len(value) > self.max_len:
            fail(
                loc,
                f"is {len(value)} characters long; the limit is {self.max_len} "
                "(see the size limits in data/README.md).",
            )
        return value

    def describe(self) -> str:
        return "a string" if self.empty_ok else "a non-empty string"


@dataclass(frozen=True)
class Num(Spec):
    """A finite JSON number (never a boolean) in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``).

    The default range is the magnitude limit ``|x| <= MAX_ABS``. ``integer`` also requires a
    JSON integer and returns an ``int``; otherwise the value comes back as a ``float``.
    """

    lo: float = -MAX_ABS
    hi: float = MAX_ABS
    lo_open: bool = False
    integer: bool = False

    def check(self, value, loc: Loc = ()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(loc, f"must be {self.describe()}, got {show(value)}.")
        try:
            x = float(value)
        except OverflowError:  # an integer with hundreds of digits
            fail(loc, f"is too large: {show(value)}; values are limited to |x| <= {_fmt(MAX_ABS)}.")
        if not math.isfinite(x):
            fail(
                loc,
                f"must be a finite number, got {show(value)}; NaN and infinity are not allowed "
                "(drop or impute the missing value).",
            )
        if self.integer and not isinstance(value, int):
            fail(loc, f"must be {self.describe()} (no decimal point), got {show(value)}.")
        if x < self.lo or x > self.hi or (self.lo_open and x == self.lo):
            if (self.hi == MAX_ABS and x > MAX_ABS) or (self.lo == -MAX_ABS and x < -MAX_ABS):
                fail(
                    loc,
                    f"is too large: {show(value)}; values are limited to |x| <= {_fmt(MAX_ABS)} "
                    "(rescale them).",
                )
            fail(loc, f"must be {self.describe()}, got {show(value)}.")
        return int(value) if self.integer else x

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.lo == -MAX_ABS and self.hi == MAX_ABS:
            return f"a finite number (|x| <= {_fmt(MAX_ABS)})" if not self.integer else kind
        if self.hi >= MAX_ABS:
            return f"{kind} {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        left = "(" if self.lo_open else "["
        return f"{kind} in {left}{_fmt(self.lo)}, {_fmt(self.hi)}]"


@dataclass(frozen=True)
class Enum(Spec):
    """One of ``values`` (strings); ``name`` is what the value is called in messages."""

    values: tuple
    name: str

    def check(self, value, loc: Loc = ()):
        if not isinstance(value, str) or value not in self.values:
            got = quote(value) if isinstance(value, str) else show(value)
            fail(
                loc,
                f"unknown {self.name} {got}; {self.name} must be one of "
                f"{', '.join(repr(v) for v in self.values)}.",
            )
        return value

    def describe(self) -> str:
        return " | ".join(f'"{v}"' for v in self.values)


@dataclass(frozen=True)
class Nullable(Spec):
    """``null`` or a value of ``spec``."""

    spec: Spec

    def check(self, value, loc: Loc = ()):
        if value is None:
            return None
        try:
            return self.spec.check(value, loc)
        except ValueError as err:
            raise ValueError(f"{str(err).rstrip('.')} (or null).") from None

    def describe(self) -> str:
        return f"{self.spec.describe()} or null"


@dataclass(frozen=True)
class ListOf(Spec):
    """A JSON list of ``item`` values, ``min_len`` to ``max_len`` long.

    ``label`` names the items in locations (``prompt 3``); without it entries show as
    ``field 'pi_F'[3]``. ``rule(list) -> message or None`` adds a check on the whole list.
    """

    item: Spec
    min_len: int = 0
    max_len: int = MAX_PROMPTS
    label: str | None = None
    plural: str = "entries"
    rule: Callable | None = None

    def check(self, value, loc: Loc = ()):
        if not isinstance(value, list):
            fail(loc, f"must be a list of {self.plural}, got {show(value)}.")
        n = len(value)
        if self.min_len == self.max_len and n != self.min_len:
            fail(loc, f"must have exactly {self.min_len} {self.plural}, got {n}.")
        if n < self.min_len:
            if n == 0:
                fail(loc, f"must not be empty: give at least {self.min_len} of its {self.plural}.")
            fail(loc, f"must have at least {self.min_len} {self.plural}, got {n}.")
        if n > self.max_len:
            fail(
                loc,
                f"has {n} {self.plural}; the limit is {self.max_len} (see the size limits in "
                "data/README.md; split the data into several files).",
            )
        out = [self.item.check(v, at_item(loc, self.label, i)) for i, v in enumerate(value)]
        if self.rule is not None:
            message = self.rule(out)
            if message:
                fail(loc, message)
        return out

    def describe(self) -> str:
        size = (
            f"exactly {self.min_len}"
            if self.min_len == self.max_len
            else f"{self.min_len} to {self.max_len}"
        )
        return f"list of {size} {self.plural}"


@dataclass(frozen=True)
class Field:
    """One key of an :class:`Obj`: its spec, whether it is required, its default and doc."""

    spec: Spec
    required: bool = True
    default: object = None
    doc: str = ""


@dataclass(frozen=True)
class Obj(Spec):
    """A JSON object with known ``fields`` (unknown keys are errors that suggest the closest).

    ``misplaced`` maps keys that are known elsewhere (another form of the file) to the message
    that explains why they are not allowed here.
    """

    name: str
    fields: dict = field(default_factory=dict)  # str -> Field
    misplaced: dict = field(default_factory=dict)  # str -> message

    def check(self, value, loc: Loc = ()):
        if not isinstance(value, dict):
            fail(loc, f"expected a JSON object ({self.name}), got {show(value)}.")
        for key in getattr(value, "duplicates", ()):
            fail(at_field(loc, key), "appears more than once in the same object; keep one.")
        for key in value:
            if key in self.fields:
                continue
            if key in self.misplaced:
                fail(at_field(loc, key), self.misplaced[key])
            message = unknown_key_message(str(key), list(self.fields), self.name, [*self.misplaced])
            fail(loc, message)
        for key, f in self.fields.items():
            if f.required and key not in value:
                doc = f" ({f.doc})" if f.doc else ""
                fail(loc, f"missing field '{key}'{doc}.")
        out = {}
        for key, f in self.fields.items():
            if key in value:
                out[key] = f.spec.check(value[key], at_field(loc, key))
            elif f.default is not None:
                out[key] = f.default
        return out

    def describe(self) -> str:
        return f"object ({self.name})"

    def require(self, *keys: str) -> Obj:
        """A copy of this schema in which ``keys`` are required."""
        fields = {
            k: dataclasses.replace(f, required=True) if k in keys else f
            for k, f in self.fields.items()
        }
        return dataclasses.replace(self, fields=fields)

    def replace_field(self, key: str, spec: Spec) -> Obj:
        """A copy of this schema with another spec for ``key``."""
        fields = dict(self.fields)
        fields[key] = dataclasses.replace(fields[key], spec=spec)
        return dataclasses.replace(self, fields=fields)


def unknown_key_message(key: str, known: list[str], where: str, also: list[str] = ()) -> str:
    """``unknown field 'Rho_sft'. Did you mean 'rho_sft'? ...`` (difflib, case-insensitive).

    ``known`` are the fields listed in the message; ``also`` are further suggestions.
    """
    lowered = {k.lower(): k for k in [*known, *also]}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f" Did you mean '{lowered[close[0]]}'?" if close else ""
    case = " Field names are case-sensitive." if close and close[0] == key.lower() else ""
    return (
        f"unknown field {quote(key)}.{hint}{case} The fields of a {where} are: {', '.join(known)}."
    )


@dataclass(frozen=True)
class AnyJson(Spec):
    """Any JSON value whose numbers are finite, nested at most ``MAX_DEPTH`` deep."""

    def check(self, value, loc: Loc = (), depth: int = 0):
        if depth > MAX_DEPTH:
            fail(loc, f"is nested more than {MAX_DEPTH} levels deep.")
        if isinstance(value, dict):
            for key in getattr(value, "duplicates", ()):
                fail(at_field(loc, key), "appears more than once in the same object; keep one.")
            return {k: self.check(v, at_field(loc, k), depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.check(v, at_item(loc, None, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, float) and not math.isfinite(value):
            fail(
                loc,
                f"must be a finite number, got {show(value)}; NaN and infinity are not allowed.",
            )
        return value

    def describe(self) -> str:
        return "any JSON value (finite numbers)"


# --------------------------------------------------------------------------- reading files
class JsonObject(dict):
    """A parsed JSON object that remembers keys given more than once (JSON keeps the last)."""

    duplicates: tuple = ()


def _object_pairs(pairs: list) -> JsonObject:
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        obj.duplicates = tuple(k for k, _ in pairs if k in seen or seen.add(k))
    return obj


def _parse_int(text: str):
    # Python refuses to convert integers of more than 4300 digits (a ValueError without a
    # location); anything past 30 digits is far beyond every limit, so keep it as inf.
    return int(text) if len(text) <= 30 else float(text)


def parse_json(text: str):
    """``json.loads`` that keeps ``NaN``/``Infinity`` and duplicate keys for the schema to report.

    Raises ``ValueError`` (without a file name) for invalid JSON or nesting that is too deep.
    """
    try:
        return json.loads(text, object_pairs_hook=_object_pairs, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})."
        ) from None
    except RecursionError:
        raise ValueError("not valid JSON for this loader: nested far too deeply.") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark is dropped); errors name the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(
                f"{path}: the {what} is {size / 2**20:.0f} MiB; the limit is "
                f"{MAX_FILE_BYTES // 2**20} MiB (split the data into several files)."
            )
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read the {what} ({err.strerror or err}).") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path}: not UTF-8 text (byte {err.start}, line {line}: {err.reason}); save the "
            f"{what} as UTF-8."
        ) from None
    return text.removeprefix("\ufeff")


def load_json(path: str | Path, what: str = "file"):
    """Read and parse one JSON document; every error names the file."""
    text = read_text(path, what)
    try:
        return parse_json(text)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def jsonl_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line of a JSON-lines file.

    Splits on ``\\n`` only (JSON strings may hold U+2028 and friends unescaped), drops a ``\\r``
    before it, and skips blank lines anywhere (a trailing newline or blank lines at the end are
    fine).
    """
    text = read_text(path, what)
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            yield lineno, line


# --------------------------------------------------------------------------- the schemas
def _range_rule(values: list) -> str | None:
    lo, hi = values
    if not lo < hi:
        return f"must be [lo, hi] with lo < hi, got [{_fmt(lo)}, {_fmt(hi)}]."
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

RESPONSE = Obj(
    "response",
    {
        "text": Field(Str(empty_ok=True), doc="the answer y"),
        "reward": Field(Num(), doc="r(x, y), judged against the original prompt"),
    },
)

_CANDIDATE_COMMON = {
    "text": Field(Str(), doc="the rewrite x'; candidate 0 is the original prompt"),
    "rho_sft": Field(Num(0.0, 1.0), doc="rho_sft(x'|x); a prompt's candidates sum to 1"),
}
_CANDIDATE_NOTES = {
    "sim": Field(Num(-1.0, 1.0), required=False, doc="semantic preservation cos(x, x')"),
    "kind": Field(Enum(CANDIDATE_KINDS, "kind"), required=False, doc="how the rewrite was made"),
}

CANDIDATE_FULL = Obj(
    "candidate (full form)",
    {
        **_CANDIDATE_COMMON,
        "pi_F": Field(
            ListOf(Num(0.0, 1.0), min_len=1, max_len=MAX_RESPONSES, plural="probabilities"),
            doc="pi_F(y|x'), one probability per response of the prompt, summing to 1",
        ),
        **_CANDIDATE_NOTES,
    },
    misplaced={"R": f"'R' {_TABLE_ONLY}", "V": f"'V' {_TABLE_ONLY}", "se": f"'se' {_TABLE_ONLY}"},
)

CANDIDATE_TABLE = Obj(
    "candidate (estimated form)",
    {
        **_CANDIDATE_COMMON,
        "R": Field(Num(), doc="R(x, x'), the mean reward of the rewrite"),
        "V": Field(
            Num(0.0, MAX_ABS**2),
            required=False,
            default=0.0,
            doc="variance of the reward over answers, >= 0 (default 0)",
        ),
        "se": Field(
            Num(0.0, MAX_ABS), required=False, default=0.0, doc="standard error of R, >= 0"
        ),
        **_CANDIDATE_NOTES,
    },
    misplaced={"pi_F": f"'pi_F' {_FULL_ONLY}"},
)

_PROMPT_COMMON = {
    "text": Field(Str(), doc="the user prompt x"),
    "weight": Field(
        Num(0.0, MAX_ABS),
        required=False,
        default=1.0,
        doc="P(x) before normalisation, >= 0; omit it for the default 1",
    ),
}

PROMPT_FULL = Obj(
    "prompt (full form)",
    {
        **_PROMPT_COMMON,
        "responses": Field(
            ListOf(RESPONSE, 1, MAX_RESPONSES, label="response", plural="responses"),
            doc="the answers with their rewards; in the full form every prompt has "
            "'responses' (prompt 0 has them), in the estimated form none does",
        ),
        "candidates": Field(
            ListOf(CANDIDATE_FULL, 1, MAX_CANDIDATES, label="candidate", plural="candidates"),
            doc="the rewrites, the original prompt first",
        ),
    },
)

PROMPT_TABLE = Obj(
    "prompt (estimated form)",
    {
        **_PROMPT_COMMON,
        "candidates": Field(
            ListOf(CANDIDATE_TABLE, 1, MAX_CANDIDATES, label="candidate", plural="candidates"),
            doc="the rewrites, the original prompt first",
        ),
    },
    misplaced={"responses": f"'responses' {_FULL_ONLY}"},
)

META = Obj(
    "table meta",
    {
        "task": Field(Str(), required=False, doc="the task family"),
        "split": Field(Str(), required=False, doc="the split"),
        "n": Field(Num(1, MAX_SAMPLES, integer=True), required=False, doc="answers per rewrite"),
        "seed": Field(Num(0, 2**64, integer=True), required=False, doc="sampling seed"),
        "reward": Field(Str(), required=False, doc="reward id name@version"),
        "sampling": Field(AnyJson(), required=False, doc="generation settings"),
        "model": Field(Str(), required=False, doc="frozen LLM fingerprint"),
        "max_prompts": Field(
            Num(1, MAX_PROMPTS, integer=True),
            required=False,
            doc="the table covers only the first max_prompts prompts of the task file",
        ),
    },
)

_REWARD_RANGE = ListOf(Num(), 2, 2, plural="numbers [lo, hi]", rule=_range_rule)


def _problem(prompt: Obj) -> Obj:
    return Obj(
        "problem file",
        {
            "name": Field(Str(empty_ok=True, max_len=1_000), required=False, doc="a short name"),
            "description": Field(Str(empty_ok=True), required=False, doc="free text"),
            "reward_range": Field(
                _REWARD_RANGE, required=False, doc="[lo, hi] with lo < hi containing every reward"
            ),
            "meta": Field(META, required=False, doc="provenance of an estimated table"),
            "prompts": Field(
                ListOf(prompt, 1, MAX_PROMPTS, label="prompt", plural="prompts"),
                doc="a non-empty list of prompts",
            ),
        },
    )


PROBLEM_FULL = _problem(PROMPT_FULL)
PROBLEM_TABLE = _problem(PROMPT_TABLE)

# A task table written by `alignpro-lite estimate` (tables.load_task_table): everything the
# estimator writes is required.
TASK_TABLE = _problem(
    PROMPT_TABLE.replace_field(
        "candidates",
        ListOf(
            CANDIDATE_TABLE.require("V", "se", "sim", "kind"),
            1,
            MAX_CANDIDATES,
            label="candidate",
            plural="candidates",
        ),
    ).require("weight")
).require("reward_range")

SAMPLES_LINE = Obj(
    "samples line",
    {
        "prompt_id": Field(Str(), doc="the id of the prompt in the task file"),
        "c": Field(Num(0, MAX_CANDIDATES, integer=True), doc="the candidate index, from 0"),
        "kind": Field(Enum(CANDIDATE_KINDS, "kind"), doc="the candidate's kind"),
        "candidate": Field(Str(), doc="the candidate's text"),
        "responses": Field(
            ListOf(Str(empty_ok=True), 1, MAX_SAMPLES, plural="answers"),
            doc="the sampled answers",
        ),
        "rewards": Field(
            ListOf(Num(), 1, MAX_SAMPLES, plural="rewards"), doc="one reward per answer"
        ),
    },
)

TASK_CANDIDATE = Obj(
    "task candidate",
    {
        "text": Field(Str(), doc="the rewrite x'"),
        "kind": Field(Enum(CANDIDATE_KINDS, "kind"), doc="original | instruction | bad"),
        "type": Field(
            Str(max_len=40),
            required=False,
            doc="the rewrite type: 'original', 'bad' or the template's name (e.g. 'refuse-rule'); "
            "default: the kind",
        ),
    },
)

TASK_RECORD = Obj(
    "task line",
    {
        "id": Field(Str(max_len=200), doc="unique id, e.g. kind-train-001"),
        "task": Field(Enum(TASKS, "task"), doc="the family; must match the file name"),
        "split": Field(Enum(SPLITS, "split"), doc="train or test; must match the file name"),
        "prompt": Field(Str(), doc="the user prompt x"),
        "label": Field(
            Nullable(Enum(LABELS, "label")),
            doc="'harmful' or 'benign' for harmlessness, null elsewhere",
        ),
        "reference": Field(
            Nullable(Str()), doc="a short correct answer for helpfulness, null elsewhere"
        ),
        "key": Field(
            Nullable(ListOf(Str(max_len=60), 1, 8, plural="keys")),
            required=False,
            doc="helpfulness: 1-8 short key answers (any one in a reply = correct), null elsewhere",
        ),
        "candidates": Field(
            ListOf(TASK_CANDIDATE, 2, MAX_CANDIDATES, label="candidate", plural="candidates"),
            doc="at least 2 rewrites, the original first",
        ),
    },
)
