"""Reading data files: every error names the file.

:func:`read_text` / :func:`load_json` / :func:`jsonl_lines` name the file on a missing file,
bytes that are not UTF-8, a file over the size limit, invalid JSON or nesting that is too deep.
:func:`parse_json` keeps what the schema (:mod:`alignpro_lite.exact.schema`) reports with a
location: ``NaN``/``Infinity`` literals, and keys given more than once (:class:`JsonObject`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

MAX_FILE_BYTES = 512 * 2**20  # 512 MiB (data/README.md)


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
