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


def test_contamination_with_held_out_and_dev_items(task):
    g = gates(task)
    held = BENCH[4]
    leaked = msgs(("user", held["question"].upper().replace("'", "")), ("assistant", "9\n#### 9"))
    v = gate_verdict(g.check(leaked))
    assert v.name == "contamination" and v.grade == Grade.INVALID.value and "8-gram" in v.detail
    # A dev item is a benchmark item too.
    v = gate_verdict(g.check(msgs(("user", BENCH[0]["question"]), ("assistant", "#### 7 apples in the end"))))
    assert v.name == "contamination"
    # Can be switched off.
    assert gate_verdict(gates(task, check_contamination=False).check(leaked)) is None


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
