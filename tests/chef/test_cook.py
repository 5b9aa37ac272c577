"""`cook` end to end with scripted models (our LLMClient interface): N drafts → execute → verify → search → best/,
candidates/, cook.json, report.html."""
from __future__ import annotations

import json

import pytest

from datachef.chef import Chef, ChefConfig
from datachef.chef.cook import Cook, CookConfig
from datachef.llm.base import Completion, LLMClient

from .test_typed import GOOD

OFF_TASK = {**GOOD, "picks": [{"source": "mmlu_other", "user_field": "question", "assistant_field": "subject",
                                "answer_field": None, "sample": 60, "reason": "general knowledge"}]}
MIXED = {**GOOD, "picks": [GOOD["picks"][0], OFF_TASK["picks"][0]], "system_prompt": None}


class Chefs(LLMClient):
    """Recipe drafts in turn: a good one, a mixed one, an off-task one, and one that never becomes valid JSON."""

    backend = "test"

    def __init__(self):
        super().__init__("chef")
        self.answers = [json.dumps(GOOD), json.dumps(MIXED), json.dumps(OFF_TASK), "no idea"]

    def _chat_batch(self, batch, params, json_schema):
        out = []
        for msgs in batch:
            if "Current best recipe" in msgs[-1]["content"]:
                out.append(Completion(json.dumps(GOOD | {"dedup": "exact"})))  # an "improved" proposal
            elif "could not be used" in msgs[-1]["content"]:
                out.append(Completion("still no idea"))
            else:
                out.append(Completion(self.answers[len(out) % len(self.answers)]))
        return out


class Judge(LLMClient):
    """A strict structured judge: passes worked solutions with a final answer, calls everything else a mismatch."""

    backend = "test"

    def _chat_batch(self, batch, params, json_schema):
        out = []
        for msgs in batch:
            text = msgs[-1]["content"].split("=== Instance to grade ===")[1].split("=== End of instance ===")[0]
            grade = "Pass" if "####" in text else "Task mismatch"
            out.append(Completion(json.dumps({"reference_answer": "", "grade": grade, "reason": "scripted"})))
        return out


@pytest.fixture
def cooked(kitchen, tmp_path):
    cook = Cook(kitchen["task"], tmp_path / "cook", Chef(Chefs(), ChefConfig(max_repairs=1)), Judge("judge"),
                CookConfig(n=4, search_budget=3, sample=20, cache_dir=tmp_path / "cache"))
    return cook.run(), tmp_path / "cook"


def test_cook_writes_best_candidates_and_report(cooked):
    summary, out = cooked
    assert summary["n"] == 4 and summary["executable"] == 3 and summary["executability"] == 0.75
    statuses = {c["id"]: c["status"] for c in summary["candidates"]}
    assert statuses["c03"] == "invalid"
    scores = {c["id"]: c["score"] for c in summary["candidates"] if c["origin"] == "sample"}
    assert scores["c00"] > scores["c01"] > scores["c02"]  # on-task > mixed > off-task
    assert summary["dvs_avg"] == pytest.approx(sum(s or 0 for s in scores.values()) / 4)
    assert 1 <= summary["search"]["tried"] <= 3
    assert summary["best"]["score"] >= summary["best_of_n"]["score"]
    for f in ["recipe.yaml", "data.jsonl", "manifest.json", "verify.json", "status.json"]:
        assert (out / "best" / f).exists(), f
    assert json.loads((out / "candidates" / "c03" / "status.json").read_text())["error"]
    # The invalid draft's raw answers, every round, are kept for reading.
    raw = (out / "candidates" / "c03" / "response.txt").read_text()
    assert "--- round 0 ---\nno idea" in raw and "--- round 1 ---\nstill no idea" in raw
    assert set(summary["usage"]) == {"chef", "judge"}  # two clients, two entries
    report = (out / "report.html").read_text()
    assert "<svg" in report and "c00" in report and "rows per step" in report
    assert json.loads((out / "cook.json").read_text())["dvs_avg"] == summary["dvs_avg"]
    # Every executed candidate carries its reward parts; the report shows them and the whole-corpus checks.
    parts = next(c for c in summary["candidates"] if c["id"] == "c00")["reward_parts"]
    assert parts["kind"] == "composite" and parts["composite"] == pytest.approx(scores["c00"])
    assert set(parts) >= {"paper", "quality", "yield_factor", "breadth", "leak_factor", "useful_records"}
    assert 0 <= summary["dvs_avg_paper"] <= 1 and summary["reward"] == "composite"
    assert "Reward parts per candidate" in report and "whole-corpus checks" in report


