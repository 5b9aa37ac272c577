"""`quality_filter`: Gopher/C4-style heuristic text quality checks, pure Python string ops (fast)."""
from __future__ import annotations

import re
from collections import Counter

from pydantic import Field

from .base import TextFieldsMixin, FilterOp, OpParams, Row, resolve_text_fields, row_text
from .registry import register

# A symbol is any character that is neither a letter/digit nor whitespace (underscore counts as a symbol).
_SYMBOL = re.compile(r"[^\w\s]|_")
# Everything but letters and whitespace: deleting it empties exactly the words that contain no letter.
_NOT_LETTER_OR_SPACE = re.compile(r"[^\w\s]|[\d_]")
# ASCII fast paths (bytes.translate runs at memcpy speed; the regexes above cost ~30 ns per character).
_ASCII_ALNUM_SPACE = bytes(c for c in range(128) if chr(c).isalnum() or chr(c).isspace())
_ASCII_NOT_LETTER_OR_SPACE = bytes(c for c in range(128) if not (chr(c).isalpha() or chr(c).isspace()))
_DOUBLED_AHEAD = re.compile(r"(\S)(?=\1)")  # lookahead: overlapping pairs are all found
_ELLIPSIS_ENDINGS = ("...", "…")


def _symbol_count(text: str) -> int:
    if text.isascii():  # O(1) for str
        return len(text.encode().translate(None, _ASCII_ALNUM_SPACE))
    return _SYMBOL.subn("", text)[1]


def _alpha_word_count(text: str) -> int:
    if text.isascii():
        return len(text.encode().translate(None, _ASCII_NOT_LETTER_OR_SPACE).split())
    return len(_NOT_LETTER_OR_SPACE.sub("", text).split())


