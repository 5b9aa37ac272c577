"""Reward and DVS_avg@N edge cases."""
from __future__ import annotations

import pytest

from datachef.verifier import Grade, VerifierConfig, dvs_avg, reward


def test_reward_mean_and_penalties():
    assert reward([1.0, 0.4, 0.0, 1.0]) == pytest.approx(0.6)
    assert reward([], empty=True) == -1.0
    assert reward([], format_violation=True) == -0.5
    cfg = VerifierConfig(lambda_empty=2.0, lambda_format=0.25)
    assert reward([], empty=True, config=cfg) == -2.0
    assert reward([1.0], format_violation=True, config=cfg) == -0.25
    with pytest.raises(ValueError):
        reward([])


def test_grade_scores_are_configurable():
    cfg = VerifierConfig()
    assert [cfg.score(g) for g in Grade] == [0.0, 0.0, 0.0, 0.4, 1.0]
    cfg = VerifierConfig(grade_scores={**cfg.grade_scores, Grade.TASK_MISMATCH: 0.2})
    assert cfg.score("Task mismatch") == 0.2
    with pytest.raises(Exception):
        VerifierConfig(unknown_knob=1)


def test_dvs_avg_counts_failures_as_zero():
    assert dvs_avg([0.8, 0.6]) == pytest.approx(0.7)
    assert dvs_avg([0.8, None, -1.0, 0.6], 4) == pytest.approx(0.35)
    assert dvs_avg([0.9], n=3) == pytest.approx(0.3)  # two runs missing
    with pytest.raises(ValueError):
        dvs_avg([0.1, 0.2], n=1)
    with pytest.raises(ValueError):
        dvs_avg([], n=0)
