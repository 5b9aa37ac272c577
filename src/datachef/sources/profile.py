"""Profiles: what a source looks like (size, fields, types, lengths, a few examples), for people and for the chef.

The chef is an LLM with a small context: `render_profiles` is dense on purpose — one header line per source, one
line per field, one JSON line per example.
"""
from __future__ import annotations

import json
from typing import Any

from ..spec import FieldProfile, SourceProfile
from .base import Source, merge_types, value_type

EXAMPLE_MAX_CHARS = 300
EXAMPLE_MAX_ITEMS = 10


class _FieldStats:
    """Running statistics of one field over the scanned rows."""

    __slots__ = ("types", "non_null", "n_len", "sum_len", "min_len", "max_len")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.non_null = 0
        self.n_len = self.sum_len = 0
        self.min_len: int | None = None
        self.max_len: int | None = None

    def add(self, value: Any) -> None:
        self.types.add(value_type(value))
        if value is None:
            return
        self.non_null += 1
        if isinstance(value, (str, list)):  # chars for strings, items for lists (and chats)
            n = len(value)
            self.n_len += 1
            self.sum_len += n
            self.min_len = n if self.min_len is None else min(self.min_len, n)
            self.max_len = n if self.max_len is None else max(self.max_len, n)

    def profile(self, name: str, declared: str | None) -> FieldProfile:
        # A declared schema (parquet, HF features) beats what a sample of rows happens to show.
        ftype = declared if declared and declared != "null" else merge_types(self.types)
        return FieldProfile(name=name, type=ftype, non_null=self.non_null, min_len=self.min_len,
                            mean_len=round(self.sum_len / self.n_len, 1) if self.n_len else None,
                            max_len=self.max_len)


def truncate_value(value: Any, max_chars: int = EXAMPLE_MAX_CHARS, max_items: int = EXAMPLE_MAX_ITEMS) -> Any:
    """A copy of `value` with long strings cut to `max_chars` (marked "…") and long lists to `max_items`."""
    if isinstance(value, str):
        return value if len(value) <= max_chars else value[:max_chars] + "…"
    if isinstance(value, list):
        items = [truncate_value(v, max_chars, max_items) for v in value[:max_items]]
        if len(value) > max_items:
            items.append(f"… (+{len(value) - max_items} more)")
        return items
    if isinstance(value, dict):
        return {k: truncate_value(v, max_chars, max_items) for k, v in value.items()}
    return value


def profile_source(source: Source, split: str | None = None, n_examples: int = 3, scan: int = 1000) -> SourceProfile:
    """Count rows, scan the first `scan` rows for field statistics, keep `n_examples` truncated example rows.

    Malformed lines are skipped (not fatal) while profiling; how many is noted in the profile's description so
    that the chef knows to load the source with `on_malformed: skip`.
    """
    resolved = source.resolve_split(split)
    rows, exact = source.count(split)
    declared = source.fields(split) if source.has_schema(split) else {}
    stats: dict[str, _FieldStats] = {name: _FieldStats() for name in declared}
    examples: list[dict[str, Any]] = []
    skipped = 0

    def on_skip(line_no: int, raw: str, message: str) -> None:
        nonlocal skipped
        skipped += 1

    scanned = 0
    for row in source.iter_rows(split, limit=scan, on_malformed="skip", on_skip=on_skip):
        scanned += 1
        if len(examples) < n_examples:
            examples.append(truncate_value(row))
        for key, value in row.items():
            stats.setdefault(key, _FieldStats()).add(value)
    if scanned < scan and not exact:
        rows, exact = scanned, True  # the scan read everything: now we know

    description = source.spec.description
    if skipped:
        note = f"[{skipped} malformed line(s) among the first {scanned + skipped}: load with on_malformed: skip]"
        description = f"{description} {note}".strip()
    return SourceProfile(
        id=source.spec.id, uri=source.spec.uri, description=description,
        split=resolved if resolved is not None else source.spec.split,
        rows=rows, rows_exact=exact, scanned=scanned,
        fields=[st.profile(name, declared.get(name)) for name, st in stats.items()],
        examples=examples)


def render_profiles(profiles: list[SourceProfile]) -> str:
    """Compact text of several profiles (what `datachef inspect` prints and what the chef reads)."""
    return "\n\n".join(_render_one(p) for p in profiles) + ("\n" if profiles else "")


