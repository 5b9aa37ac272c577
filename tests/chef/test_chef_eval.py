"""`chef-eval` with scripted models: N recipes per task executed and verified, per-task figures, the expert
reference row, in-domain / out-of-domain averages, resume per (task, recipe), the report files; and the random
valid-recipe baseline."""
from __future__ import annotations

import json

import pytest

from datachef.chef import Chef, ChefConfig
from datachef.chef.baseline import RandomChef
from datachef.chef.chef_eval import ChefEval, ChefEvalConfig, EvalTask
from datachef.io import load_task, task_base_dir
from datachef.kitchens import prepare_kitchen
from datachef.sources import open_source, profile_source

from .test_cook import Chefs, Judge


class CountingChefs(Chefs):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def _chat_batch(self, batch, params, json_schema):
        self.calls += len(batch)
        return super()._chat_batch(batch, params, json_schema)


@pytest.fixture
def arithmetic(tmp_path_factory):
    return prepare_kitchen("arithmetic", tmp_path_factory.mktemp("arith"))


def _eval(kitchen, arithmetic, out, chefs, cache):
    tasks = [EvalTask(kitchen["dir"] / "task.yaml", "heldout-id"), EvalTask(arithmetic, "heldout-ood")]
    return ChefEval(tasks, out, Chef(chefs, ChefConfig(max_repairs=0)), Judge("judge"),
                    ChefEvalConfig(n=4, sample=20, cache_dir=cache)).run()


def test_chef_eval_figures_expert_row_and_averages(kitchen, arithmetic, tmp_path):
    summary = _eval(kitchen, arithmetic, tmp_path / "ce", CountingChefs(), tmp_path / "cache")
    gsm, arith = summary["tasks"]
    assert (gsm["task"], gsm["split"], gsm["n"]) == ("gsm8k", "heldout-id", 4)
    # drafts: good, mixed, off-task, never valid JSON -> 3 executable, the invalid one counts 0
    assert gsm["executable"] == 3 and gsm["executability"] == 0.75
    scores = [r["score"] if r["status"] == "ok" else 0.0 for r in gsm["recipes"]]
    assert gsm["dvs_avg"] == pytest.approx(sum(scores) / 4) and gsm["best_of_n"] == max(scores)
    assert [r["status"] for r in gsm["recipes"]][3] == "invalid"
    assert gsm["expert"] is not None and gsm["expert"] > gsm["dvs_avg"]
    # the gsm8k recipes name sources the arithmetic task does not have: none is valid there
    assert arith["executable"] == 0 and arith["dvs_avg"] == 0.0 and arith["expert"] > 0
    avg = summary["averages"]
    assert set(avg) == {"in-domain", "out-of-domain", "overall"}
    assert avg["overall"]["dvs_avg"] == pytest.approx((gsm["dvs_avg"] + arith["dvs_avg"]) / 2)
    out = tmp_path / "ce"
    assert json.loads((out / "chef_eval.json").read_text())["n"] == 4
    md = (out / "chef_eval.md").read_text()
    assert "| gsm8k | heldout-id | 75.0 |" in md and "out-of-domain average" in md
    page = (out / "chef_eval.html").read_text()
    assert "<svg" in page and "arithmetic (heldout-ood)" in page


def test_chef_eval_resumes_per_recipe(kitchen, arithmetic, tmp_path):
    first = _eval(kitchen, arithmetic, tmp_path / "ce", CountingChefs(), tmp_path / "cache")
    again_chef = CountingChefs()
    second = _eval(kitchen, arithmetic, tmp_path / "ce", again_chef, tmp_path / "cache")
    assert again_chef.calls == 0  # every (task, recipe) result was reused
    assert second["tasks"] == first["tasks"]
    status = tmp_path / "ce" / "gsm8k" / "r1" / "status.json"
    kept = (tmp_path / "ce" / "gsm8k" / "r0" / "status.json").stat().st_mtime_ns
    status.unlink()  # as if killed before recipe 1 finished
    third_chef = CountingChefs()
    third = _eval(kitchen, arithmetic, tmp_path / "ce", third_chef, tmp_path / "cache")
    assert third_chef.calls > 0 and status.is_file()
    assert (tmp_path / "ce" / "gsm8k" / "r0" / "status.json").stat().st_mtime_ns == kept
    assert third["tasks"] == first["tasks"]