def test_usage_of_a_client_playing_chef_and_judge_is_counted_once(kitchen, tmp_path):
    class Both(Chefs):
        def _chat_batch(self, batch, params, json_schema):
            judged = [m for m in batch if "=== Instance to grade ===" in m[-1]["content"]]
            return Judge._chat_batch(self, batch, params, json_schema) if judged else \
                super()._chat_batch(batch, params, json_schema)

    both = Both()
    summary = Cook(kitchen["task"], tmp_path / "cook", Chef(both, ChefConfig(max_repairs=0)), both,
                   CookConfig(n=2, search_budget=0, sample=10, cache_dir=tmp_path / "cache")).run()
    assert summary["usage"] == {"chef+judge": both.usage.as_dict()}


def test_search_reweights_by_per_source_score(cooked):
    summary, _ = cooked
    mixed = next(c for c in summary["candidates"] if c["id"] == "c01")
    assert mixed["per_source"]["gsm_symbolic_cot"] > mixed["per_source"]["mmlu_other"]
    origins = [c["origin"] for c in summary["candidates"] if c["origin"] != "sample"]
    assert origins and all(o.startswith("mutation:") or o == "improve" for o in origins)


def test_a_duplicate_draft_shares_the_earlier_result_and_search_skips_scored_programs(kitchen, tmp_path):
    class Twice(Chefs):
        """The good recipe twice (the second in other words: same program), then the off-task one."""

        def __init__(self):
            super().__init__()
            reworded = {**GOOD, "workflow": "other words",
                        "picks": [{**p, "reason": "said differently"} for p in GOOD["picks"]]}
            self.answers = [json.dumps(GOOD), json.dumps(reworded), json.dumps(OFF_TASK)]

    cook = Cook(kitchen["task"], tmp_path / "cook", Chef(Twice(), ChefConfig(max_repairs=0)), Judge("judge"),
                CookConfig(n=3, search_budget=2, sample=20, cache_dir=tmp_path / "cache", redraws=0))
    from datachef.chef.search import program_key
    from datachef.io import load_recipe

    ran: list[str] = []
    execute = cook._execute
    cook._execute = lambda c: (ran.append(c.id), execute(c))[1]
    summary = cook.run()
    by_id = {c["id"]: c for c in summary["candidates"]}
    assert by_id["c01"]["duplicate_of"] == "c00" and by_id["c01"]["score"] == by_id["c00"]["score"]
    assert by_id["c01"]["status"] == "ok" and by_id["c01"]["records"] == by_id["c00"]["records"]
    status = json.loads((tmp_path / "cook" / "candidates" / "c01" / "status.json").read_text())
    assert status["duplicate_of"] == "c00" and not (tmp_path / "cook" / "candidates" / "c01" / "run").exists()
    assert "c01" not in ran and {"c00", "c02"} <= set(ran)
    # The duplicate still counts in DVS_avg@N, with its original's score.
    assert summary["dvs_avg"] == pytest.approx((2 * by_id["c00"]["score"] + by_id["c02"]["score"]) / 3)
    assert summary["distinct_drafts"] == 2 and summary["executions_saved"]["drafts"] == 1
    # Search spent its whole budget on programs never scored before, whatever it had to skip.
    searched = [c for c in summary["candidates"] if c["origin"] != "sample"]
    assert len(searched) == 2 and summary["search"]["tried"] == 2
    assert summary["executions_saved"]["search"] == len(summary["search"]["skipped"])
    programs = [program_key(load_recipe(tmp_path / "cook" / "candidates" / c / "recipe.yaml"))
                for c in ["c00", "c02"] + [c["id"] for c in searched]]
    assert len(set(programs)) == len(programs)
    assert program_key(load_recipe(tmp_path / "cook" / "candidates" / "c01" / "recipe.yaml")) == programs[0]
    assert summary["best"]["duplicate_of"] is None