def _render_one(p: SourceProfile) -> str:
    if p.rows is None:
        size = "rows unknown"
    elif p.rows_exact:
        size = f"{p.rows:,} rows"
    else:
        size = f"~{p.rows:,} rows (estimate)"
    head = [f"## {p.id}", p.uri, size]
    if p.split:
        head.append(f"split {p.split}")
    lines = [" | ".join(head)]
    if p.description:
        lines.append(p.description)
    lines.append(f"fields ({p.scanned:,} rows scanned):" if p.fields else "fields: none seen")
    for f in p.fields:
        parts = [f"  {f.name}: {f.type}"]
        if f.min_len is not None:
            unit = "chars" if f.type == "str" else "items" if f.type in ("list", "messages") else "len"
            parts.append(f"{unit} {f.min_len:,}/{_num(f.mean_len)}/{f.max_len:,}")
        if p.scanned and f.non_null < p.scanned:
            missing = p.scanned - f.non_null
            parts.append(f"null/missing {missing:,}/{p.scanned:,}")
        lines.append("  ".join(parts))
    if p.examples:
        lines.append("examples:")
        lines.extend("  " + json.dumps(ex, ensure_ascii=False, default=str) for ex in p.examples)
    return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


# -- field roles: which of a source's fields can be the user turn, the reply, the final answer ---------------------
_TURN_TYPES = ("str", "any", "int", "float")  # fields that can fill a chat turn (numbers render as text)

_PROMPT_NAMES = ("question", "problem", "prompt", "input", "instruction", "query")
_RESPONSE_NAMES = ("solution", "worked_solution", "rationale", "response", "output", "answer", "target", "final")


def _ranked(profile: SourceProfile, names: tuple[str, ...], longest_first: bool) -> list[str]:
    """Text fields ordered by how plausible they are for a role: name hints first, then length."""
    by_name = {f.name: f for f in profile.fields if f.type in _TURN_TYPES}

    def rank(name: str) -> tuple[int, float]:
        hint = next((i for i, n in enumerate(names) if n == name.lower()), len(names))
        mean = by_name[name].mean_len or 0.0
        return hint, -mean if longest_first else mean

    return sorted(by_name, key=rank)


def field_pairs(profile: SourceProfile, max_pairs: int = 2) -> list[tuple[str, str]]:
    """The plausible (user field, assistant field) pairs of a source, most plausible first.

    A weak model given free enums per role picks absurd pairs (the bare answer as both question and response), which
    validate but yield empty or useless data; offering only distinct, plausible pairs keeps its freedom where it
    matters (which sources, how many) and out of where it does not."""
    users = _ranked(profile, _PROMPT_NAMES, longest_first=False)[:1]
    assistants = [a for a in _ranked(profile, _RESPONSE_NAMES, longest_first=True) if a not in users][:3]
    lengths = {f.name: f.mean_len or 0.0 for f in profile.fields}
    if any(lengths[a] >= MIN_WORKED_LEN for a in assistants):
        # A source that has worked solutions offers its short answer only as their '#### N' line (answer_fields):
        # as a reply of its own it is a bare answer, which a benchmark that shows its work grades Task mismatch.
        assistants = [a for a in assistants if lengths[a] > MAX_ANSWER_LEN]
    pairs = [(u, a) for u in users for a in assistants]
    return pairs[:max_pairs]


# A bare final answer is short; a response that shows work is not. Mean lengths in characters.
MAX_ANSWER_LEN = 32
MIN_WORKED_LEN = 40


def answer_fields(profile: SourceProfile, user: str, assistant: str) -> list[str]:
    """Fields that may be appended as the '#### <answer>' line of a (user, assistant) pair: short, answer-like fields,
    and only when the assistant field is a worked response. Offering any field lets a weak chef swap roles (the bare
    answer as the reply, the worked solution as the "answer"), which yields malformed replies."""
    by_name = {f.name: f for f in profile.fields if f.type in _TURN_TYPES}
    if (by_name[assistant].mean_len or 0.0) < MIN_WORKED_LEN:
        return []
    return [name for name, f in by_name.items()
            if name not in (user, assistant) and (f.mean_len or 0.0) <= MAX_ANSWER_LEN]
