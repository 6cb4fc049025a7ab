"""Records: strict pydantic models whose errors read like a person wrote them.

:class:`Record` is the base of every file type in :mod:`alignpro_lite.exact.schema`: no unknown
keys, no type coercion, finite numbers. ``Model.check(value, loc)`` validates a parsed JSON value
and returns a clean copy (numbers of number fields as ``float``, optional fields with their
defaults) or raises a ``ValueError`` that names the location and the field, says what is wrong
and how to fix it (pydantic finds the error; :func:`explain` words it)::

    prompt 2, candidate 1, field 'rho_sft': must be a number in [0, 1], got -0.1.
    prompt 0, candidate 3: unknown field 'Rho_sft'. Did you mean 'rho_sft'? Field names are
    case-sensitive. The fields of a candidate (full form) are: text, rho_sft, pi_F, sim, kind.

A field's type is one of a few annotated specs (:func:`Num`, :func:`Str`, :func:`Enum`,
:func:`ListOf`, :data:`AnyJson`): each adds pydantic's constraints and a marker (:class:`Spec`)
that says what is wrong with a value pydantic refused. The size limits below bound every field.
"""

from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
)

# --------------------------------------------------------------------------- size limits (data/README.md)
MAX_PROMPTS = 100_000  # prompts per problem / table / task file
MAX_CANDIDATES = 1_000  # candidates per prompt
MAX_RESPONSES = 1_000  # responses per prompt (full form)
MAX_SAMPLES = 10_000  # answers per candidate in a samples line
MAX_CELLS = 10_000_000  # padded n_x * n_c * n_y (full form) or n_x * n_c (estimated form)
MAX_TEXT = 100_000  # characters in one text field
MAX_ABS = 1e12  # |reward|, |R|, weight, se (V up to MAX_ABS**2)
MAX_DEPTH = 32  # nesting of free-form objects (meta.sampling)

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


def fmt(x: float) -> str:
    """A number as messages print it (``%g``)."""
    return f"{x:g}"


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


# --------------------------------------------------------------------------- specs: type + words
class Spec:
    """A marker in a field's ``Annotated`` metadata: ``explain(value)`` says what is wrong with a
    value pydantic refused (a message, or ``(deeper location, message)``)."""

    def explain(self, value):  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class _Str(Spec):
    empty_ok: bool
    max_len: int

    def explain(self, value):
        if not isinstance(value, str):
            return f"must be {'a string' if self.empty_ok else 'a non-empty string'}, got {show(value)}."
        if not self.empty_ok and not value.strip():
            return f"must be a non-empty string, got {show(value)}."
        return (f"is {len(value)} characters long; the limit is {self.max_len} (see the size "
                "limits in data/README.md).")  # fmt: skip


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("blank")
    return value


def Str(empty_ok: bool = False, max_len: int = MAX_TEXT):  # noqa: N802  (a type, as in pydantic)
    """A string; non-empty (not only spaces) unless ``empty_ok``; at most ``max_len`` chars."""
    checks = () if empty_ok else (AfterValidator(_not_blank),)
    return Annotated[str, Strict(), Field(max_length=max_len), *checks, _Str(empty_ok, max_len)]


