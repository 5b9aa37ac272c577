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


def test_breadth_is_coverage_of_the_dev_questions(fake_embedder):
    """A dev question is covered by a record inside its k-nearest-neighbour ball: the dev questions themselves cover
    everything, one kind of problem renumbered covers its neighbourhood only, off-task text and no records nothing."""
    from datachef.verifier.relevance import Relevance

    dev = ["Tom has 3 apples and buys 4 more apples. How many apples does Tom have now?",
           "A train travels 60 miles per hour for 3 hours. What distance is covered?",
           "Sara had 12 pencils and gave 5 pencils to a friend. Count the remaining pencils.",
           "A baker fills 8 trays with 12 cookies on each tray. Find the total cookies baked.",
           "Janet's ducks lay 16 eggs daily; she eats three. Compute her daily egg sales.",
           "A robe takes 2 bolts of blue fiber and half that much white fiber. Total bolts?"]
    rel = Relevance(dev, top_k=2)
    assert rel.coverage(dev, k=1)["breadth"] == 1.0
    renumbered = [f"Tom has {a} apples and buys {a + 2} more apples. How many apples does Tom have now?"
                  for a in range(5, 25)]
    one = rel.coverage(renumbered, k=1)
    assert one["covered"] == 1 and one["passing_records"] == 20 and one["dev_items"] == 6
    assert rel.coverage(["Spell the word lantern backwards, letter by letter."] * 5, k=1)["breadth"] == 0.0
    assert rel.coverage([], k=1) == {"breadth": 0.0, "covered": 0, "dev_items": 6, "k": 1, "passing_records": 0}
    assert rel.coverage(dev, k=5)["k"] == 1  # a ball holds at most a tenth of the dev questions (at least one)
