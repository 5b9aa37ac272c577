"""The `Source` interface shared by every connector, plus the small helpers they all use.

A connector implements `_rows` (stream rows of one resolved split), `_count`, `_fingerprint_parts` and, when the
format carries a schema, `_schema`. The base class does what must be identical everywhere: split checking, `limit`,
the `on_malformed` contract, field-type inference from rows, and caching of the cheap-but-not-free answers.
"""
from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable, Iterator, Literal

from ..errors import SourceError
from ..spec.profile import type_name
from ..spec import SourceSpec

OnMalformed = Literal["fail", "skip"]
OnSkip = Callable[[int, str, str], None]  # (line number or item index, raw text <= 200 chars, error message)

SCHEMA_SCAN_ROWS = 200  # rows read to infer field types when the format has no schema
RAW_PREVIEW_CHARS = 200  # how much of a malformed line is handed to `on_skip`

# Internal type token for an empty list: it says nothing about whether the field holds chat messages or plain lists.
_EMPTY_LIST = "list0"


def short_hash(parts: Any) -> str:
    """A short stable hash of JSON-able `parts` (key order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def value_type(value: Any) -> str:
    """`type_name`, except that an empty list gets its own token (see `merge_types`)."""
    if isinstance(value, list) and not value:
        return _EMPTY_LIST
    return type_name(value)


def merge_types(types: Iterable[str]) -> str:
    """One type name for a field from the types seen in its values.

    Nulls are ignored unless nothing else was seen; int+float reads as float (JSON writes 1.0 as 1); empty lists
    join "messages" or "list"; list+messages is "list"; any other mix is "any".
    """
    seen = {t for t in types if t != "null"}
    if not seen:
        return "null"
    if _EMPTY_LIST in seen:
        seen.discard(_EMPTY_LIST)
        if seen == {"messages"}:
            return "messages"
        seen.add("list")
    if seen == {"int", "float"}:
        return "float"
    if seen == {"list", "messages"}:  # some lists look like chats, others do not: still lists
        return "list"
    if len(seen) == 1:
        return seen.pop()
    return "any"


def infer_fields(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Field name -> type name over `rows`, in order of first appearance."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            seen.setdefault(key, set()).add(value_type(value))
    return {k: merge_types(v) for k, v in seen.items()}


def preview(raw: str | bytes) -> str:
    """A malformed line as text, cut to RAW_PREVIEW_CHARS, for `on_skip` and error messages."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.rstrip("\r\n")
    return text if len(text) <= RAW_PREVIEW_CHARS else text[:RAW_PREVIEW_CHARS] + "…"


class Malformed:
    """Applies the `on_malformed` policy: raise a SourceError naming file and line, or report and carry on."""

    def __init__(self, source_id: str, file: str | None, on_malformed: OnMalformed, on_skip: OnSkip | None):
        if on_malformed not in ("fail", "skip"):
            raise SourceError(f"on_malformed must be 'fail' or 'skip', not {on_malformed!r}", source=source_id)
        self.source_id, self.file, self.on_malformed, self.on_skip = source_id, file, on_malformed, on_skip
        self.skipped = 0

    def __call__(self, line_no: int, raw: str | bytes, message: str) -> None:
        if self.on_malformed == "fail":
            raise SourceError(f"{message} (set on_malformed='skip' to drop such lines): {preview(raw)!r}",
                              source=self.source_id, file=self.file, line=line_no)
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip(line_no, preview(raw), message)


class Source(ABC):
    """One opened source. Cheap to create: files are opened, and datasets loaded, only when rows are asked for."""

    spec: SourceSpec
    kind: str = "source"  # "file" | "hf" | "disk": how the data is reached

    def __init__(self, spec: SourceSpec, location: str):
        self.spec = spec
        self.location = location  # resolved path or Hub name, for messages
        self._fields_cache: dict[str | None, dict[str, str]] = {}
        self._count_cache: dict[str | None, tuple[int | None, bool]] = {}

    @property
    def id(self) -> str:
        return self.spec.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.id!r} {self.location}>"

    # -- public API ------------------------------------------------------------------------------------------
    def iter_rows(self, split: str | None = None, limit: int | None = None, on_malformed: OnMalformed = "fail",
                  on_skip: OnSkip | None = None) -> Iterator[dict[str, Any]]:
        """Plain dict rows in source order, streamed. Bad arguments (unknown split, bad policy) raise right away;
        the data itself is only touched when the iterator is consumed."""
        resolved = self.resolve_split(split)
        malformed = Malformed(self.spec.id, self._file_for_errors(), on_malformed, on_skip)
        if limit is not None and limit < 0:
            raise SourceError(f"limit must be >= 0, not {limit}", source=self.spec.id)
        return _limited(self._rows(resolved, malformed), limit)

    def fingerprint(self) -> str:
        """Short stable hash that changes when the content (or what we would read of it) changes."""
        return short_hash({"kind": self.kind, "format": self.spec.format, **self._fingerprint_parts()})

    def count(self, split: str | None = None) -> tuple[int | None, bool]:
        """(rows, exact). Exact when that is cheap; an estimate (exact=False) or (None, False) otherwise."""
        resolved = self.resolve_split(split)
        if resolved not in self._count_cache:
            self._count_cache[resolved] = self._count(resolved)
        return self._count_cache[resolved]

    def fields(self, split: str | None = None) -> dict[str, str]:
        """Field name -> type name, from the format's schema when it has one, else from the first rows."""
        resolved = self.resolve_split(split)
        if resolved not in self._fields_cache:
            schema = self._schema(resolved)
            if schema is None:
                # Schema inference must not die on one bad line: the recipe decides what to do with those.
                rows = _limited(self._rows(resolved, Malformed(self.spec.id, None, "skip", None)), SCHEMA_SCAN_ROWS)
                schema = infer_fields(rows)
            self._fields_cache[resolved] = schema
        return dict(self._fields_cache[resolved])

    def has_schema(self, split: str | None = None) -> bool:
        """Whether `fields` comes from a declared schema (parquet, HF features) rather than from sampled rows."""
        return self._schema(self.resolve_split(split)) is not None

    # -- what connectors implement ---------------------------------------------------------------------------
    @abstractmethod
    def resolve_split(self, split: str | None) -> str | None:
        """The split to read (`split` overrides spec.split); SourceError if the source has no such split."""

    @abstractmethod
    def _rows(self, split: str | None, malformed: Malformed) -> Iterator[dict[str, Any]]:
        """Every row of `split`, in order."""

    @abstractmethod
    def _count(self, split: str | None) -> tuple[int | None, bool]:
        ...

    @abstractmethod
    def _fingerprint_parts(self) -> dict[str, Any]:
        ...

    def _schema(self, split: str | None) -> dict[str, str] | None:
        return None

    def _file_for_errors(self) -> str | None:
        return self.location


def _limited(rows: Iterator[dict[str, Any]], limit: int | None) -> Iterator[dict[str, Any]]:
    """Stop after `limit` rows and close the underlying generator at once (so its file handle is released)."""
    try:
        if limit is None:
            yield from rows
            return
        if limit <= 0:
            return
        for n, row in enumerate(rows, 1):
            yield row
            if n >= limit:
                return
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