@dataclass(frozen=True)
class _Num(Spec):
    lo: float
    hi: float
    lo_open: bool
    integer: bool

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if math.isinf(self.lo) and math.isinf(self.hi):
            return kind if self.integer else "a finite number"
        if self.lo == -MAX_ABS and self.hi == MAX_ABS:
            return f"a finite number (|x| <= {fmt(MAX_ABS)})" if not self.integer else kind
        if self.hi >= MAX_ABS:
            return f"{kind} {'>' if self.lo_open else '>='} {fmt(self.lo)}"
        left = "(" if self.lo_open else "["
        return f"{kind} in {left}{fmt(self.lo)}, {fmt(self.hi)}]"

    def explain(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be {self.describe()}, got {show(value)}."
        try:
            x = float(value)
        except OverflowError:  # an integer with hundreds of digits
            return f"is too large: {show(value)}; values are limited to |x| <= {fmt(MAX_ABS)}."
        if not math.isfinite(x):
            return (f"must be a finite number, got {show(value)}; NaN and infinity are not "
                    "allowed (drop or impute the missing value).")  # fmt: skip
        if self.integer and not isinstance(value, int):
            return f"must be {self.describe()} (no decimal point), got {show(value)}."
        if (self.hi == MAX_ABS and x > MAX_ABS) or (self.lo == -MAX_ABS and x < -MAX_ABS):
            return (f"is too large: {show(value)}; values are limited to |x| <= {fmt(MAX_ABS)} "
                    "(rescale them).")  # fmt: skip
        return f"must be {self.describe()}, got {show(value)}."


def Num(lo: float = -MAX_ABS, hi: float = MAX_ABS, lo_open: bool = False, integer: bool = False):  # noqa: N802
    """A finite JSON number (never a boolean) in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``).

    The default range is the magnitude limit ``|x| <= MAX_ABS``. ``integer`` also requires a
    JSON integer (an ``int``); otherwise the value comes back as a ``float``.
    """
    bound = Field(gt=lo, le=hi) if lo_open else Field(ge=lo, le=hi)
    base = int if integer else float
    return Annotated[base, Strict(), AllowInfNan(False), bound, _Num(lo, hi, lo_open, integer)]


@dataclass(frozen=True)
class _Enum(Spec):
    values: tuple
    name: str

    def explain(self, value):
        got = quote(value) if isinstance(value, str) else show(value)
        return (f"unknown {self.name} {got}; {self.name} must be one of "
                f"{', '.join(repr(v) for v in self.values)}.")  # fmt: skip


def Enum(values: tuple, name: str):  # noqa: N802
    """One of ``values`` (strings); ``name`` is what the value is called in messages."""
    return Annotated[Literal[values], _Enum(tuple(values), name)]


@dataclass(frozen=True)
class _List(Spec):
    min_len: int
    max_len: int
    label: str | None
    plural: str
    rule: Any

    def explain(self, value):
        if not isinstance(value, list):
            return f"must be a list of {self.plural}, got {show(value)}."
        n = len(value)
        if self.min_len == self.max_len and n != self.min_len:
            return f"must have exactly {self.min_len} {self.plural}, got {n}."
        if n < self.min_len:
            if n == 0:
                return f"must not be empty: give at least {self.min_len} of its {self.plural}."
            return f"must have at least {self.min_len} {self.plural}, got {n}."
        if n > self.max_len:
            return (f"has {n} {self.plural}; the limit is {self.max_len} (see the size limits in "
                    "data/README.md; split the data into several files).")  # fmt: skip
        return self.rule(value) if self.rule is not None else None


def ListOf(item, min_len: int = 0, max_len: int = MAX_PROMPTS, label: str = None,  # noqa: N802
           plural: str = "entries", rule=None):  # fmt: skip
    """A JSON list of ``item`` values, ``min_len`` to ``max_len`` long.

    ``label`` names the items in locations (``prompt 3``); without it entries show as
    ``field 'pi_F'[3]``. ``rule(list) -> message or None`` adds a check on the whole list.
    """
    spec = _List(min_len, max_len, label, plural, rule)
    checks = ()
    if rule is not None:

        def _rule(values: list) -> list:
            if rule(values):
                raise ValueError("rule")
            return values

        checks = (AfterValidator(_rule),)
    return Annotated[list[item], Strict(), Field(min_length=min_len, max_length=max_len),
                     *checks, spec]  # fmt: skip


def _any_json_problem(value, loc: tuple = (), depth: int = 0):
    """``(location, message)`` of the first non-finite number or too-deep nesting, else None."""
    if depth > MAX_DEPTH:
        return loc, f"is nested more than {MAX_DEPTH} levels deep."
    if isinstance(value, dict):
        items = [(("field", k), v) for k, v in value.items()]
    elif isinstance(value, list):
        items = [(("item", None, i), v) for i, v in enumerate(value)]
    else:
        if isinstance(value, float) and not math.isfinite(value):
            return loc, (f"must be a finite number, got {show(value)}; NaN and infinity are not "
                         "allowed.")  # fmt: skip
        return None
    for seg, v in items:
        found = _any_json_problem(v, (*loc, seg), depth + 1)
        if found:
            return found
    return None


@dataclass(frozen=True)
class _AnyJson(Spec):
    def explain(self, value):
        return _any_json_problem(value)


def _any_json_ok(value):
    if _any_json_problem(value):
        raise ValueError("bad json")
    return value


AnyJson = Annotated[Any, AfterValidator(_any_json_ok), _AnyJson()]
"""Any JSON value whose numbers are finite, nested at most ``MAX_DEPTH`` deep."""


# --------------------------------------------------------------------------- records
class Record(BaseModel):
    """A JSON object with known fields: strict types, unknown keys refused with the closest
    known one suggested (``what`` names the object in messages; ``misplaced`` maps keys of
    another form of the file to the message that explains why they are not allowed here)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    what: ClassVar[str] = "object"
    misplaced: ClassVar[dict[str, str]] = {}

    @classmethod
    def check(cls, value, loc: Loc = ()) -> dict:
        """The clean copy of ``value`` (a parsed JSON object) or a ``ValueError`` at ``loc``."""
        _no_duplicate_keys(cls, value, loc)
        try:
            model = cls.model_validate(value)
        except ValidationError as err:
            raise ValueError(explain(cls, err, loc)) from None
        return _dump(model)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)


def _dump(model: BaseModel) -> dict:
    """The fields given, and the defaults that are not ``None`` (nested records likewise)."""

    def clean(v):
        if isinstance(v, BaseModel):
            return _dump(v)
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    out = {}
    for name, info in type(model).model_fields.items():
        if name in model.model_fields_set:
            out[name] = clean(getattr(model, name))
        elif info.default is not None:
            out[name] = info.default
    return out


# --------------------------------------------------------------------------- explaining errors
@dataclass
class _Node:
    """Where a location leads in the schema: a record, a list's items, or a leaf with its spec."""

    model: type | None = None
    spec: Spec | None = None
    item: Any = None  # the annotation of a list's items
    nullable: bool = False


def _node(annotation, metadata=()) -> _Node:
    metadata = list(metadata)
    while typing.get_origin(annotation) is Annotated:
        annotation, *more = typing.get_args(annotation)
        metadata += more
    nullable = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        inner = _node(args[0]) if len(args) == 1 else _Node()
        return _Node(inner.model, next((m for m in metadata if isinstance(m, Spec)), inner.spec),
                     inner.item, nullable)  # fmt: skip
    spec = next((m for m in metadata if isinstance(m, Spec)), None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _Node(model=annotation, spec=spec)
    if typing.get_origin(annotation) is list:
        return _Node(spec=spec, item=typing.get_args(annotation)[0])
    return _Node(spec=spec)


def _walk(cls: type, path: tuple) -> tuple[Loc, _Node | None, list]:
    """Follow a pydantic location ``path`` from record ``cls``: our location, the node it
    reaches (``None``: a key the record does not have), and a sort key in document order."""
    loc: list = []
    node = _Node(model=cls)
    order: list = []
    for seg in path:
        if isinstance(seg, str):
            loc.append(("field", seg))
            if node is None or node.model is None:
                node = _Node() if node is not None else None
                order.append((2, 0))
                continue
            names = list(node.model.model_fields)
            if seg not in names:
                return tuple(loc), None, order
            order.append((2, names.index(seg)))
            info = node.model.model_fields[seg]
            node = _node(info.annotation, info.metadata)
        else:
            label = node.spec.label if node is not None and isinstance(node.spec, _List) else None
            loc.append(("item", label, seg))
            order.append((2, seg))
            node = _node(node.item) if node is not None and node.item is not None else _Node()
    return tuple(loc), node, order


def _parent(cls: type, path: tuple) -> tuple[Loc, type, list]:
    loc, node, order = _walk(cls, path)
    return loc, node.model if node is not None and node.model is not None else cls, order


def _sort_key(cls: type, error: dict) -> list:
    path, kind = tuple(error["loc"]), error["type"]
    if kind == "extra_forbidden":  # at one object: unknown keys, then missing ones, then values
        return [*_parent(cls, path[:-1])[2], (0, 0)]
    if kind == "missing":
        _, model, order = _parent(cls, path[:-1])
        names = list(model.model_fields)
        return [*order, (1, names.index(path[-1]) if path[-1] in names else 0)]
    return _walk(cls, path)[2]


def explain(cls: type, err: ValidationError, loc: Loc = ()) -> str:
    """The one message for pydantic's first error in document order (as a reader meets it)."""
    errors = err.errors(include_url=False)
    error = min(errors, key=lambda e: _sort_key(cls, e))
    path, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    if kind == "extra_forbidden":
        where, model, _ = _parent(cls, path[:-1])
        key = str(path[-1])
        if key in model.misplaced:
            return _at((*loc, *where, ("field", key)), model.misplaced[key])
        return _at((*loc, *where), unknown_key_message(key, list(model.model_fields), model.what,
                                                       [*model.misplaced]))  # fmt: skip
    if kind == "missing":
        where, model, _ = _parent(cls, path[:-1])
        key = str(path[-1])
        doc = model.model_fields[key].description if key in model.model_fields else None
        return _at((*loc, *where), f"missing field '{key}'{f' ({doc})' if doc else ''}.")
    where, node, _ = _walk(cls, path)
    if node is not None and node.model is not None and not isinstance(value, dict):
        return _at(
            (*loc, *where), f"expected a JSON object ({node.model.what}), got {show(value)}."
        )
    found = node.spec.explain(value) if node is not None and node.spec is not None else None
    if isinstance(found, tuple):
        deeper, message = found
        where = (*where, *deeper)
    else:
        message = found or f"{error['msg']}, got {show(value)}."
    if node is not None and node.nullable:
        message = f"{message.rstrip('.')} (or null)."
    return _at((*loc, *where), message)


def _at(loc: Loc, message: str) -> str:
    where = render(loc)
    return f"{where}: {message}" if where else message


def _no_duplicate_keys(cls: type, value, loc: Loc, path: tuple = ()) -> None:
    """A key given twice in one object (JSON keeps the last one silently) is an error."""
    if isinstance(value, dict):
        for key in getattr(value, "duplicates", ()):
            where = _walk(cls, (*path, key))[0]
            fail((*loc, *where), "appears more than once in the same object; keep one.")
        for key, v in value.items():
            _no_duplicate_keys(cls, v, loc, (*path, key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_duplicate_keys(cls, v, loc, (*path, i))
