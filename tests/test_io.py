"""Atomic writes: all or nothing, with the permissions an ordinary file would get."""
from __future__ import annotations

import os
import stat

import pytest

from datachef.io import atomic_open, write_json_atomic


def test_atomic_write_gets_the_usual_mode_and_a_failure_leaves_the_old_file(tmp_path):
    old = os.umask(0o027)
    try:
        target = tmp_path / "out.json"
        write_json_atomic(target, {"a": 1})
        assert stat.S_IMODE(target.stat().st_mode) == 0o640  # 0666 less the umask, not mkstemp's 0600
        with pytest.raises(RuntimeError):
            with atomic_open(target) as f:
                f.write("half")
                raise RuntimeError("killed mid-write")
        assert target.read_text() == '{\n  "a": 1\n}\n'
        assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind
    finally:
        os.umask(old)


def test_cache_root_follows_env(tmp_path, monkeypatch):
    from pathlib import Path

    from datachef.io import cache_root

    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("DATACHEF_CACHE")
    assert cache_root() == Path.home() / ".cache" / "datachef"


def test_iter_jsonl_skips_blank_lines(tmp_path):
    from datachef.io import iter_jsonl

    p = tmp_path / "a.jsonl"
    p.write_text('{"a": 1}\n\n  \n[2]\n')
    assert list(iter_jsonl(p)) == [{"a": 1}, [2]]


def test_publish_dir_moves_outputs_in_with_the_last_name_last(tmp_path, monkeypatch):
    from datachef import io

    out = tmp_path / "out"
    (out / "dropped").mkdir(parents=True)
    (out / "dropped" / "stale.jsonl").write_text("old")
    moved: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(io.os, "replace", lambda a, b: (moved.append(os.path.basename(b)), real_replace(a, b)))
    with io.publish_dir(out, last=("manifest.json",)) as staging:
        (staging / "manifest.json").write_text("{}")
        (staging / "data.jsonl").write_text("x\n")
        (staging / "dropped").mkdir()
        (staging / "dropped" / "new.jsonl").write_text("new")
    assert moved[-1] == "manifest.json" and set(moved) == {"manifest.json", "data.jsonl", "dropped"}
    assert [p.name for p in (out / "dropped").iterdir()] == ["new.jsonl"]  # the old folder is replaced whole
    assert sorted(p.name for p in out.iterdir()) == ["data.jsonl", "dropped", "manifest.json"]  # no staging left


def test_publish_dir_changes_nothing_when_the_build_fails(tmp_path):
    from datachef.io import publish_dir

    out = tmp_path / "out"
    out.mkdir()
    (out / "data.jsonl").write_text("old\n")
    with pytest.raises(RuntimeError):
        with publish_dir(out, last=("manifest.json",)) as staging:
            (staging / "data.jsonl").write_text("new\n")
            raise RuntimeError("step failed")
    assert (out / "data.jsonl").read_text() == "old\n" and [p.name for p in out.iterdir()] == ["data.jsonl"]


def test_content_hash_ignores_key_order():
    from datachef.hashing import content_hash

    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert len(content_hash({"a": 1}, 16)) == 16 and content_hash({"a": 1}) != content_hash({"a": 2})


def test_stage_ledger_runs_once_per_fingerprint_and_resumes(tmp_path):
    from datachef.stages import Stage, StageLedger

    calls: list[str] = []
    out = tmp_path / "a.txt"

    def work() -> dict:
        calls.append("a")
        out.write_text("done")
        return {"n": 3}

    first = StageLedger(tmp_path).run(Stage("a", {"x": 1}, work, outputs=[out]))
    assert first.ran and first.info["n"] == 3 and "seconds" in first.info and calls == ["a"]
    again = StageLedger(tmp_path).run(Stage("a", {"x": 1}, work, outputs=[out]))  # a new process: read from disk
    assert not again.ran and again.info == first.info and calls == ["a"]
    out.unlink()  # an output gone: the stage runs again
    assert StageLedger(tmp_path).run(Stage("a", {"x": 1}, work, outputs=[out])).ran and calls == ["a", "a"]
    other = StageLedger(tmp_path).run(Stage("a", {"x": 2}, work, outputs=[out], invalidates=("b",)))
    assert other.ran and other.fingerprint != first.fingerprint


def test_a_failed_stage_is_not_recorded(tmp_path):
    from datachef.stages import Stage, StageLedger

    def boom() -> dict:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        StageLedger(tmp_path).run(Stage("a", {}, boom))
    assert StageLedger(tmp_path).get("a") == {}
