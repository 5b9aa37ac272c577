"""Deterministic gates on crafted records."""
from __future__ import annotations

from datachef.verifier.config import Grade, VerifierConfig
from datachef.verifier.gates import Gates, chat_format_problems, gate_verdict

from .conftest import BENCH, GOLD, gold_chat


def msgs(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": r, "content": c} for r, c in turns]


def test_well_formed_chat_has_no_problems():
    assert chat_format_problems(msgs(("user", "q?"), ("assistant", "a."))) == []
    assert chat_format_problems(msgs(("system", "s"), ("user", "q"), ("assistant", "a"), ("user", "q2"),
                                     ("assistant", "a2"))) == []


def test_chat_format_violations_are_named():
    assert "no assistant reply" in chat_format_problems(msgs(("user", "q")))
    assert any("start with a user" in p for p in chat_format_problems(msgs(("assistant", "a"), ("user", "q"),
                                                                           ("assistant", "b"))))
    assert any("in a row" in p for p in chat_format_problems(msgs(("user", "q"), ("user", "q"), ("assistant", "a"))))
    assert any("last turn" in p for p in chat_format_problems(msgs(("user", "q"), ("assistant", "a"), ("user", "q"))))
    assert any("empty" in p for p in chat_format_problems(msgs(("user", "  "), ("assistant", "a"))))
    assert any("system turn" in p for p in chat_format_problems(msgs(("user", "q"), ("system", "s"),
                                                                     ("assistant", "a"))))
    assert chat_format_problems([]) == ["messages is not a non-empty list"]
    assert any("unknown role" in p for p in chat_format_problems([{"role": "human", "content": "x"}]))


def gates(task=None, **cfg) -> Gates:
    return Gates(VerifierConfig(**cfg), task)


def test_clean_record_passes_every_gate(task):
    results = gates(task).check(gold_chat(0)["messages"])
    assert [r.name for r in results] == ["duplicate", "contamination", "too_short", "repetition", "chat_format",
                                             "final_answer"]
    assert gate_verdict(results) is None


def test_empty_and_short_responses_are_invalid():
    g = gates()
    v = gate_verdict(g.check(msgs(("user", "Hi"), ("assistant", "ok"))))
    assert v.name == "too_short" and v.grade == Grade.INVALID.value
    v = gate_verdict(gates(min_response_chars=10).check(msgs(("user", "What is 2 + 2?"), ("assistant", "4"))))
    assert v.name == "too_short"
    # An empty or missing reply is a format error (the rubric's "empty turns, missing assistant").
    v = gate_verdict(g.check(msgs(("user", "What is 2 + 2?"), ("assistant", " "))))
    assert v.name == "chat_format" and v.grade == Grade.FORMAT_ERROR.value
    v = gate_verdict(g.check(msgs(("user", "What is 2 + 2 in the decimal system?"),)))
    assert v.name == "chat_format" and "no assistant reply" in v.detail


def test_repetition_is_invalid():
    spam = "buy now buy now " * 40
    v = gate_verdict(gates().check(msgs(("user", "Tell me about apples."), ("assistant", spam))))
    assert v.name == "repetition" and v.grade == Grade.INVALID.value and v.detail == "repetition"
    v = gate_verdict(gates().check(msgs(("user", "Shout please."), ("assistant", "A" + "!" * 60))))
    assert v.name == "repetition" and v.detail == "repeated_chars"
    # Only replies are checked: an MCQ question may repeat its options' words.
    options = "\n".join(f"{k}. the visual sensory registry of type {k}" for k in "ABCD")
    assert gate_verdict(gates().check(msgs(("user", f"Which one?\n{options}"), ("assistant", "The answer is B.")))) \
        is None


def test_format_error_when_structure_is_broken():
    v = gate_verdict(gates().check(msgs(("user", "What is two plus two?"), ("user", "Tell me"),
                                        ("assistant", "It is four."))))
    assert v.name == "chat_format" and v.grade == Grade.FORMAT_ERROR.value


def test_more_than_one_final_answer_line_is_a_format_error():
    # The shape a recipe produces by appending '#### {answer}' to a reply that already ends with one, or by using
    # the bare answer as the reply and the worked solution as the "answer": a last-line checker would pass it.
    swapped = "3\n#### Tom has 5 apples and gives away 2, so 5 - 2 = 3.\n#### 3"
    v = gate_verdict(gates().check(msgs(("user", "Tom has 5 apples and gives 2 away. How many are left?"),
                                        ("assistant", swapped))))
    assert v.name == "final_answer" and v.grade == Grade.FORMAT_ERROR.value and "2 '####'" in v.detail
    one = "Tom gives away 2 of his 5 apples, so 5 - 2 = 3 are left.\n#### 3"
    assert gate_verdict(gates().check(msgs(("user", "Tom has 5 apples and gives 2 away. How many left?"),
                                           ("assistant", one)))) is None


def test_contamination_names_the_held_out_item(task):
    g = gates(task)
    held = BENCH[4]
    leaked = msgs(("user", held["question"].upper().replace("'", "")), ("assistant", "9\n#### 9"))
    v = gate_verdict(g.check(leaked))
    assert v.name == "contamination" and v.grade == Grade.INVALID.value
    assert v.detail == "reproduces 100% of held-out benchmark item 4's question (its distinctive n-gram words)"
    # A dev item (shown to the judge, never evaluated) is not a leak unless the config says so.
    dev_copy = msgs(("user", BENCH[0]["question"]), ("assistant", "3 + 4 = 7 apples in the end.\n#### 7"))
    assert gate_verdict(g.check(dev_copy)) is None
    v = gate_verdict(gates(task, contamination_include_dev=True).check(dev_copy))
    assert v.name == "contamination" and "dev benchmark item 0" in v.detail
    # Can be switched off.
    assert gate_verdict(gates(task, check_contamination=False).check(leaked)) is None


def test_same_style_records_are_not_contamination(task):
    # GSM-style questions phrased like the benchmark's ("How many ... does ... have ...?"), other numbers.
    g = gates(task)
    for a, b in [(5, 9), (14, 3), (8, 8)]:
        record = msgs(("user", f"Tom has {a} apples and buys {b} more apples at the market. How many apples does Tom "
                               f"have now?"), ("assistant", f"Tom has {a} + {b} = {a + b} apples now.\n#### {a + b}"))
        assert gate_verdict(g.check(record)) is None


def test_the_gate_and_the_op_apply_one_rule(task):
    from datachef.ops.base import OpContext
    from datachef.ops.decontaminate import Decontaminate, DecontaminateParams
    from datachef.sources import load_benchmark

    dev, held_out = load_benchmark(task)
    op = Decontaminate(DecontaminateParams(fields=["messages"]),
                       OpContext(task=task, benchmark_rows=lambda: dev + held_out), "decon")
    op.setup()
    g = gates(task)
    records = [gold_chat(i)["messages"] for i in range(3)] + [
        msgs(("user", b["question"]), ("assistant", b["answer"])) for b in BENCH]
    passed = [next(r for r in g.check(m) if r.name == "contamination").passed for m in records]
    assert passed == [op.reason({"messages": m}) is None for m in records]
    assert passed == [True] * 7 + [False] * 2  # the two held-out items
    assert op.cache_context() == {"benchmark": g.benchmark_index.fingerprint}


def test_duplicate_gate_names_the_record_copied():
    a = gold_chat(0)["messages"]
    v = gate_verdict(gates().check(a, duplicate_of=0))
    assert v.name == "duplicate" and "exact copy of record 0" in v.detail
    v = gate_verdict(gates().check(a, near_duplicate_of=3))
    assert v.name == "duplicate" and "near copy of record 3" in v.detail


def test_gold_rows_are_not_flagged(task):
    g = gates(task)
    for i in range(len(GOLD)):
        assert gate_verdict(g.check(gold_chat(i)["messages"])) is None


def test_a_short_reply_may_repeat_its_words():
    """Gopher's n-gram and line checks are for documents: '2 × 2 × 2 × 2 × 2 × 19' is a right answer, not spam."""
    for answer in ["2 × 2 × 2 × 2 × 2 × 19", "1 2 4 3\n4 3 1 2\n2 1 3 4\n3 4 2 1", "no no no"]:
        assert gate_verdict(gates().check(msgs(("user", "Factor 608 into primes."), ("assistant", answer)))) is None
    v = gate_verdict(gates().check(msgs(("user", "Shout please."), ("assistant", "A" + "!" * 60))))
    assert v.name == "repetition" and v.detail == "repeated_chars"  # character runs count at any length
