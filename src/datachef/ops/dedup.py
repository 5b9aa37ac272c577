"""`dedup_exact`: drop rows whose normalised text was already seen."""
from __future__ import annotations

import re

import xxhash
from pydantic import Field

from .base import Emitter, GlobalOp, OpParams, Row, RowStream, TextFieldsMixin, row_text
from .registry import register

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Lowercase, drop punctuation, collapse whitespace: 'Hello,  World!' and 'hello world' compare equal."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


class DedupExactParams(OpParams):
    fields: list[str] | None = Field(None, description="Fields whose text defines a duplicate (default: all text "
                                                       "fields, including messages).")
    normalize: bool = Field(True, description="Compare case-, punctuation- and whitespace-insensitively.")


@register
class DedupExact(TextFieldsMixin, GlobalOp):
    """Remove exact duplicates (after normalisation), keeping the first occurrence. Reason `duplicate`.

    Memory: one 64-bit hash per distinct row."""

    name = "dedup_exact"
    Params = DedupExactParams

    def row_key(self, row: Row) -> int:
        """The 64-bit hash two duplicate rows share (the Ray executor computes it in parallel)."""
        text = row_text(row, self._fields, sep="\x1f")
        return xxhash.xxh64_intdigest((normalise_text(text) if self.params.normalize else text).encode())

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        seen: set[int] = set()
        for row in inputs[0]:
            h = self.row_key(row)
            if h in seen:
                out.drop(row, "duplicate")
            else:
                seen.add(h)
                out.emit(row)