def has_char_run(text: str, k: int) -> bool:
    """True when some non-space character repeats `k` (>= 2) or more times in a row.

    A run of length >= k contains two positions p and p+s (s = k//2) with p a multiple of s, so it shows up as a
    doubled character in text[::s]; only those few candidates are checked, instead of a regex step per character."""
    s = max(1, k // 2)
    for m in _DOUBLED_AHEAD.finditer(text[::s]):
        p = m.start() * s
        c = text[p]
        left, right = text[max(0, p - k + 1):p], text[p:p + k]  # a window of k each side decides ">= k"
        if (len(left) - len(left.rstrip(c))) + (len(right) - len(right.lstrip(c))) >= k:
            return True
    return False


def top_ngram_repetition(words: list[str], n_chars: int, limit: float) -> bool:
    """True when the most frequent repeated word 2-, 3- or 4-gram covers more than `limit` of the characters."""
    if len(words) < 2:
        return False
    budget = limit * n_chars
    (gram, c2), = Counter(zip(words, words[1:])).most_common(1)
    if c2 < 2:
        return False  # no 2-gram repeats, so no longer n-gram does
    if c2 * (len(gram[0]) + len(gram[1]) + 1) > budget:
        return True
    # A 3/4-gram seen c >= 2 times has every word and 2-gram in it seen >= c times: c <= c2 and its words are
    # among the repeated ones, which bounds its coverage; count only when that bound could exceed the budget.
    longest = max((len(w) for w, c in Counter(words).items() if c > 1), default=0)
    for n in (3, 4):
        if len(words) >= n and c2 * (n * longest + n - 1) > budget:
            (gram, c), = Counter(zip(*(words[i:] for i in range(n)))).most_common(1)
            if c > 1 and c * (sum(map(len, gram)) + n - 1) > budget:
                return True
    return False


class QualityParams(OpParams):
    fields: list[str] | None = Field(None, description="Fields whose text is checked (default: all text fields, "
                                                       "including messages contents), joined by newlines.")
    min_words: int | None = Field(5, ge=0, description="Fewest whitespace-separated words (reason too_few_words).")
    max_words: int | None = Field(100_000, ge=1, description="Most words (reason too_many_words).")
    min_mean_word_length: float | None = Field(
        2.0, ge=0, description="Lowest mean word length in characters (reason short_words).")
    max_mean_word_length: float | None = Field(
        12.0, gt=0, description="Highest mean word length; catches URLs, base64, glued tokens (reason long_words).")
    max_symbol_ratio: float | None = Field(
        0.4, ge=0, le=1, description="Most non-alphanumeric, non-space characters per character; worked math "
                                     "($, =, %, <<3*4=12>>: GSM8K at most 0.21) and most LaTeX stay under it, "
                                     "symbol soup does not (reason symbol_ratio).")
    max_duplicate_line_fraction: float | None = Field(
        0.3, ge=0, le=1, description="Most fraction of non-empty lines that repeat an earlier line "
                                     "(reason duplicate_lines).")
    max_top_ngram_fraction: float | None = Field(
        0.35, ge=0, le=1, description="Most fraction of characters covered by the single most frequent repeated "
                                      "word 2-, 3- or 4-gram (each checked; GSM8K rows reach 0.30, spam nears 1; "
                                      "reason repetition).")
    max_repeated_char_run: int | None = Field(
        25, ge=1, description="Longest run of one non-space character, e.g. 'aaaa' or '!!!!' (reason repeated_chars).")
    min_alpha_word_fraction: float | None = Field(
        0.3, ge=0, le=1, description="Fewest fraction of words containing a letter; worked math mixes in numbers and "
                                     "operators (GSM8K rows go down to 0.42), so this is far below Gopher's 0.8 "
                                     "(reason low_alpha_words).")
    max_ellipsis_line_fraction: float | None = Field(
        0.3, ge=0, le=1, description="Most fraction of lines ending in '...' or '…', a sign of truncated text "
                                     "(reason ellipsis_lines).")


@register
class QualityFilter(TextFieldsMixin, FilterOp):
    """Drop low-quality text with Gopher/C4-style heuristics: too few/many words, odd mean word length, symbol soup,
    duplicated lines, repetitive n-grams, long runs of one character, too few real words, truncated lines.

    Use it early on scraped or synthetic text to remove spam, boilerplate and broken rows. Defaults are tuned so
    normal math word problems with worked solutions (numbers, =, $, %) pass. Every check is optional: set a param to
    null to disable it. The reason of a dropped row is the first failing check, in this order: too_few_words,
    too_many_words, short_words, long_words, symbol_ratio, duplicate_lines, repetition, repeated_chars,
    low_alpha_words, ellipsis_lines."""

    name = "quality_filter"
    Params = QualityParams

    def check(self) -> list[str]:
        p: QualityParams = self.params
        problems = []
        if p.min_words is not None and p.max_words is not None and p.min_words > p.max_words:
            problems.append(f"min_words ({p.min_words}) > max_words ({p.max_words})")
        if (p.min_mean_word_length is not None and p.max_mean_word_length is not None
                and p.min_mean_word_length > p.max_mean_word_length):
            problems.append(f"min_mean_word_length ({p.min_mean_word_length}) > max_mean_word_length "
                            f"({p.max_mean_word_length})")
        return problems

    def setup(self) -> None:
        if not hasattr(self, "_fields"):
            self._fields = resolve_text_fields(self.params.fields, self.input_fields)

    def reason(self, row: Row) -> str | None:
        return quality_reason(row_text(row, self._fields), self.params)


def quality_reason(text: str, p: QualityParams) -> str | None:
    """The first failing check's name for `text`, or None when it passes every enabled check."""
    words = text.split()
    n_words = len(words)
    if p.min_words is not None and n_words < p.min_words:
        return "too_few_words"
    if p.max_words is not None and n_words > p.max_words:
        return "too_many_words"
    if n_words and (p.min_mean_word_length is not None or p.max_mean_word_length is not None):
        mean = sum(map(len, words)) / n_words
        if p.min_mean_word_length is not None and mean < p.min_mean_word_length:
            return "short_words"
        if p.max_mean_word_length is not None and mean > p.max_mean_word_length:
            return "long_words"
    n_chars = len(text)
    if p.max_symbol_ratio is not None and n_chars:
        if _symbol_count(text) / n_chars > p.max_symbol_ratio:
            return "symbol_ratio"
    lines: list[str] = []
    if p.max_duplicate_line_fraction is not None or p.max_ellipsis_line_fraction is not None:
        lines = [s for s in (ln.strip() for ln in text.split("\n")) if s]
    if p.max_duplicate_line_fraction is not None and len(lines) > 1:
        if 1 - len(set(lines)) / len(lines) > p.max_duplicate_line_fraction:
            return "duplicate_lines"
    if p.max_top_ngram_fraction is not None and n_words >= 2 and n_chars:
        if top_ngram_repetition(words, n_chars, p.max_top_ngram_fraction):
            return "repetition"
    if p.max_repeated_char_run is not None and has_char_run(text, p.max_repeated_char_run + 1):
        return "repeated_chars"
    if p.min_alpha_word_fraction is not None and n_words:
        if _alpha_word_count(text) / n_words < p.min_alpha_word_fraction:
            return "low_alpha_words"
    if p.max_ellipsis_line_fraction is not None and lines:
        if sum(ln.endswith(_ELLIPSIS_ENDINGS) for ln in lines) / len(lines) > p.max_ellipsis_line_fraction:
            return "ellipsis_lines"
    return None