def test_repeated_drafts_are_drawn_again_hotter_until_they_are_new_recipes(kitchen, tmp_path):
    class Confident(LLMClient):
        """Writes the good recipe at its usual temperature; hotter, something else (or the good one again)."""

        backend = "test"

        def __init__(self):
            super().__init__("chef")
            self.temperatures: list[float] = []

        def _chat_batch(self, batch, params, json_schema):
            self.temperatures.append(round(params.temperature, 2))
            answers = {0.8: [GOOD], 1.1: [MIXED, GOOD], 1.4: [OFF_TASK]}[round(params.temperature, 2)]
            return [Completion(json.dumps(answers[i % len(answers)])) for i in range(len(batch))]

    chef = Confident()
    summary = Cook(kitchen["task"], tmp_path / "cook", Chef(chef, ChefConfig(max_repairs=0)), Judge("judge"),
                   CookConfig(n=3, search_budget=0, sample=10, cache_dir=tmp_path / "cache")).run()
    assert chef.temperatures == [0.8, 1.1, 1.4]  # round 1 redraws 2 repeats, round 2 the one left
    sampled = [c for c in summary["candidates"] if c["origin"] == "sample"]
    assert [c["id"] for c in sampled] == ["c00", "c03", "c05"]  # new drafts take new indices (new seeds)
    assert summary["distinct_drafts"] == 3 and summary["redrawn_drafts"] == 2
    assert all(c["duplicate_of"] is None for c in sampled)


def test_progress_bars_cover_drafting_execution_and_search(kitchen, tmp_path):
    import io

    stream, logged = io.StringIO(), []
    Cook(kitchen["task"], tmp_path / "cook", Chef(Chefs(), ChefConfig(max_repairs=0)), Judge("judge"),
         CookConfig(n=2, search_budget=1, sample=10, cache_dir=tmp_path / "cache"), log=logged.append,
         progress=stream).run()
    bars = stream.getvalue()
    for phase in ("drafting: 100%", "executing: 100%", "2/2", "search: 100%", "1/1"):
        assert phase in bars, bars
    assert any(m.startswith("candidate c00") for m in logged)  # log lines still reach the log


def _judge():
    return Judge("judge")


def test_drafts_scored_on_ray_get_the_in_process_scores(ray_cluster, cooked, kitchen, tmp_path):
    """--executor ray: the drafts are executed and verified at once on Ray workers, each with its own judge."""
    import sys

    import cloudpickle

    from datachef.verifier.scoring import RayScorers, ScoringConfig

    local, _ = cooked
    config = CookConfig(n=4, search_budget=3, sample=20, cache_dir=tmp_path / "cache-ray")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests package
    try:
        with RayScorers(_judge, ScoringConfig(sample=20, cache_dir=config.cache_dir)) as scorers:
            summary = Cook(kitchen["task"], tmp_path / "cook-ray", Chef(Chefs(), ChefConfig(max_repairs=1)),
                           Judge("judge"), config, scorers=scorers, task_file=kitchen["dir"] / "task.yaml").run()
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [(c["id"], c["status"], c["score"]) for c in summary["candidates"]] == \
        [(c["id"], c["status"], c["score"]) for c in local["candidates"]]
    assert summary["dvs_avg"] == local["dvs_avg"] and summary["best"]["score"] == local["best"]["score"]
