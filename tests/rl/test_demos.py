"""Cold-start demonstrations: teachers' proposals scored by the reward, kept above the threshold (best first, one per
program), written per instance (a re-run skips finished ones) and collected into demos.jsonl."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from datachef.chef import Chef, ChefConfig
from datachef.cli import app
from datachef.rl import RecipeReward, RewardConfig, RolloutTask, parse_compact
from datachef.rl.demos import ChefTeacher, DemoConfig, ProbeTeacher, make_demos

from ..chef.conftest import kitchen  # noqa: F401 - the gsm8k kitchen fixture
from ..chef.test_cook import Chefs, Judge
from ..conftest import math_rows

JUNK = [{"problem": "buy now click here " * 8, "solution": "!!! $$$ ### %%% " * 6} for _ in range(60)]
OFF_TOPIC = [{"problem": f"Name a colour of the flag of country number {i}.", "solution": "Red, like many flags."}
             for i in range(60)]


def _task(tmp_path, sources: dict[str, list[dict]]):
    """A small numeric task (the shared fixture's benchmark, with two dev items: relevance needs them)."""
    import yaml

    from ..conftest import BENCH, write_jsonl

    write_jsonl(tmp_path / "bench.jsonl", BENCH + [{"question": r["problem"], "answer": r["solution"]}
                                                   for r in math_rows(3, start=900)])
    for sid, rows in sources.items():
        write_jsonl(tmp_path / "sources" / f"{sid}.jsonl", rows)
    task = {"name": "toy", "instruction": "Solve arithmetic word problems; end with '#### <number>'.",
            "benchmark": {"name": "toybench", "format": "numeric", "dev": 2,
                          "source": {"id": "bench", "uri": "bench.jsonl"}, "answer_pattern": "####\\s*(.+)$"},
            "sources": [{"id": sid, "uri": f"sources/{sid}.jsonl", "description": f"source {sid}"}
                        for sid in sources],
            "budget": {"train_samples": 100}}
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return tmp_path / "task.yaml"


def _reward(tmp_path):
    return RecipeReward(RewardConfig(sample=20, cache_dir=tmp_path / "cache"), judge=Judge("judge"),
                        work_dir=tmp_path / "rewards")


def test_probe_teacher_demos_keep_the_good_sources(tmp_path):
    task_file = _task(tmp_path, {"gold": math_rows(120), "junk": JUNK, "chatter": OFF_TOPIC})
    reward = _reward(tmp_path)
    summary = make_demos([task_file], [ProbeTeacher(reward)], reward, tmp_path / "demos",
                         DemoConfig(threshold=0.3, per_instance=2))
    demos = [json.loads(line) for line in (tmp_path / "demos" / "demos.jsonl").read_text().splitlines()]
    assert summary["demonstrations"] == len(demos) >= 1 and summary["tasks"] == 1
    assert summary["per_teacher"] == {"probe": len(demos)}
    best = demos[0]
    rt = RolloutTask.load(task_file)
    chef, _ = parse_compact(best["completion"], rt.task, rt.profiles, 0, 0)
    assert chef.picks[0].source == "gold" and best["reward"] >= 0.3
    assert "Sources:" in best["prompt"] and "[gold]" in best["prompt"]
    assert len({d["program"] for d in demos}) == len(demos)  # one demonstration per program
    record = json.loads((tmp_path / "demos" / "instances" / "task.json").read_text())
    assert record["kept"] and all("reward" in p for p in record["proposals"])
    # Every combination is proposed with the filters on and off, so demonstrations show both settings.
    switches = {(a["final"], a["quality"]) for a in (json.loads(p["completion"]) for p in record["proposals"])}
    assert switches == {(True, True), (True, False), (False, True), (False, False)}


def test_finished_instances_are_not_run_again(tmp_path):
    task_file = _task(tmp_path, {"gold": math_rows(60)})
    reward = _reward(tmp_path)

    class Counting(ProbeTeacher):
        calls = 0

        def propose(self, rt, dev):
            Counting.calls += 1
            return super().propose(rt, dev)

    first = make_demos([task_file], [Counting(reward)], reward, tmp_path / "d", DemoConfig(threshold=0.0))
    again = make_demos([task_file], [Counting(reward)], reward, tmp_path / "d", DemoConfig(threshold=0.0))
    assert Counting.calls == 1 and again == first


def test_chef_teacher_turns_typed_drafts_into_compact_answers(kitchen, tmp_path):  # noqa: F811
    rt = RolloutTask(kitchen["dir"] / "task.yaml", kitchen["task"], kitchen["profiles"])
    answers = ChefTeacher(Chef(Chefs(), ChefConfig(max_repairs=0)), n=4).propose(rt, kitchen["dev"])
    assert len(answers) == 3  # the fourth draft never became valid JSON
    for a in answers:
        parse_compact(a, kitchen["task"], kitchen["profiles"], 0, 0)


def test_cli_reads_the_instances_listing(tmp_path):
    r = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["rl", "demos", "--instances", str(tmp_path), "--out",
                                                      str(tmp_path / "o")])
    assert r.exit_code == 2 and "instances.jsonl not found" in r.output
