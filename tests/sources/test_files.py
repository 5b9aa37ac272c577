"""Local file sources: jsonl, json, csv, parquet (+ gzip), streaming, limits, malformed lines, counts, errors."""
from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest

from datachef.errors import SourceError
from datachef.sources import count_nonblank_lines, files, infer_format, open_source
from datachef.spec import SourceSpec

ROWS = [{"question": f"What is {i} + {i}?", "answer": str(2 * i), "n": i} for i in range(25)]


def spec(uri: str | Path, **kw) -> SourceSpec:
    return SourceSpec(id=kw.pop("id", "src"), uri=str(uri), **kw)


def write_jsonl(path: Path, rows: list, *, gz: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict], row_group_size: int | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


# -- jsonl ---------------------------------------------------------------------------------------------------
def test_jsonl_rows_count_fields(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", ROWS[:3] + [""] + ROWS[3:])  # a blank line is ignored
    src = open_source(spec("a.jsonl"), tmp_path)  # relative path resolves against base_dir
    assert list(src.iter_rows()) == ROWS
    assert src.count() == (25, True)
    assert src.fields() == {"question": "str", "answer": "str", "n": "int"}
    assert src.location == str(p.resolve())


def test_jsonl_limit_streams_without_reading_the_rest(tmp_path):
    # A malformed line after the limit is never reached: rows are streamed, not loaded up front.
    write_jsonl(tmp_path / "a.jsonl", ROWS[:5] + ["{broken"])
    src = open_source(spec(tmp_path / "a.jsonl"))
    assert [r["n"] for r in src.iter_rows(limit=3)] == [0, 1, 2]
    assert list(src.iter_rows(limit=0)) == []
    it = src.iter_rows()
    assert next(it) == ROWS[0]  # lazily opened; the error only comes when the bad line is read
    with pytest.raises(SourceError):
        list(it)


def test_jsonl_gz(tmp_path):
    write_jsonl(tmp_path / "a.jsonl.gz", ROWS, gz=True)
    src = open_source(spec(tmp_path / "a.jsonl.gz"))
    assert list(src.iter_rows()) == ROWS
    assert src.count() == (25, True)


def test_malformed_jsonl_fail_names_file_and_line(tmp_path):
    p = write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], ROWS[1], '{"question": "x", "answer": }', ROWS[2]])
    src = open_source(spec(p, id="mysrc"))
    with pytest.raises(SourceError) as e:
        list(src.iter_rows())
    msg = str(e.value)
    assert e.value.line == 3 and e.value.source == "mysrc" and e.value.file == str(p)
    assert f"{p}:3" in msg and "mysrc" in msg and "invalid JSON" in msg and "column" in msg


def test_malformed_jsonl_skip_reports_each_line(tmp_path):
    long_bad = "{" + "x" * 500
    p = write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], "[1, 2]", "", long_bad, '"just a string"', ROWS[1]])
    skipped: list[tuple[int, str, str]] = []
    rows = list(open_source(spec(p)).iter_rows(on_malformed="skip", on_skip=lambda *a: skipped.append(a)))
    assert rows == ROWS[:2]
    assert [s[0] for s in skipped] == [2, 4, 5]  # line numbers count blank lines too
    assert "expected a JSON object, got list" in skipped[0][2]
    assert len(skipped[1][1]) <= 201 and skipped[1][1].startswith("{xxx")  # raw text cut to 200 chars (+ "…")
    assert "got str" in skipped[2][2]


def test_on_malformed_must_be_valid(tmp_path):
    src = open_source(spec(write_jsonl(tmp_path / "a.jsonl", ROWS)))
    with pytest.raises(SourceError, match="on_malformed"):
        src.iter_rows(on_malformed="ignore")  # type: ignore[arg-type]


