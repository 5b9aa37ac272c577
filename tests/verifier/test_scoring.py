"""Scoring recipes on Ray actors gives the in-process scores; a worker's crash or timeout is that recipe's failure,
never the run's; a judge that is down stops the run as it does locally."""
from __future__ import annotations

import os
import sys

import cloudpickle
import pytest
import yaml

from datachef.io import load_recipe, load_task
from datachef.verifier import Verifier, VerifierError
from datachef.verifier.scoring import RayScorers, ScoreJob, ScoringConfig, score_recipe

from . import conftest


@pytest.fixture(autouse=True)
def _ship_test_code():
    """Workers cannot import the tests package: the judges below travel by value."""
    for module in (conftest, sys.modules[__name__]):
        cloudpickle.register_pickle_by_value(module)
    yield
    for module in (conftest, sys.modules[__name__]):
        cloudpickle.unregister_pickle_by_value(module)


def offline_judge():
    """Built in each worker: the fixed label judge, and hashed-word embeddings instead of the real model."""
    from datachef.verifier import relevance

    relevance.load_embedder = lambda path=None: conftest.HashingEmbedder()
    return conftest.LabelJudge({"Pass": -0.1})


def slow_judge():
    import time

    time.sleep(3)  # a model that takes its time to load: the first recipe waits for it
    return offline_judge()


def unreachable_judge():
    offline_judge()
    return conftest.ScriptedJudge(fail=True)  # a remote judge whose endpoint refuses connections


def dying_judge():
    os._exit(3)  # the worker process dies while starting


def _recipes(tmp_path):
    good = {"name": "good", "plan": {"workflow": "t"}, "output": "chat",
            "steps": [{"id": "gold", "op": "load", "args": {"source": "gold"}},
                      {"id": "chat", "op": "to_chat", "input": "gold",
                       "args": {"user": "{question}", "assistant": "{solution}"}}]}
    broken = {**good, "name": "broken", "steps": [{**good["steps"][0], "args": {"source": "nowhere"}},
                                                  good["steps"][1]]}
    paths = []
    for r in (good, broken):
        p = tmp_path / f"{r['name']}.yaml"
        p.write_text(yaml.safe_dump(r))
        paths.append(load_recipe(p))
    return paths


def test_ray_scores_equal_local_scores(ray_cluster, tmp_path, task_path, fake_embedder):
    recipes = _recipes(tmp_path)
    config = ScoringConfig(sample=5, seed=1, cache_dir=tmp_path / "cache", judge_mode="labels")
    task = load_task(task_path)
    verifier = Verifier(task, judge=conftest.LabelJudge({"Pass": -0.1}), judge_mode="labels")
    local = [score_recipe(r, task, tmp_path / f"local{i}", verifier, sample=5, seed=1, cache_dir=config.cache_dir)
             for i, r in enumerate(recipes)]
    arrived = []
    with RayScorers(offline_judge, config) as scorers:
        remote = scorers.score([ScoreJob(task_path, r, tmp_path / f"ray{i}") for i, r in enumerate(recipes)],
                               on_result=lambda k, result: arrived.append((k, result["status"])))
    assert sorted(arrived) == [(0, "ok"), (1, "failed")]  # each as it came, to be saved at once
    assert [r["status"] for r in remote] == ["ok", "failed"] == [r["status"] for r in local]
    assert remote[0]["score"] == pytest.approx(local[0]["score"]) and remote[0]["score"] > 0
    assert remote[0]["records"] == local[0]["records"]
    assert "nowhere" in remote[1]["error"] and remote[1]["error"] == local[1]["error"]
    assert (tmp_path / "ray0" / "run" / "verify.json").is_file()


def test_a_crashed_worker_fails_its_recipes_not_the_run(ray_cluster, tmp_path, task_path):
    good, _ = _recipes(tmp_path)
    with RayScorers(dying_judge, ScoringConfig(sample=5), workers=1) as scorers:
        results = scorers.score([ScoreJob(task_path, good, tmp_path / f"r{i}") for i in range(2)])
    assert [r["status"] for r in results] == ["failed", "failed"]
    assert all(r["error"].startswith("worker crashed") for r in results)


def test_a_worker_ray_kills_for_memory_fails_its_recipe_not_the_run(ray_cluster, tmp_path, task_path):
    """Ray's memory monitor kills a worker when the node runs low (seen in a GRPO run beside other jobs): its
    OutOfMemoryError is that recipe's failure and a new worker scores the next one."""
    import ray

    good, _ = _recipes(tmp_path)

    class OneOOM:  # the ray module, but the first result comes back as an out-of-memory kill
        def __init__(self):
            self.raised = False

        def __getattr__(self, name):
            return getattr(ray, name)

        def get(self, ref):
            if not self.raised:
                self.raised = True
                raise ray.exceptions.OutOfMemoryError("1 worker(s) were killed due to the node running low on memory")
            return ray.get(ref)

    with RayScorers(offline_judge, ScoringConfig(sample=5, judge_mode="labels"), workers=1) as scorers:
        scorers.ray = OneOOM()
        results = scorers.score([ScoreJob(task_path, good, tmp_path / f"r{i}") for i in range(2)])
    assert results[0]["status"] == "failed" and "OutOfMemoryError" in results[0]["error"]
    assert results[1]["status"] == "ok"


def test_a_recipe_past_its_time_limit_fails_and_the_worker_is_replaced(ray_cluster, tmp_path, task_path):
    good, _ = _recipes(tmp_path)
    config = ScoringConfig(sample=5, timeout_s=1.0, judge_mode="labels")
    with RayScorers(slow_judge, config, workers=1) as scorers:
        late = scorers.score([ScoreJob(task_path, good, tmp_path / "late")])
        assert late[0]["status"] == "failed" and "timed out" in late[0]["error"]
        scorers.config.timeout_s = None
        assert scorers.score([ScoreJob(task_path, good, tmp_path / "in-time")])[0]["status"] == "ok"


def test_a_judge_that_is_down_stops_the_run(ray_cluster, tmp_path, task_path):
    good, _ = _recipes(tmp_path)
    with RayScorers(unreachable_judge, ScoringConfig(sample=5)) as scorers:
        with pytest.raises(VerifierError, match="connection refused"):
            scorers.score([ScoreJob(task_path, good, tmp_path / "r")])


def test_a_worker_keeps_the_verifiers_of_its_most_recent_tasks_only(tmp_path, task_path, fake_embedder):
    from datachef.verifier.scoring import VERIFIERS_KEPT, _Scorer

    good, _ = _recipes(tmp_path)
    files = [task_path.parent / f"instance{i}.yaml" for i in range(VERIFIERS_KEPT + 2)]
    for f in files:  # task instances: a long run visits many, each with its own verifier
        f.write_text(task_path.read_text())
    scorer = _Scorer(lambda: conftest.LabelJudge({"Pass": -0.1}), ScoringConfig(sample=5, judge_mode="labels"))
    for i, f in enumerate(files):
        assert scorer.score(str(f), good.model_dump(mode="json"), str(tmp_path / f"r{i}"))["status"] == "ok"
    recent = [str(f) for f in files[-VERIFIERS_KEPT:]]
    assert scorer.verifiers.keys() == recent
    kept = scorer.verifiers.get(recent[1], lambda: None)  # a lookup makes it the most recent
    assert kept is not None
    scorer.score(recent[0], good.model_dump(mode="json"), str(tmp_path / "again"))  # so does scoring
    assert scorer.verifiers.keys() == [recent[2], recent[3], recent[1], recent[0]]
    assert scorer.verifiers.get(recent[1], lambda: None) is kept  # reused, never rebuilt
