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


# -- the composite reward -------------------------------------------------------------------------------------

def parts(sampled, *, records=1000, flagged=0.0, leak=0.0, budget=1000, breadth=None, **cfg):
    from datachef.verifier.reward import composite_reward

    return composite_reward(sampled, records=records, flagged_fraction=flagged, leak_fraction=leak, budget=budget,
                            breadth=breadth, config=VerifierConfig(**cfg))


def test_composite_of_a_clean_full_corpus_is_its_quality():
    p = parts([(1.0, False), (0.4, False)])
    assert p.paper == pytest.approx(0.7) and p.quality == pytest.approx(0.7) and p.yield_factor == 1.0
    assert p.composite == pytest.approx(0.7) and p.leak_factor == 1.0 and p.breadth == 1.0


def test_yield_saturates_at_the_budget_and_is_log_shaped():
    full, half, tiny, over = (parts([(1.0, False)], records=n).composite for n in (1000, 500, 10, 5000))
    assert full == over == 1.0  # records beyond the budget are worth nothing more
    assert 0.85 < half < 1.0 and tiny < 0.4 and tiny < half < full
    assert parts([(1.0, False)], records=500, yield_shape="linear").yield_factor == 0.5


def test_flagged_records_count_as_invalid_and_as_no_yield():
    # Half the corpus is padding (copies): the sample's unflagged instances say the rest is perfect.
    p = parts([(1.0, False), (0.0, True)], records=2000, flagged=0.5, budget=2000)
    assert p.quality == pytest.approx(0.5) and p.useful_records == 1000
    assert p.composite < parts([(1.0, False)], records=1000, budget=2000).composite  # padding never pays


def test_a_small_leak_costs_far_more_than_its_share():
    clean = parts([(1.0, False)]).composite
    leaky = parts([(1.0, False)], flagged=0.05, leak=0.05)
    assert leaky.leak_factor == pytest.approx(0.5) and leaky.composite < 0.5 * clean
    assert parts([(1.0, False)], flagged=0.1, leak=0.1).composite == 0.0


def test_breadth_multiplies_and_can_be_switched_off():
    assert parts([(1.0, False)], breadth=0.2).composite == pytest.approx(0.2)
    assert parts([(1.0, False)], breadth=0.2, use_breadth=False).composite == 1.0


def test_vendi_score_counts_distinct_items():
    import numpy as np

    from datachef.verifier.relevance import vendi_score

    same = np.tile(np.array([[1.0, 0.0, 0.0]]), (5, 1))
    distinct = np.eye(5)
    assert vendi_score(same) == pytest.approx(1.0) and vendi_score(distinct) == pytest.approx(5.0)