def test_invalid_utf8_line_is_malformed(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(json.dumps(ROWS[0]).encode() + b"\n" + b'{"q": "\xff\xfe"}\n')
    skipped = []
    rows = list(open_source(spec(p)).iter_rows(on_malformed="skip", on_skip=lambda *a: skipped.append(a)))
    assert rows == [ROWS[0]] and skipped[0][0] == 2 and "UTF-8" in skipped[0][2]


# -- json ----------------------------------------------------------------------------------------------------
def test_json_list_and_wrapped_list(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps(ROWS, indent=2))
    (tmp_path / "wrapped.json").write_text(json.dumps({"version": 2, "data": ROWS}))
    for name in ("list.json", "wrapped.json"):
        src = open_source(spec(tmp_path / name))
        assert list(src.iter_rows(limit=4)) == ROWS[:4]
        assert src.count() == (25, True)
        assert src.fields() == {"question": "str", "answer": "str", "n": "int"}


def test_json_that_is_really_jsonl(tmp_path):
    write_jsonl(tmp_path / "lines.json", ROWS)
    src = open_source(spec(tmp_path / "lines.json"))
    assert src.format == "jsonl" and list(src.iter_rows()) == ROWS


def test_json_errors(tmp_path):
    (tmp_path / "bad.json").write_text('[\n  {"a": 1},\n  {"a": 2,,}\n]')
    with pytest.raises(SourceError) as e:
        list(open_source(spec(tmp_path / "bad.json")).iter_rows())
    assert e.value.line == 3
    (tmp_path / "two.json").write_text(json.dumps({"a": [1], "b": [2]}))
    with pytest.raises(SourceError, match="exactly one list"):
        list(open_source(spec(tmp_path / "two.json")).iter_rows())
    (tmp_path / "items.json").write_text(json.dumps([{"a": 1}, 5, {"a": 2}]))
    skipped = []
    src = open_source(spec(tmp_path / "items.json"))
    assert list(src.iter_rows(on_malformed="skip", on_skip=lambda *a: skipped.append(a))) == [{"a": 1}, {"a": 2}]
    assert skipped[0][0] == 2 and "not an object" in skipped[0][2]


# -- csv -----------------------------------------------------------------------------------------------------
def test_csv_rows_with_quoted_newlines(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('question,answer\n"Line one\nline two, with comma",42\n\nplain,"7"\n', encoding="utf-8")
    src = open_source(spec(p))
    assert list(src.iter_rows()) == [{"question": "Line one\nline two, with comma", "answer": "42"},
                                     {"question": "plain", "answer": "7"}]
    assert src.count() == (2, True)  # records, not lines
    assert src.fields() == {"question": "str", "answer": "str"}  # CSV values stay strings


def test_csv_count_without_quotes_and_bom(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n3,4\n5,6")  # BOM, no final newline
    src = open_source(spec(p))
    assert src.count() == (3, True)
    assert next(src.iter_rows()) == {"a": "1", "b": "2"}  # BOM not part of the first column name


def test_csv_wrong_field_count_is_malformed(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    with pytest.raises(SourceError) as e:
        list(open_source(spec(p)).iter_rows())
    assert e.value.line == 3 and "expected 2 fields" in str(e.value)
    skipped = []
    rows = list(open_source(spec(p)).iter_rows(on_malformed="skip", on_skip=lambda *a: skipped.append(a)))
    assert rows == [{"a": "1", "b": "2"}, {"a": "6", "b": "7"}] and skipped[0][:2] == (3, "3,4,5")


def test_csv_duplicate_header(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(SourceError) as e:
        list(open_source(spec(p)).iter_rows())
    assert e.value.field == "a"


# -- parquet -------------------------------------------------------------------------------------------------
def test_parquet_batches_schema_and_count(tmp_path):
    rows = [{"text": f"doc {i}", "score": i / 2, "tags": ["a"] * (i % 3), "ok": i % 2 == 0,
             "messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "yo"}]}
            for i in range(3000)]
    p = write_parquet(tmp_path / "a.parquet", rows, row_group_size=700)
    src = open_source(spec(p))
    assert src.count() == (3000, True)
    assert src.fields() == {"text": "str", "score": "float", "tags": "list", "ok": "bool", "messages": "messages"}
    assert src.has_schema()
    got = list(src.iter_rows())
    assert got == rows  # across row groups and record batches, in order
    assert list(src.iter_rows(limit=2)) == rows[:2]


def test_parquet_dates_become_strings_and_pandas_index_is_dropped(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"day": [datetime.date(2024, 1, 2)], "x": [1], "__index_level_0__": [7]})
    pq.write_table(table, tmp_path / "d.parquet")
    src = open_source(spec(tmp_path / "d.parquet"))
    assert list(src.iter_rows()) == [{"day": "2024-01-02", "x": 1}]
    assert src.fields() == {"day": "str", "x": "int"}


def test_not_a_parquet_file(tmp_path):
    (tmp_path / "x.parquet").write_text("hello")
    with pytest.raises(SourceError, match="parquet"):
        list(open_source(spec(tmp_path / "x.parquet")).iter_rows())


# -- resolution errors, splits, format -----------------------------------------------------------------------
def test_missing_file_names_source_and_resolved_path(tmp_path):
    with pytest.raises(SourceError) as e:
        open_source(spec("data/nope.jsonl", id="missing_one"), tmp_path)
    assert e.value.source == "missing_one"
    assert e.value.file == str((tmp_path / "data" / "nope.jsonl").resolve())
    assert "missing_one" in str(e.value) and "nope.jsonl" in str(e.value)


def test_unknown_suffix_and_explicit_format(tmp_path):
    p = write_jsonl(tmp_path / "rows.txt", ROWS[:2])
    with pytest.raises(SourceError, match="cannot infer the format"):
        open_source(spec(p))
    assert list(open_source(spec(p, format="jsonl")).iter_rows()) == ROWS[:2]


def test_plain_folder_is_an_error(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SourceError, match="is a folder"):
        open_source(spec(tmp_path / "folder"))


def test_file_split_rules(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", ROWS[:2])
    src = open_source(spec(p, id="s1"))
    assert len(list(src.iter_rows(split="train"))) == 2
    with pytest.raises(SourceError) as e:
        src.iter_rows(split="test")  # raised at the call, not at the first row
    assert e.value.source == "s1" and "split 'test'" in str(e.value)
    with pytest.raises(SourceError):
        src.count("validation")
    labelled = open_source(spec(p, split="test"))  # a file declared as the test split answers to that name
    assert len(list(labelled.iter_rows(split="test"))) == 2


def test_infer_format():
    assert infer_format(Path("x.ndjson")) == ("jsonl", False)
    assert infer_format(Path("x.v1.json.gz")) == ("json", True)
    assert infer_format(Path("x.CSV")) == ("csv", False)
    assert infer_format(Path("x")) == (None, False)


# -- counting and fingerprints -------------------------------------------------------------------------------
def test_count_nonblank_lines_edge_cases():
    for data, expected in [(b"", 0), (b"a\nb\n", 2), (b"a\nb", 2), (b"\n\na\n \n\t\r\nb", 2),
                           (b"\xef\xbb\xbf{}\n", 1), (b"\r\n".join([b"{}"] * 5), 5)]:
        assert count_nonblank_lines(io.BytesIO(data)) == expected, data


def test_count_nonblank_lines_across_chunks(monkeypatch):
    monkeypatch.setattr(files, "_CHUNK", 7)  # lines (and blank lines) straddle chunk boundaries
    data = b"".join(b"x" * (i % 11) + b"\n" for i in range(100)) + b"tail"
    expected = sum(1 for line in data.split(b"\n") if line.strip())
    assert count_nonblank_lines(io.BytesIO(data)) == expected


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64])
def test_count_nonblank_lines_matches_a_reference(monkeypatch, chunk):
    import random

    monkeypatch.setattr(files, "_CHUNK", chunk)
    rng = random.Random(chunk)
    pieces = [b"{}", b"abc", b"", b" ", b"\t", b"\r", b"  x ", b"\xef\xbb\xbf{}"]
    for _ in range(200):
        data = b"".join(rng.choice(pieces) + rng.choice([b"\n", b"\r\n"]) for _ in range(rng.randrange(8)))
        data += rng.choice(pieces)  # maybe an unterminated last line
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        expected = sum(1 for line in body.split(b"\n") if line.strip())
        assert count_nonblank_lines(io.BytesIO(data)) == expected, data


def test_big_files_get_an_estimate(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "a.jsonl", ROWS * 40)  # 1,000 rows
    monkeypatch.setattr(files, "EXACT_COUNT_MAX_BYTES", 1000)
    n, exact = open_source(spec(tmp_path / "a.jsonl")).count()
    assert not exact and 900 <= n <= 1100


def test_fingerprint_is_stable_and_follows_content(tmp_path):
    p = write_jsonl(tmp_path / "a.jsonl", ROWS[:3])
    fp = open_source(spec(p)).fingerprint()
    assert fp == open_source(spec(p)).fingerprint() and len(fp) == 16
    write_jsonl(p, ROWS[:4])
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # make sure mtime moves even on coarse clocks
    assert open_source(spec(p)).fingerprint() != fp


def test_fields_mixed_and_null_types(tmp_path):
    rows = [{"a": 1, "b": None, "c": "x", "d": [], "e": 1},
            {"a": 2.5, "b": None, "c": 3, "d": [{"role": "user", "content": "hi"}], "e": None},
            {"f": {"k": 1}}]
    src = open_source(spec(write_jsonl(tmp_path / "m.jsonl", rows)))
    assert src.fields() == {"a": "float", "b": "null", "c": "any", "d": "messages", "e": "int", "f": "dict"}
