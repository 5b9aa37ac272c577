"""The one contamination rule: does a text reproduce a specific benchmark item?

The `decontaminate` op (drops such rows) and the verifier's contamination gate (grades such records Invalid) both
ask one `BenchmarkIndex`, built once from the benchmark items, through `match(text) -> Leak | None`.

The rule. A text is contaminated when it reproduces one held-out benchmark item:

1. **n-gram overlap.** Texts are compared as words: lowercased, apostrophes dropped, other punctuation turned into
   spaces (`normalise_words`), GSM8K calculator annotations (`<<48/2=24>>`) removed, so re-cased, re-punctuated,
   re-spaced or de-annotated copies read the same. An item has two parts: its question (the question field and each
   choice field, as separate segments) and its answer. A part's *distinctive words* are the words covered by its
   word `ngram`-grams (default 8) found in at most `max_item_frequency` benchmark items (default 2: an item and one
   duplicate of it). n-grams found in more items are template text (a generator's wording, "Which of the following
   ...", a passage shared by several questions): they say nothing about *which* item a text copies and are left
   out of both sides of the ratio. The text reproduces the part when the n-grams it shares with the part cover at
   least `min_item_overlap` (default 0.7) of the part's distinctive words, **and** of the number words among them
   (when it has any): a copy keeps the item's numbers, while data from the same template with other numbers or
   names shares only template n-grams and the few that run through a coinciding slot value.
   Two kinds of part identify no item by n-grams and are left out: a part with fewer than `min_distinctive_words`
   (default 16) distinctive words, where one or two rare n-grams of a low-entropy text (a grid of X and O cells,
   "Ann is a knight, and Bob is a knave") are shared by chance; and every answer, when more than
   `max_answer_repeat` (default 5%) of the benchmark's answers of at least `ngram` words are also another item's
   whole answer (answers drawn from a small space: solved 4x4 sudokus, the plaintexts of a cipher task). A question
   left without distinctive words is matched whole (rule 2).
2. **Whole question.** An item whose question has no distinctive n-gram (shorter than `ngram` words, or all
   template) is reproduced by a record piece (a field value, a message, or a line of one) whose words are its
   question's, or differ from them by one word changed, added or removed, never a number, with at least three words
   and one that is not a number on both sides: "Compute 23 - 28." reproduces "Calculate 23 - 28.", "Calculate 23 -
   29." does not, nor does a solution line "23 - 28 = -5" reproduce "Calculate 23 - 28 - 5.". A question
   asked by more than `max_item_frequency` items (a bare template stem) identifies no item and is never matched.

Dev items (the first `benchmark.dev`: shown to the chef and the judge, never evaluated) are not leaks of what is
measured, so only held-out items are indexed unless `include_dev`. Frequencies count every item, dev included, so
template detection sees the whole benchmark.

Why this rule (established practice):
- PaLM (Chowdhery et al. 2022, §8) calls an evaluation example contaminated when at least 70% of its 8-grams occur
  in the training data: contamination is decided per evaluation item, as a share of *that item*. Hence n = 8 and
  the 0.7 threshold.
- Llama 2 (Touvron et al. 2023, App. A.6) measures the share of an example's tokens covered by n-grams it shares
  with the training data ("dirty" above 80%, "clean" below 20%). Counting covered words rather than matched
  n-grams keeps a copy with a few scattered word edits near 100%: an edit loses the n-grams through it, but its
  neighbours stay covered by the n-grams on either side.
- GPT-3 (Brown et al. 2020, App. C) matches 13-grams and sets frequent n-grams aside, since common phrases collide
  by chance; here frequency is measured inside the benchmark, where template wording is what repeats.
- Cosmopedia (Ben Allal et al. 2024, after phi-1) drops a sample when the substrings it shares with one benchmark
  sample exceed 50% of that sample: a stricter setting of `min_item_overlap`.
Measured on reasoning-gym generators (300 benchmark items; 700-1,000 other items of the same generator, each
checked): verbatim copies are all caught; at 0.7 no other item of leg_counting, time_intervals, simple_equations or
basic_arithmetic is flagged, and 6 of 995 gsm_symbolic ones are, mostly the same question with only the names
changed (at 0.5: 9 leg_counting, 1 time_intervals and 76 gsm_symbolic ones). The old rule (any shared 8-gram with
any item) flagged all leg_counting and gsm_symbolic items, 610 of 701 time_intervals and 228 of 701
simple_equations ones. On generators whose items are low-entropy grids or short verdicts (300 items, 375-401
others), parts without the minimum and repeating answers flagged 161 of 401 other shortest_path items, 86 of 401
knights_knaves, 261 of 370 mini_sudoku and 105 of 375 caesar_cipher ones (the same plaintext under another shift);
with them left out, 0, 1, 2 (of 401: a blank to fill, '_' or '___', is a word, so a puzzle keeps its positions)
and 0, and every copy is still caught.
A copy with every number changed is not caught (a rephrased sample: its answer differs from the item's).

Cost: building is linear in the benchmark (every n-gram hashed once, one sort); memory is about 20 bytes per
distinctive n-gram of the indexed items plus 4 per benchmark word, never dependent on the corpus checked. `match`
hashes the text's n-grams and binary-searches them in one sorted uint64 array (numpy, no loop over items); only a
text that shares a distinctive n-gram pays for the coverage, over the items it touches.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from .dedup_near import ngram_hashes, normalise_words, word_hashes

if TYPE_CHECKING:  # pragma: no cover
    from ..spec import TaskSpec

RULE_VERSION = 4  # of the rule (normalisation, parts, frequencies, coverage); part of every fingerprint. 3: CJK;
# 4: parts with few distinctive words, and answers that repeat across the benchmark, identify no item

_CALCULATOR = re.compile(r"<<[^<>]*>>")
_BLANK = re.compile(r"(?<!\w)_+(?!\w)")  # a blank to fill ('_', '___'), not an identifier's underscore
_DIGIT = re.compile(r"\d")
_WILDCARD = "\x00"
_MIN_WHOLE_EDIT_WORDS = 3


class ContaminationRule(BaseModel):
    """The rule's knobs: the `decontaminate` op's parameters, the verifier's `contamination_*` settings."""

    model_config = ConfigDict(extra="forbid")

    ngram: int = Field(8, ge=3, le=50, description="Word n-gram size (case, punctuation and spacing ignored).")
    min_item_overlap: float = Field(
        0.7, gt=0, le=1, description="Share of one benchmark item's question or answer (its distinctive words, and "
                                     "the numbers among them) a text must cover with shared n-grams to count as a "
                                     "copy of that item.")
    max_item_frequency: int = Field(
        2, ge=1, description="n-grams (and short whole questions) found in more benchmark items than this are "
                             "template text that identifies no item: ignored.")
    include_dev: bool = Field(False, description="Also treat the dev items (shown to the chef and judge, never "
                                                 "evaluated) as leaks; by default only held-out items are.")
    min_distinctive_words: int = Field(
        16, ge=0, description="A question or answer with fewer distinctive words than this identifies no item by "
                              "n-grams (one or two rare n-grams of a low-entropy text, a grid of X and O cells or "
                              "'Ann is a knight, and Bob is a knave', are shared by chance): such a question is "
                              "matched whole, such an answer not at all.")
    max_answer_repeat: float = Field(
        0.05, ge=0, le=1, description="When more than this share of the benchmark's answers of at least `ngram` "
                                      "words is also another item's whole answer, answers come from a small space "
                                      "(solved 4x4 sudokus, a few plaintexts) and identify no item: only questions "
                                      "are matched.")