def test_random_chef_draws_valid_distinct_recipes(kitchen, arithmetic):
    task = kitchen["task"]
    drafts = RandomChef(seed=1).draft(task, kitchen["profiles"], "", [], 6)
    assert all(d.valid for d in drafts)
    assert len({d.chef_recipe.model_dump_json() for d in drafts}) == 6
    assert [d.chef_recipe for d in RandomChef(seed=1).draft(task, kitchen["profiles"], "", [], 6)] == \
        [d.chef_recipe for d in drafts]


def test_random_chef_never_requires_numeric_final_answers_on_other_formats(tmp_path):
    from datachef.pool import prepare_task

    task = load_task(prepare_task("syllogisms", tmp_path / "s"))
    profiles = [profile_source(open_source(s, task_base_dir(task))) for s in task.sources]
    drafts = RandomChef().draft(task, profiles, "", [], 8)
    assert not any(d.chef_recipe.require_final_answer for d in drafts)


def test_chef_eval_cli_with_the_random_chef(tmp_path):
    from typer.testing import CliRunner

    from datachef.cli import app
    from datachef.pool import prepare_task

    path = prepare_task("course-schedule", tmp_path / "course-schedule")
    result = CliRunner().invoke(app, ["chef-eval", "--chef", "random", "--task", str(path), "--n", "2",
                                      "--sample", "5", "--no-expert", "--threads", "1", "--out", str(tmp_path / "ce"),
                                      "-q"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ce" / "chef_eval.json").read_text())
    assert summary["chef"]["chef"] == "random" and summary["tasks"][0]["split"] == "train"  # from pool.json
    assert summary["tasks"][0]["n"] == 2 and "| course-schedule | train |" in result.output


class RandomWithScriptedJudge:
    """A picklable factory: what each worker process of a parallel chef-eval builds."""

    def __call__(self):
        return RandomChef(seed=2), Judge("judge")


def test_parallel_workers_give_the_sequential_figures(kitchen, arithmetic, tmp_path):
    tasks = [EvalTask(kitchen["dir"] / "task.yaml", "heldout-id"), EvalTask(arithmetic, "heldout-ood")]
    config = ChefEvalConfig(n=2, sample=10, cache_dir=tmp_path / "cache", expert=False)
    one = ChefEval(tasks, tmp_path / "seq", RandomChef(seed=2), Judge("judge"), config).run()
    config.jobs = 2
    two = ChefEval(tasks, tmp_path / "par", None, None, config, factory=RandomWithScriptedJudge()).run()
    assert two["tasks"] == one["tasks"] and two["chef"] == one["chef"]
    assert (tmp_path / "par" / "arithmetic" / "r1" / "status.json").is_file()


def test_recipes_scored_on_ray_give_the_sequential_figures(ray_cluster, kitchen, arithmetic, tmp_path):
    """--executor ray: each task's recipes (and its expert recipe) are executed and verified at once on Ray."""
    import cloudpickle

    from datachef.verifier.scoring import RayScorers, ScoringConfig

    from . import test_cook

    tasks = [EvalTask(kitchen["dir"] / "task.yaml", "heldout-id"), EvalTask(arithmetic, "heldout-ood")]
    config = ChefEvalConfig(n=3, sample=10, cache_dir=tmp_path / "cache")
    one = ChefEval(tasks, tmp_path / "seq", RandomChef(seed=2), Judge("judge"), config).run()
    cloudpickle.register_pickle_by_value(test_cook)  # workers cannot import the tests package
    try:
        with RayScorers(test_cook._judge, ScoringConfig(sample=10, cache_dir=config.cache_dir)) as scorers:
            two = ChefEval(tasks, tmp_path / "ray", RandomChef(seed=2), None, config, scorers=scorers).run()
    finally:
        cloudpickle.unregister_pickle_by_value(test_cook)
    strip = [{**t, "recipes": [{k: r[k] for k in ("index", "status", "score", "records")} for r in t["recipes"]]}
             for t in one["tasks"]]
    assert [{**t, "recipes": [{k: r[k] for k in ("index", "status", "score", "records")} for r in t["recipes"]]}
            for t in two["tasks"]] == strip
    assert all(t["expert"] is not None for t in two["tasks"])
