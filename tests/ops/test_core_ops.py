"""Focused unit tests of the per-record ops and helpers, through their public methods."""
from __future__ import annotations

import pytest

from datachef.errors import DatachefError
from datachef.ops import Drop, OpContext, get_op, op_catalogue
from datachef.ops.expr import Expression
from datachef.ops.sampling import split_total

META = {"source": "s", "row": 0, "ops": []}


def make(name, input_fields=None, **args):
    cls = get_op(name)
    op = cls(cls.Params.model_validate(args), OpContext(), "step")
    op.bind([input_fields or {"question": "str", "answer": "str"}])
    return op


def test_every_op_has_docs_and_typed_params():
    cat = {c["name"]: c for c in op_catalogue()}
    required = {"load", "filter", "map", "rename", "template", "extract_answer", "dedup_exact", "dedup_near",
                "decontaminate", "language_filter", "quality_filter", "to_chat", "sample", "mix", "concat", "shuffle",
                "llm_map", "llm_generate"}
    assert required <= set(cat)
    for c in cat.values():
        assert len(c["doc"]) > 40 and c["params"]["type"] == "object"


def test_expression_whitelist():
    e = Expression("len(question) > 5 and 'x' not in answer.lower()")
    assert e.fields == {"question", "answer"}
    assert e({"question": "long enough", "answer": "Y"}) is True
    assert Expression('row["a b"] == 1').fields == {"a b"}
    for bad in ["open('/etc/passwd')", "question.__class__", "[x for x in question]", "lambda: 1", "(a := 1)"]:
        with pytest.raises(DatachefError):
            Expression(bad)


def test_filter_predicates_and_reasons():
    f = make("filter", length={"field": "question", "min": 3, "unit": "words"},
             regex=[{"field": "answer", "pattern": "http", "mode": "drop"}],
             keywords={"field": "question", "any": ["how", "what"]}, numeric_answer="answer")
    assert f.reason({"question": "How many eggs are there", "answer": "#### 5"}) is None
    assert f.reason({"question": "How many", "answer": "5"}) == "too_short:question"
    assert f.reason({"question": "How many eggs here", "answer": "see http://x 5"}) == "regex:answer"
    assert f.reason({"question": "Count the eggs please", "answer": "5"}) == "keywords:question"
    assert f.reason({"question": "What is the count", "answer": "five"}) == "no_number:answer"
    assert make("filter", expr="int(answer) > 3").reason({"question": "", "answer": "x"}) == "expr_error:ValueError"
    assert make("filter", length={"field": "q", "min": 5, "max": 2}).check()


def test_map_rename_select_template():
    row = {"question": "  Q?  ", "answer": "A", "_meta": dict(META)}
    assert make("map", set={"q": "question.strip()", "n": "word_count(question)"}).map(row)["q"] == "Q?"
    with pytest.raises(Drop, match="map_error:x"):
        make("map", set={"x": "int(answer)"}).map(row)
    r = make("rename", mapping={"question": "prompt"})
    assert "prompt" in r.map(row) and "prompt" in r.output_fields() and "question" not in r.output_fields()
    s = make("select", fields=["answer"])
    assert set(s.map(row)) == {"answer", "_meta"} and s.output_fields() == {"answer": "str"}
    t = make("template", field="p", template="Question: {question}\nAnswer:")
    assert t.reads() == {"question"} and t.map(row)["p"].startswith("Question:   Q?")


def test_extract_answer_gsm8k_style():
    op = make("extract_answer", field="answer", rationale_into="why")
    out = op.map({"question": "", "answer": "3*4=<<3*4=12>>12 eggs\nSo $1,200.00 total\n#### $1,200.00"})
    assert out["final_answer"] == "1200" and out["why"] == "3*4=12 eggs\nSo $1,200.00 total"
    with pytest.raises(Drop, match="no_answer"):
        op.map({"question": "", "answer": "no answer here"})
    keep = make("extract_answer", on_missing="keep")
    assert "final_answer" not in keep.map({"answer": "none"})
    with pytest.raises(Exception, match="capturing group"):
        make("extract_answer", pattern="####")


def test_to_chat_drops_empty_turns():
    op = make("to_chat", user="{question}", assistant="{answer}")
    out = op.map({"question": "Q", "answer": "A", "_meta": META})
    assert out["messages"] == [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]
    assert set(out) == {"messages", "_meta"}
    with pytest.raises(Drop, match="empty_turn"):
        op.map({"question": "Q", "answer": "  ", "_meta": META})


def test_split_total_is_exact():
    assert split_total(10, [1, 1, 1]) == [4, 3, 3]
    assert sum(split_total(1001, [0.7, 0.2, 0.1])) == 1001
    assert split_total(5, [1, 0]) == [5, 0]