@dataclass(frozen=True)
class Leak:
    """Which benchmark item a text reproduces, and how."""

    item: int  # position in the benchmark, in source order (dev items first, as `load_benchmark` splits them)
    split: Literal["dev", "held-out"]
    how: Literal["n-gram overlap", "whole question", "edited question"]
    part: Literal["question", "answer"]
    overlap: float  # n-grams: the lower of the word and number shares; whole: share of the question's words kept

    def describe(self) -> str:
        if self.how == "n-gram overlap":
            return (f"reproduces {self.overlap:.0%} of {self.split} benchmark item {self.item}'s {self.part} "
                    f"(its distinctive n-gram words)")
        if self.how == "whole question":
            return f"holds {self.split} benchmark item {self.item}'s whole question"
        return f"holds {self.split} benchmark item {self.item}'s question with one word edited"


def text_words(text: str) -> list[str]:
    """The words the rule compares: `normalise_words` after GSM8K calculator annotations are removed, with each
    blank to fill ('_' of a sudoku grid, '___' of a cloze) kept as a word, so a puzzle keeps its positions."""
    if "<<" in text:
        text = _CALCULATOR.sub(" ", text)
    if "_" in text:
        text = _BLANK.sub(" blank ", text)
    return normalise_words(text)


def _texts(value: Any) -> list[str]:
    """A benchmark field's text segments: a list value (e.g. all choices in one field) gives one per element."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if v is not None]
    return [value if isinstance(value, str) else str(value)]


def _key(words: Iterable[str]) -> int:
    return xxhash.xxh64_intdigest("\x1f".join(words).encode())


def _edit_keys(words: list[str]) -> tuple[list[int], list[int]]:
    """(one word wildcarded, one word removed) keys of a question, at its non-number words only. A removal must
    leave a word that is not a number: a bare run of numbers (a solution line "9 + 7 = 2") is no question."""
    subs, dels = [], []
    if len(words) < _MIN_WHOLE_EDIT_WORDS:
        return subs, dels
    wordy = [j for j, w in enumerate(words) if not _DIGIT.search(w)]
    for j in wordy:
        subs.append(_key([*words[:j], _WILDCARD, *words[j + 1:]]))
        if len(words) > _MIN_WHOLE_EDIT_WORDS and len(wordy) > 1:
            dels.append(_key([*words[:j], *words[j + 1:]]))
    return subs, dels


def _covered(starts: np.ndarray, groups: np.ndarray, n: int, size: int, numbers_before: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """(words, number words) covered per group by the n-grams starting at `starts`: sorted, distinct positions in
    one word space where segments never overlap, so an n-gram never runs into the next segment.
    `numbers_before[k]` counts the number words before position k."""
    if starts.size == 0:
        return np.zeros(size), np.zeros(size)
    length = np.minimum(np.diff(starts, append=starts[-1] + n), n)  # what each n-gram adds to the union
    numbers = numbers_before[starts + length] - numbers_before[starts]
    return (np.bincount(groups, weights=length, minlength=size),
            np.bincount(groups, weights=numbers, minlength=size))


class BenchmarkIndex:
    """Every benchmark item, indexed for `match`: build once per benchmark, query per record.

    `items` in source order, the first `dev` of them the dev set; `question`, `answer` and `choices` name their
    fields (`for_task` reads them from a task; the engine's `load_benchmark_index` also loads the items)."""

    def __init__(self, items: Sequence[Mapping[str, Any]], *, question: str = "question",
                 answer: str | None = "answer", choices: Sequence[str] = (), dev: int = 0,
                 rule: ContaminationRule | None = None):
        self.rule = rule = rule or ContaminationRule()
        n = rule.ngram
        self.size, self.dev = len(items), max(0, min(dev, len(items)))
        first = 0 if rule.include_dev else self.dev
        self.indexed = self.size - first  # items a text can be found to reproduce
        digest = hashlib.sha256(f"contamination-v{RULE_VERSION}|{rule.model_dump_json()}|dev={self.dev}".encode())

        hashes, starts, groups, per_item, is_number = [], [], [], [], []
        questions: list[list[str]] = []
        answers: list[int] = []  # keys of the whole answers of at least n words
        offset = 0
        for i, item in enumerate(items):
            q_words = [text_words(t) for t in _texts(item.get(question))]
            segments = [(0, w) for w in q_words]
            segments += [(0, text_words(t)) for c in choices for t in _texts(item.get(c))]
            segments += [(1, text_words(t)) for t in (_texts(item.get(answer)) if answer else [])]
            answer_words = [w for part, words in segments if part == 1 for w in words]
            if len(answer_words) >= n:
                answers.append(_key(answer_words))
            mine = []
            for part, words in segments:
                digest.update(f"{part}:{' '.join(words)}\x1f".encode())
                g = ngram_hashes(word_hashes(words), n)
                hashes.append(g)
                starts.append(np.arange(offset, offset + len(g), dtype=np.int64))
                groups.append(np.full(len(g), 2 * i + part, dtype=np.int32))
                mine.append(g)
                is_number.extend(bool(_DIGIT.search(w)) for w in words)
                offset += len(words)
            digest.update(b"\x1e")
            per_item.append(np.unique(np.concatenate(mine)) if mine else np.empty(0, np.uint64))
            questions.append([w for words in q_words for w in words])
        self.fingerprint = digest.hexdigest()[:32]

        h = np.concatenate(hashes) if hashes else np.empty(0, np.uint64)
        s = np.concatenate(starts) if starts else np.empty(0, np.int64)
        g = np.concatenate(groups) if groups else np.empty(0, np.int32)
        distinct, frequency = np.unique(np.concatenate(per_item) if per_item else h, return_counts=True)
        template = distinct[frequency > rule.max_item_frequency]
        keep = ~np.isin(h, template)
        self._numbers_before = np.concatenate([[0], np.cumsum(is_number, dtype=np.int32)]).astype(np.int32)
        # Distinctive words and numbers per part (dev items too: a dev question may still need its whole key).
        self._words, self._numbers = _covered(s[keep], g[keep], n, 2 * self.size, self._numbers_before)
        # Parts that cannot identify an item: too few distinctive words to rule out chance, or (all answers) an
        # answer space so small that the benchmark's own items share whole answers.
        counts = Counter(answers)
        self.answer_repeat = sum(c for c in counts.values() if c > 1) / len(answers) if answers else 0.0
        weak = (self._words > 0) & (self._words < rule.min_distinctive_words)
        if self.answer_repeat > rule.max_answer_repeat:
            weak[1::2] = True
        keep &= ~weak[g]
        self._words[weak], self._numbers[weak] = 0, 0
        keep &= g >= 2 * first
        order = np.argsort(h[keep], kind="stable")
        self._hash, self._start, self._group = h[keep][order], s[keep][order], g[keep][order]
        self._whole_index(questions, first)

    def _whole_index(self, questions: list[list[str]], first: int) -> None:
        """Keys of the questions n-grams cannot identify: whole, one word wildcarded, one word removed."""
        no_ngrams = [i for i, q in enumerate(questions) if q and self._words[2 * i] == 0]
        whole = Counter(_key(q) for q in questions if q)
        edits = {i: _edit_keys(questions[i]) for i in no_ngrams}
        subs = Counter(k for i in no_ngrams for k in set(edits[i][0]))
        dels = Counter(k for i in no_ngrams for k in set(edits[i][1]))
        limit = self.rule.max_item_frequency
        self._whole: dict[int, int] = {}
        self._sub: dict[int, int] = {}
        self._del: dict[int, int] = {}
        for i in no_ngrams:
            if i < first:
                continue
            k = _key(questions[i])
            if whole[k] <= limit:
                self._whole.setdefault(k, i)
            for table, keys, counts in ((self._sub, edits[i][0], subs), (self._del, edits[i][1], dels)):
                for k in keys:
                    if counts[k] <= limit:
                        table.setdefault(k, i)
        self._max_whole = max((len(questions[i]) for i in set(self._whole.values())), default=0)
        # Lengths of the questions matched whole: a piece can only be one (or one word edited) at these lengths ±1,
        # so most pieces skip the per-word edit keys.
        self._lengths = frozenset(len(questions[i]) for i in no_ngrams if i >= first)

    @classmethod
    def for_task(cls, task: "TaskSpec", items: Sequence[Mapping[str, Any]],
                 rule: ContaminationRule | None = None) -> "BenchmarkIndex":
        """The index of a task's benchmark `items` (dev first, as `load_benchmark` returns them)."""
        fields = task.benchmark.fields
        return cls(items, question=fields.question, answer=fields.answer, choices=fields.choices or (),
                   dev=task.benchmark.dev, rule=rule)

    @property
    def nbytes(self) -> int:
        """Memory held by the index (arrays exactly; the short-question tables at ~100 bytes an entry)."""
        tables = len(self._whole) + len(self._sub) + len(self._del)
        arrays = (self._hash, self._start, self._group, self._words, self._numbers, self._numbers_before)
        return sum(a.nbytes for a in arrays) + 100 * tables

    # -- queries ---------------------------------------------------------------------------------------------
    def match(self, text: str | Sequence[str]) -> Leak | None:
        """The benchmark item `text` reproduces, or None. `text` is one string or the pieces of a record (field
        values, message contents): a short item's question is matched against each piece and each line of one."""
        pieces = [text] if isinstance(text, str) else [t for t in text if t]
        short_max = self._max_whole + 1 if self._whole else 0
        words: list[str] = []
        short: list[list[str]] = []
        for piece in pieces:
            if short_max and "\n" in piece:
                lines = [text_words(line) for line in piece.split("\n")]
                short.extend(w for w in lines if 0 < len(w) <= short_max)
                piece_words = [w for line in lines for w in line]
            else:
                piece_words = text_words(piece)
            if 0 < len(piece_words) <= short_max:
                short.append(piece_words)
            words.extend(piece_words)
        leak = self._ngram_leak(words)
        if leak is None and short:
            leak = self._whole_leak(short)
        return leak

    def _leak(self, item: int, how: str, part: str, overlap: float) -> Leak:
        return Leak(item, "dev" if item < self.dev else "held-out", how, part, overlap)  # type: ignore[arg-type]

    def _ngram_leak(self, words: list[str]) -> Leak | None:
        n, table = self.rule.ngram, self._hash
        if len(words) < n or table.size == 0:
            return None
        h = ngram_hashes(word_hashes(words), n)
        lo = np.searchsorted(table, h)
        np.minimum(lo, table.size - 1, out=lo)
        hit = table[lo] == h
        if not hit.any():
            return None
        lo = lo[hit]
        count = np.searchsorted(table, h[hit], side="right") - lo
        # Every occurrence of every shared n-gram (an n-gram occurs in at most max_item_frequency items).
        at = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        starts, first = np.unique(self._start[at], return_index=True)
        groups = self._group[at][first]
        touched, inverse = np.unique(groups, return_inverse=True)
        words, numbers = _covered(starts, inverse, n, touched.size, self._numbers_before)
        share = words / self._words[touched]
        has_numbers = self._numbers[touched] > 0  # a copy keeps the item's numbers, same-template data does not
        share[has_numbers] = np.minimum(share[has_numbers], numbers[has_numbers] / self._numbers[touched][has_numbers])
        best = int(np.argmax(share))
        if share[best] < self.rule.min_item_overlap:
            return None
        group = int(touched[best])
        return self._leak(group // 2, "n-gram overlap", "answer" if group % 2 else "question", float(share[best]))

    def _whole_leak(self, pieces: list[list[str]]) -> Leak | None:
        lengths = self._lengths
        for words in pieces:
            if len(words) in lengths:
                item = self._whole.get(_key(words))
                if item is not None:
                    return self._leak(item, "whole question", "question", 1.0)
        for words in pieces:
            n = len(words)
            if n < _MIN_WHOLE_EDIT_WORDS:
                continue
            if n + 1 in lengths:
                item = self._del.get(_key(words))  # the question with one word removed
                if item is not None:
                    return self._leak(item, "edited question", "question", n / (n + 1))
            changed, added = n in lengths, n - 1 in lengths and n > _MIN_WHOLE_EDIT_WORDS
            if not (changed or added):
                continue
            for j, w in enumerate(words):
                if _DIGIT.search(w):
                    continue
                if changed:
                    item = self._sub.get(_key([*words[:j], _WILDCARD, *words[j + 1:]]))  # one word changed
                    if item is not None:
                        return self._leak(item, "edited question", "question", (n - 1) / n)
                if added:
                    item = self._whole.get(_key([*words[:j], *words[j + 1:]]))  # one word added
                    if item is not None:
                        return self._leak(item, "edited question", "question", 1.0)
        return None
