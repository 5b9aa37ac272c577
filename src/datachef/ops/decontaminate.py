"""`decontaminate`: drop training rows that share word n-grams with any benchmark item (dev and held-out)."""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import xxhash
from pydantic import Field

from ..errors import ExecutionError
from .base import TextFieldsMixin, FilterOp, OpParams, Row, resolve_text_fields, row_text
from .registry import register
from .dedup_near import ngram_hashes, normalise_words, word_hashes

_VERSION = 1  # of the normalisation + hashing scheme, part of the cache context


def _text_pieces(row: Row, fields: list[str]) -> list[str]:
    """Each field value (and each chat message content) as its own text."""
    out: list[str] = []
    for f in fields:
        v = row.get(f)
        if v is None:
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict) and "content" in v[0]:
            out.extend(str(m.get("content", "")) for m in v)
        elif isinstance(v, list):
            out.extend(str(x) for x in v)
        else:
            out.append(v if isinstance(v, str) else str(v))
    return out


class DecontaminateParams(OpParams):
    fields: list[str] | None = Field(None, description="Fields whose text is checked (default: all text fields, "
                                                       "including messages contents).")
    ngram: int = Field(8, ge=3, le=50, description="Word n-gram size, after lowercasing and removing punctuation. "
                                                   "Smaller flags more (and more false alarms).")
    min_overlap: int = Field(1, ge=1, description="Distinct shared n-grams needed to drop a row.")
    also_exact_question: bool = Field(True, description="Also drop rows containing a field equal (after "
                                                        "normalisation) to a benchmark question shorter than "
                                                        "`ngram` words, which n-grams cannot catch.")


@register
class Decontaminate(TextFieldsMixin, FilterOp):
    """Remove rows that overlap the task's benchmark, so no test item (dev or held-out) leaks into training data.
    Reason `benchmark_overlap`.

    Use it on every recipe whose sources might contain benchmark material (public QA sets, web scrapes, synthetic
    data seeded from the benchmark). A row is dropped when its text shares at least `min_overlap` word `ngram`-grams
    (default 8) with the question, answer or choices of any benchmark item; the comparison ignores case, punctuation
    and spacing, so re-cased or re-punctuated copies are caught."""

    name = "decontaminate"
    Params = DecontaminateParams

    def __init__(self, params, ctx, step_id):
        super().__init__(params, ctx, step_id)
        self._fingerprint: str | None = None
        self._bench: np.ndarray | None = None  # sorted unique uint64 n-gram hashes of the benchmark
        self._short_questions: set[int] = set()

    # -- the benchmark side ------------------------------------------------------------------------------------
    def _benchmark_fields(self) -> tuple[str, str, list[str]]:
        spec = self.ctx.task.benchmark.fields if self.ctx.task is not None else None
        if spec is None:
            return "question", "answer", []
        return spec.question, spec.answer, list(spec.choices or [])

    def _benchmark_texts(self) -> list[tuple[str, list[str]]]:
        """(question text, [other texts: answer, choices]) for every benchmark item."""
        if self.ctx.benchmark_rows is None:
            raise ExecutionError("decontaminate needs the task's benchmark, but this run has none "
                                 "(run the recipe with a task)", step=self.step_id, op=self.name)
        q, a, choices = self._benchmark_fields()
        items = self.ctx.benchmark_rows()
        if not items:
            raise ExecutionError("the benchmark has no items: nothing to decontaminate against",
                                 step=self.step_id, op=self.name)
        out = []
        for item in items:
            question = item.get(q)
            others = [item.get(f) for f in [a, *choices]]
            out.append(("" if question is None else str(question),
                        [str(x) for x in others if x is not None and str(x) != ""]))
        if all(not qt for qt, _ in out):
            raise ExecutionError(f"no benchmark item has the question field '{q}'", step=self.step_id, op=self.name,
                                 field=q)
        return out

    def cache_context(self) -> Any:
        """The benchmark's content (a hash of every normalised question/answer/choice text), so a changed or
        re-split benchmark never reuses a cached output."""
        if self._fingerprint is None:
            h = hashlib.sha256(f"decontaminate-v{_VERSION}".encode())
            for question, others in self._benchmark_texts():
                for text in (question, *others):
                    h.update(" ".join(normalise_words(text)).encode())
                    h.update(b"\x1f")
                h.update(b"\x1e")
            self._fingerprint = h.hexdigest()[:32]
        return {"benchmark": self._fingerprint}

    def setup(self) -> None:
        if not hasattr(self, "_fields"):
            self._fields = resolve_text_fields(self.params.fields, self.input_fields)
        n = self.params.ngram
        chunks: list[np.ndarray] = []
        short: set[int] = set()
        for question, others in self._benchmark_texts():
            for i, text in enumerate((question, *others)):
                words = normalise_words(text)
                if len(words) >= n:
                    chunks.append(ngram_hashes(word_hashes(words), n))
                elif i == 0 and words and self.params.also_exact_question:
                    short.add(_whole_hash(words))
        # One sorted uint64 array: 8 bytes per benchmark n-gram (a Python set would take ~70).
        self._bench = np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)
        self._short_questions = short

    # -- per row ---------------------------------------------------------------------------------------------
    def shared_ngrams(self, text: str) -> int:
        """Number of distinct word n-grams of `text` that also occur in the benchmark."""
        words = normalise_words(text)
        if len(words) < self.params.ngram or len(self._bench) == 0:
            return 0
        h = np.unique(ngram_hashes(word_hashes(words), self.params.ngram))
        pos = np.searchsorted(self._bench, h)
        pos[pos == len(self._bench)] = 0
        return int(np.count_nonzero(self._bench[pos] == h))

    def reason(self, row: Row) -> str | None:
        if self._bench is None:
            raise ExecutionError("decontaminate.reason called before setup()", step=self.step_id, op=self.name)
        if self.shared_ngrams(row_text(row, self._fields)) >= self.params.min_overlap:
            return "benchmark_overlap"
        if self._short_questions:
            for piece in _text_pieces(row, self._fields):
                words = normalise_words(piece)
                if words and len(words) < self.params.ngram and _whole_hash(words) in self._short_questions:
                    return "benchmark_overlap"
        return None


def _whole_hash(words: list[str]) -> int:
    return xxhash.xxh64_intdigest(" ".join(words).encode())
