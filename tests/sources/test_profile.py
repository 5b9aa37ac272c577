"""Profiles (types, lengths, examples) and their rendering for people and for the chef."""
from __future__ import annotations

import json

import pytest

from datachef.sources import open_source, profile_source, render_profiles, truncate_value
from datachef.spec import SourceSpec

ROWS = [
    {"title": "short", "body": "x" * 1000, "score": 1, "tags": ["a", "b"], "extra": None,
     "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    {"title": "a bit longer", "body": "y" * 10, "score": 2.5, "tags": [], "extra": None,
     "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                  {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]},
    {"title": "t3", "body": "z", "score": 3, "tags": ["c"], "extra": "now set",
     "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "v"}]},
    {"title": "t4", "body": "w", "score": 4, "tags": ["d"], "extra": None,
     "messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "v"}]},
]


def _src(tmp_path, rows=ROWS, lines=None, **kw):
    p = tmp_path / "p.jsonl"
    p.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in (lines or rows)))
    return open_source(SourceSpec(id=kw.pop("id", "prof"), uri=str(p), description="A test source.", **kw))


def test_profile_types_lengths_and_examples(tmp_path):
    prof = profile_source(_src(tmp_path), n_examples=2)
    assert (prof.id, prof.rows, prof.rows_exact, prof.scanned) == ("prof", 4, True, 4)
    by = {f.name: f for f in prof.fields}
    assert list(by) == ["title", "body", "score", "tags", "extra", "messages"]
    assert {n: f.type for n, f in by.items()} == {"title": "str", "body": "str", "score": "float", "tags": "list",
                                                 "extra": "str", "messages": "messages"}
    assert (by["title"].min_len, by["title"].max_len) == (2, 12)
    assert by["title"].mean_len == pytest.approx(5.25, abs=0.06)
    assert (by["body"].min_len, by["body"].max_len) == (1, 1000)
    assert (by["tags"].min_len, by["tags"].max_len, by["tags"].mean_len) == (0, 2, 1.0)  # items, not chars
    assert (by["messages"].min_len, by["messages"].max_len) == (2, 4)
    assert by["extra"].non_null == 1 and by["score"].min_len is None
    assert len(prof.examples) == 2
    body = prof.examples[0]["body"]
    assert body.endswith("…") and len(body) == 301  # long strings cut to 300 chars
    assert prof.examples[1] == ROWS[1]  # short rows are untouched


def test_profile_scan_limit_and_estimates(tmp_path):
    rows = [{"i": i, "s": "v" * (i % 7)} for i in range(50)]
    prof = profile_source(_src(tmp_path, rows), scan=10, n_examples=0)
    assert prof.scanned == 10 and prof.rows == 50 and prof.rows_exact and prof.examples == []


def test_profile_skips_and_reports_malformed_lines(tmp_path):
    prof = profile_source(_src(tmp_path, lines=[ROWS[0], "{oops", ROWS[2]]))
    assert prof.scanned == 2
    assert "1 malformed line(s)" in prof.description and "on_malformed: skip" in prof.description
    assert prof.description.startswith("A test source.")


def test_truncate_value_nested():
    v = {"a": "x" * 400, "b": list(range(25)), "c": [{"content": "y" * 301}], "d": 3}
    t = truncate_value(v)
    assert t["a"] == "x" * 300 + "…"
    assert t["b"][:10] == list(range(10)) and t["b"][10] == "… (+15 more)"
    assert t["c"][0]["content"].endswith("…") and t["d"] == 3
    assert v["a"] == "x" * 400  # the original is left alone


def test_render_profiles_is_dense_and_complete(tmp_path):
    a = profile_source(_src(tmp_path, id="alpha"))
    (tmp_path / "b").mkdir()
    b = profile_source(_src(tmp_path / "b", rows=[{"q": "what?", "n": 1}], id="beta"))
    text = render_profiles([a, b])
    lines = text.splitlines()
    assert lines[0].startswith("## alpha | ") and "4 rows" in lines[0] and "p.jsonl" in lines[0]
    assert "A test source." in text
    for name in ("title: str", "body: str  chars 1/", "tags: list  items 0/1.0/2", "messages: messages",
                 "extra: str", "null/missing 3/4", "## beta", "q: str", "n: int"):
        assert name in text, name
    example_lines = [line for line in lines if line.startswith("  {")]
    assert len(example_lines) == 4  # 3 for alpha, 1 for beta, each one JSON line
    assert json.loads(example_lines[-1]) == {"q": "what?", "n": 1}
    assert render_profiles([]) == ""


def test_render_estimated_and_unknown_rows():
    from datachef.spec import SourceProfile

    text = render_profiles([SourceProfile(id="e", uri="big.jsonl", rows=123456, rows_exact=False),
                            SourceProfile(id="u", uri="hf:o/n", rows=None, split="train")])
    assert "~123,456 rows (estimate)" in text and "rows unknown" in text and "split train" in text
