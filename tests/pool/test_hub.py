"""The paper's six held-out tasks as Hub task specs (datachef.pool.hub): offline checks only."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from datachef.io import load_task
from datachef.pool import hub
from datachef.pool.task import PoolError
from datachef.spec import TaskSpec

NAMES = ["physics-hub", "aime25-hub", "livecodebench-v6-hub", "openfindata-hub", "climaqa-hub", "chid-hub"]


def _uris(task: dict) -> list[str]:
    return [task["benchmark"]["source"]["uri"], *(s["uri"] for s in task["sources"])]


def _is_local(uri: str) -> bool:
    return not uri.startswith("hf:") or uri[3:].startswith((".", "/", "~"))


def test_names_are_the_six_held_out_tasks():
    assert list(hub.HUB_TASKS) == NAMES
    assert hub.hub_task_names() == NAMES
    assert set(hub.PAPER_TASKS) == set(NAMES)
    for name, task in hub.HUB_TASKS.items():
        assert task["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_task_validates_as_taskspec(name):
    spec = TaskSpec.model_validate(hub.HUB_TASKS[name])
    assert spec.name == name
    assert spec.benchmark.format in ("numeric", "mcq", "code", "free")
    assert spec.budget.train_samples == 10_000  # the paper's downstream data budget


@pytest.mark.parametrize("name", NAMES)
def test_uris_are_hub_ids_or_documented_local_routes(name):
    task = hub.HUB_TASKS[name]
    routes = hub.LOCAL_ROUTES.get(name, {})
    for uri in _uris(task):
        if _is_local(uri):
            assert uri in routes, f"{name}: local uri {uri!r} has no download instructions in LOCAL_ROUTES"
        else:
            repo = uri[3:]
            owner, _, dataset = repo.partition("/")
            assert owner and dataset and "/" not in dataset, f"{name}: {uri!r} is not hf:OWNER/NAME"
    # Every documented route is used, and its command is repeated where the user reads it.
    used = set(_uris(task))
    sources = [task["benchmark"]["source"], *task["sources"]]
    for path, command in routes.items():
        assert path in used
        assert any(s["uri"] == path and command in s["description"] for s in sources)
        assert "http" in command or "hf_hub_download" in command


@pytest.mark.parametrize("name", NAMES)
def test_at_least_three_candidate_sources_and_no_leak_of_the_benchmark(name):
    task = hub.HUB_TASKS[name]
    assert len(task["sources"]) >= 3
    ids = [s["id"] for s in task["sources"]]
    assert len(ids) == len(set(ids))
    bench = task["benchmark"]["source"]
    for s in task["sources"]:
        assert (s["uri"], s.get("split"), s.get("config")) != (bench["uri"], bench.get("split"), bench.get("config"))
        assert s["description"]


@pytest.mark.parametrize("name", NAMES)
def test_mcq_declares_choices_and_dev_leaves_items_held_out(name):
    bench = hub.HUB_TASKS[name]["benchmark"]
    if bench["format"] == "mcq":
        assert bench["fields"].get("choices"), f"{name}: MCQ benchmark without fields.choices"
    size = hub.BENCHMARK_ITEMS[name]
    if size is not None:
        assert 0 < bench["dev"] < size


def test_specific_routes():
    t = hub.HUB_TASKS
    assert t["aime25-hub"]["benchmark"]["source"]["uri"] == "hf:MathArena/aime_2025"
    lcb = t["livecodebench-v6-hub"]["benchmark"]["source"]
    assert (lcb["uri"], lcb["config"], lcb["split"]) == ("hf:lighteval/code_generation_lite", "v6", "test")
    clima = t["climaqa-hub"]["benchmark"]["source"]
    assert (clima["uri"], clima["config"], clima["split"]) == ("hf:UCSD-GENIE/ClimaQA", "Gold", "cloze")
    assert t["chid-hub"]["benchmark"]["fields"]["choices"] == ["candidates"]
    assert t["openfindata-hub"]["benchmark"]["fields"]["choices"] == ["A", "B", "C", "D"]


def test_notes_cover_every_task():
    assert set(hub.NOTES) == set(NAMES)
    for name, note in hub.NOTES.items():
        assert "Verified" in note and ("http" in note or "github.com" in note), name
        assert "not" in note.lower(), f"{name}: the note should say what remains unverified"


def test_yaml_has_a_commented_header_and_round_trips():
    for name in NAMES:
        text = hub.hub_task_yaml(name).decode("utf-8")
        header = [line for line in text.splitlines() if line.startswith("#")]
        assert header and "2602.11089" in header[0]
        assert hub.PAPER_TASKS[name] in header[0]
        assert any("Notes:" in line for line in header)
        for path in hub.LOCAL_ROUTES.get(name, {}):
            assert f"#   {path}:" in text
        assert yaml.safe_load(text) == hub.HUB_TASKS[name]


def test_prepare_writes_loadable_tasks_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("network access during prepare/load")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    paths = hub.prepare_hub_tasks(tmp_path)
    assert paths == [tmp_path / name / "task.yaml" for name in NAMES]
    for name, path in zip(NAMES, paths):
        assert sorted(p.name for p in path.parent.iterdir()) == ["task.yaml"]  # no temp file left, nothing fetched
        spec = load_task(path)
        assert spec.model_dump(mode="json", exclude_unset=True) == \
            TaskSpec.model_validate(hub.HUB_TASKS[name]).model_dump(mode="json", exclude_unset=True)
        assert spec._base_dir == path.parent.resolve()


def test_prepare_one_and_unknown_name(tmp_path):
    path = hub.prepare_hub_task("chid-hub", tmp_path / "x")
    assert path == tmp_path / "x" / "task.yaml"
    assert path.read_bytes() == hub.hub_task_yaml("chid-hub")
    with pytest.raises(PoolError):
        hub.prepare_hub_task("nope", tmp_path / "y")
    with pytest.raises(PoolError):
        hub.prepare_hub_tasks(tmp_path / "z", ["aime25-hub", "nope"])
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_hub_task_returns_a_copy():
    task = hub.hub_task("aime25-hub")
    task["sources"].clear()
    assert hub.HUB_TASKS["aime25-hub"]["sources"]


def test_module_imports_cheaply_and_stays_small():
    code = ("import sys, datachef.pool.hub; "
            "print(sorted(m for m in ('datasets', 'torch', 'transformers', 'huggingface_hub') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
    source = Path(hub.__file__).read_text(encoding="utf-8")
    assert len(source.splitlines()) < 600


def _rows_in_verified_format(name: str, n: int) -> tuple[str, str]:
    """(file name, content) shaped as the verified data of each local-route benchmark (synthetic rows)."""
    import json

    if name == "chid-hub":  # FewCLUE chid: JSON lines, 7 candidates, 0-based answer index
        lines = [json.dumps({"id": i, "candidates": [f"成语{i}{k}" for k in range(7)], "content": f"第{i}段#idiom#。",
                             "answer": i % 7}, ensure_ascii=False) for i in range(n)]
        return "FewCLUE/chid/test_public.json", "\n".join(lines) + "\n"
    if name == "openfindata-hub":  # OpenFinData: one JSON array read with json.load
        rows = [{"question": f"术语{i}?", "A": "甲", "B": "乙", "C": "丙", "D": "丁", "answer": "ABCD"[i % 4]}
                for i in range(n)]
        return "openfindata_release/financial_terminology.json", json.dumps(rows, ensure_ascii=False)
    assert name == "physics-hub"  # PHYSICS-textonly: JSON lines, final_answers a list
    lines = [json.dumps({"id": f"mechanics/{i}", "questions": f"Problem {i}", "solutions": "...",
                         "final_answers": [f"{i}"], "graphs": None}) for i in range(n)]
    return "physics_textonly.jsonl", "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["chid-hub", "openfindata-hub", "physics-hub"])
def test_local_route_benchmarks_load_with_their_fields(tmp_path, name):
    from datachef.adapt.evaluate import build_prompt, gold_target
    from datachef.sources import load_benchmark

    path = hub.prepare_hub_task(name, tmp_path)
    rel, content = _rows_in_verified_format(name, 80)
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(content, encoding="utf-8")
    spec = load_task(path)
    dev, held_out = load_benchmark(spec)
    assert len(dev) == spec.benchmark.dev and len(dev) + len(held_out) == 80
    prompt, gold = build_prompt(spec, held_out[0]), gold_target(spec, held_out[0])
    if spec.benchmark.format == "mcq":
        assert "A." in prompt and gold in "ABCDEFG"
    else:
        assert prompt.startswith("Problem") and gold
