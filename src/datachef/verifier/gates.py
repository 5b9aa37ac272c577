"""Deterministic gates: cheap per-instance checks whose failure decides the grade without asking the judge.

Order follows the rubric (validity before format): duplicate → contamination → too short → repetition (Invalid),
then chat format and final-answer lines (Format error). Every gate runs and is reported; the first failing one
decides the grade.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..ops.contamination import BenchmarkIndex, ContaminationRule
from ..ops.quality import QualityParams, quality_reason
from ..spec import TaskSpec
from .config import Grade, VerifierConfig

Messages = list[dict[str, Any]]


@dataclass
class GateResult:
    name: str
    passed: bool
    grade: str | None = None  # the grade a failure implies
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FINAL_LINE = re.compile(r"^\s*####", re.M)


def final_answer_problem(response: str) -> str:
    """Why a reply's final-answer marking is malformed: more than one '####' line makes the answer ambiguous (a
    checker reading the last one can be fooled by a reply that states a bare answer, then a whole solution marked
    as the answer, then the answer again). Empty string = fine."""
    n = len(_FINAL_LINE.findall(response))
    return f"{n} '####' final-answer lines (one expected)" if n > 1 else ""


def chat_format_problems(messages: Any) -> list[str]:
    """Why `messages` is not a well-formed training chat: optional system turn first, then user/assistant turns
    alternating from user, ending with an assistant reply, no empty turn. Empty list = well formed."""
    if not isinstance(messages, list) or not messages:
        return ["messages is not a non-empty list"]
    problems: list[str] = []
    roles: list[str] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str) or not isinstance(m.get("role"), str):
            problems.append(f"turn {i} is not a {{role, content}} object with string values")
            continue
        roles.append(m["role"])
        if m["role"] not in ("system", "user", "assistant"):
            problems.append(f"turn {i} has unknown role '{m['role']}'")
        if not m["content"].strip():
            problems.append(f"turn {i} ({m['role']}) is empty")
    if problems:
        return problems
    body = roles[1:] if roles[0] == "system" else roles
    if "system" in body:
        problems.append("a system turn appears after the first turn")
    if not body or body[0] != "user":
        problems.append("the conversation does not start with a user turn")
    for i in range(1, len(body)):
        if body[i] == body[i - 1] and body[i] != "system":
            problems.append(f"two '{body[i]}' turns in a row")
            break
    if "assistant" not in body:
        problems.append("no assistant reply")
    elif body[-1] != "assistant":
        problems.append("the last turn is not the assistant's")
    return problems


def last_turn(messages: Messages, role: str) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def first_turn(messages: Messages, role: str) -> str:
    for m in messages:
        if isinstance(m, dict) and m.get("role") == role and isinstance(m.get("content"), str):
            return m["content"]
    return ""


def conversation_text(messages: Messages) -> str:
    return "\n".join(m["content"] for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str))


_WS = re.compile(r"\s+")


def duplicate_key(messages: Messages) -> str:
    """What two records must share to count as exact duplicates: roles and contents, case and spacing ignored."""
    return "\x1e".join(f"{m.get('role')}\x1f{_WS.sub(' ', str(m.get('content', ''))).strip().lower()}"
                       for m in messages if isinstance(m, dict))


class Gates:
    """The gates for one task. The contamination gate asks the `decontaminate` operator's own index (one rule: does
    the instance reproduce a held-out benchmark item?), so the verifier flags exactly what that op removes."""

    def __init__(self, config: VerifierConfig, task: TaskSpec | None = None, base_dir: Path | None = None,
                 benchmark_rows: list[dict] | None = None):
        self.config = config
        self._repetition = QualityParams(
            min_words=None, max_words=None, min_mean_word_length=None, max_mean_word_length=None,
            max_symbol_ratio=None, min_alpha_word_fraction=None, max_ellipsis_line_fraction=None,
            max_duplicate_line_fraction=config.max_duplicate_line_fraction,
            max_top_ngram_fraction=config.max_top_ngram_fraction,
            max_repeated_char_run=config.max_repeated_char_run)
        # Short replies are checked for character runs only: "2 × 2 × 2 × 2 × 2 × 19" repeats its 2-gram by right.
        self._short_repetition = self._repetition.model_copy(update={"max_duplicate_line_fraction": None,
                                                                      "max_top_ngram_fraction": None})
        self.benchmark_index: BenchmarkIndex | None = None
        if config.check_contamination and task is not None:
            if benchmark_rows is None:
                from ..sources import load_benchmark

                dev, held_out = load_benchmark(task, base_dir)
                benchmark_rows = dev + held_out
            rule = ContaminationRule(ngram=config.contamination_ngram,
                                     min_item_overlap=config.contamination_min_item_overlap,
                                     max_item_frequency=config.contamination_max_item_frequency,
                                     include_dev=config.contamination_include_dev,
                                     min_distinctive_words=config.contamination_min_distinctive_words,
                                     max_answer_repeat=config.contamination_max_answer_repeat)
            self.benchmark_index = BenchmarkIndex.for_task(task, benchmark_rows, rule)

    @property
    def checks_contamination(self) -> bool:
        return self.benchmark_index is not None

    def contamination(self, messages: Messages) -> GateResult:
        """The contamination gate alone (the whole-corpus leak check runs it on every record)."""
        assert self.benchmark_index is not None, "contamination gate is off"
        leak = self.benchmark_index.match([m["content"] for m in messages
                                           if isinstance(m, dict) and isinstance(m.get("content"), str)])
        return GateResult("contamination", leak is None, Grade.INVALID.value, "" if leak is None else leak.describe())

    def check(self, messages: Messages, *, duplicate_of: int | None = None,
              near_duplicate_of: int | None = None) -> list[GateResult]:
        """Every gate's result for one instance, in rubric order. `duplicate_of` / `near_duplicate_of`: the earlier
        record this one copies exactly / nearly, as the whole-corpus checks found (corpus.py)."""
        c = self.config
        out: list[GateResult] = []
        if c.check_duplicates or c.check_near_duplicates:
            detail = (f"exact copy of record {duplicate_of}" if duplicate_of is not None else
                      f"near copy of record {near_duplicate_of} (word 5-gram Jaccard >= "
                      f"{c.near_duplicate_threshold:g})" if near_duplicate_of is not None else "")
            out.append(GateResult("duplicate", not detail, Grade.INVALID.value, detail))
        if self.benchmark_index is not None:
            out.append(self.contamination(messages))
        text = conversation_text(messages)
        response = last_turn(messages, "assistant")
        n_words = len(text.split())
        # An empty or missing reply is a chat-format problem (below); here: a reply too thin to teach anything.
        short = n_words < c.min_words or 0 < len(response.strip()) < c.min_response_chars
        out.append(GateResult("too_short", not short, Grade.INVALID.value,
                              f"{n_words} words, response {len(response.strip())} characters" if short else ""))
        replies = "\n".join(m["content"] for m in messages if isinstance(m, dict) and m.get("role") == "assistant"
                            and isinstance(m.get("content"), str))
        long_enough = len(replies.split()) >= c.repetition_min_words
        rep = quality_reason(replies, self._repetition if long_enough else self._short_repetition) \
            if replies.strip() else None
        out.append(GateResult("repetition", rep is None, Grade.INVALID.value, rep or ""))
        problems = chat_format_problems(messages)
        out.append(GateResult("chat_format", not problems, Grade.FORMAT_ERROR.value, "; ".join(problems)))
        answer_problem = final_answer_problem(response)
        out.append(GateResult("final_answer", not answer_problem, Grade.FORMAT_ERROR.value, answer_problem))
        return out


def gate_verdict(results: list[GateResult]) -> GateResult | None:
    """The first failing gate (it decides the grade), or None when all pass."""
    return next((r for r in results if not r.passed), None)
