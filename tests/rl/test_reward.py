"""The RL reward on what a policy writes: malformed JSON, a recipe naming what does not exist, a recipe that runs
but yields nothing, a good recipe (composite / paper / sparse), repeated programs, and a worker that dies."""
from __future__ import annotations

import json

import pytest

from datachef.rl import RecipeReward, RewardConfig, RolloutTask

from ..chef.conftest import kitchen  # noqa: F401 - the gsm8k kitchen fixture
from ..chef.test_cook import OFF_TASK, Judge
from ..chef.test_typed import GOOD

EMPTY = {**OFF_TASK, "require_final_answer": True}  # MMLU subjects never end in '#### N': every row is dropped


@pytest.fixture(scope="module")
def rollout(kitchen):  # noqa: F811
    return RolloutTask(kitchen["dir"] / "task.yaml", kitchen["task"], kitchen["profiles"])


def _reward(tmp_path, kind="composite", **kw):
    return RecipeReward(RewardConfig(kind=kind, form="typed", sample=20, cache_dir=tmp_path / "cache"),
                        judge=Judge("judge"),
                        work_dir=tmp_path / "rewards", **kw)


def test_every_outcome_gets_its_reward(rollout, tmp_path):
    reward = _reward(tmp_path)
    texts = ["I would use the gold source.",                                       # no JSON at all
             json.dumps({**GOOD, "picks": [{**GOOD["picks"][0], "source": "nope"}]}),  # unknown source
             json.dumps(EMPTY),                                                     # runs, yields nothing
             "Here is my recipe: " + json.dumps(GOOD)]                              # a good recipe
    results = reward(texts, [rollout] * 4)
    assert [r.status for r in results] == ["format_violation", "format_violation", "failed", "ok"]
    assert results[0].reward == results[1].reward == reward.format_penalty == -0.5
    assert "no JSON" in results[0].error and "unknown source 'nope'" in results[1].error
    assert results[2].reward == reward.failure_penalty == -1.0 and "no records" in results[2].error
    good = results[3]
    assert good.reward == good.score > 0 and good.records > 0 and good.parts["kind"] == "composite"
    assert good.reward > results[2].reward > -2


def test_paper_and_sparse_kinds(rollout, tmp_path):
    text = [json.dumps(GOOD)]
    paper = _reward(tmp_path, "paper")(text, [rollout])[0]
    sparse = _reward(tmp_path, "sparse")(text, [rollout])[0]
    assert paper.status == sparse.status == "ok"
    assert paper.reward == pytest.approx(paper.parts["paper"]) and 0 < paper.reward <= 1
    assert sparse.reward == 1.0
    with pytest.raises(ValueError, match="reward kind"):
        RecipeReward(RewardConfig(kind="dense"))  # type: ignore[arg-type]


def test_a_repeated_program_runs_once(rollout, tmp_path):
    reward = _reward(tmp_path)
    same = json.dumps(GOOD)
    spaced = json.dumps(GOOD, indent=2)  # other text, same compiled program
    results = reward([same, spaced, same], [rollout] * 3)
    assert len({id(r) for r in results}) == 1 and results[0].status == "ok"
    assert [p.name for p in (tmp_path / "rewards" / "call00000").iterdir()] == ["r000"]
    with pytest.raises(ValueError, match="3 completions for 1 tasks"):
        reward([same] * 3, [rollout])


def test_a_crashed_reward_worker_is_a_penalty_not_a_crash(ray_cluster, rollout, tmp_path):
    import cloudpickle

    from datachef.verifier.scoring import RayScorers, ScoringConfig

    from ..verifier import test_scoring

    cloudpickle.register_pickle_by_value(test_scoring)
    try:
        with RayScorers(test_scoring.dying_judge, ScoringConfig(sample=20), workers=1) as scorers:
            results = _reward(tmp_path, scorers=scorers)([json.dumps(GOOD), "not json"], [rollout] * 2)
    finally:
        cloudpickle.unregister_pickle_by_value(test_scoring)
    assert [(r.status, r.reward) for r in results] == [("failed", -1.0), ("format_violation", -0.5)]
    assert results[0].error.startswith("worker crashed")
