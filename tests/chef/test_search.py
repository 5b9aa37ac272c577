"""Verifier-guided search: the deterministic refinement moves and the refine loop's use of the budget."""
from __future__ import annotations

from datachef.chef import ChefRecipe, SourcePick
from datachef.chef.search import Candidate, mutations, refine


def pick(source: str, sample: int) -> SourcePick:
    return SourcePick(source=source, user_field="question", assistant_field="solution", sample=sample)


def candidate(per_source: dict[str, float], picks: list[SourcePick], score: float = 0.5) -> Candidate:
    return Candidate(id="c00", origin="sample", chef_recipe=ChefRecipe(picks=picks), status="ok", score=score,
                     per_source=per_source)


def test_keep_best_keeps_the_top_sources_at_the_same_total_size():
    c = candidate({"gold": 0.95, "noisy": 0.3, "off": 0.0}, [pick("gold", 200), pick("noisy", 200), pick("off", 100)])
    moves = dict(mutations(c, budget=2000))
    assert list(moves)[0] == "keep_best"  # the most promising move comes first
    (kept,) = moves["keep_best"].picks
    assert kept.source == "gold" and kept.sample == 500
    assert [p.source for p in moves["reweight"].picks] == ["gold", "noisy"]  # 'off' scores below 0.25
    assert [p.source for p in moves["drop_worst"].picks] == ["gold", "noisy"]


def test_keep_best_keeps_sources_tied_with_the_best():
    c = candidate({"a": 0.9, "b": 0.88, "c": 0.2}, [pick("a", 100), pick("b", 100), pick("c", 100)])
    kept = dict(mutations(c, budget=2000))["keep_best"].picks
    assert [(p.source, p.sample) for p in kept] == [("a", 150), ("b", 150)]


def test_refine_tries_the_models_proposal_within_a_small_budget():
    c = candidate({"gold": 0.9, "noisy": 0.2}, [pick("gold", 100), pick("noisy", 100)])
    proposal = ChefRecipe(picks=[pick("gold", 400)], dedup="exact")
    tried: list[str] = []

    def evaluate(origin: str, recipe: ChefRecipe) -> Candidate:
        tried.append(origin)
        return Candidate(id=f"s{len(tried)}", origin=origin, chef_recipe=recipe, status="ok", score=0.9)

    refine([c], evaluate, lambda best: proposal, budget=2, train_budget=2000, program=lambda r: r.model_dump_json())
    assert tried == ["mutation:keep_best", "improve"]


def test_equal_scores_rank_the_larger_corpus_first():
    small = Candidate(id="a", origin="sample", status="ok", score=1.0, records=60)
    large = Candidate(id="b", origin="sample", status="ok", score=1.0, records=900)
    failed = Candidate(id="c", origin="sample", status="failed", records=5000)
    assert max([small, large, failed], key=lambda c: c.rank) is large
    assert failed.rank == (0.0, 0)


def _program(r: ChefRecipe) -> str:
    """A stand-in for the compiled program: everything but the free text (workflow, reasons)."""
    return str([(p.source, p.sample) for p in r.picks]) + r.model_dump_json(exclude={"picks", "workflow"})


def test_a_move_whose_program_was_scored_is_skipped_without_spending_the_budget():
    c = candidate({"gold": 0.9, "noisy": 0.2}, [pick("gold", 100), pick("noisy", 100)])
    # Another draft already ran what keep_best proposes (its reason differs, its program does not); the model's
    # proposal repeats keep_best in other words.
    ran = Candidate(id="c01", origin="sample", chef_recipe=ChefRecipe(picks=[pick("gold", 200).model_copy(
        update={"reason": "other words"})]), status="ok", score=0.5)
    c.program, ran.program = _program(c.chef_recipe), _program(ran.chef_recipe)
    proposal = ChefRecipe(picks=[pick("gold", 200)], workflow="my own words")
    tried: list[str] = []

    def evaluate(origin: str, recipe: ChefRecipe) -> Candidate:
        tried.append(origin)
        return Candidate(id=f"s{len(tried)}", origin=origin, chef_recipe=recipe, status="ok", score=0.1)

    out, skipped = refine([c, ran], evaluate, lambda best: proposal, budget=2, train_budget=2000, program=_program)
    assert tried == ["mutation:reweight", "mutation:strict"] and len(out) == 2
    assert skipped == ["mutation:keep_best"]  # once, though the proposal and later rounds repeat it


def test_two_moves_of_one_round_with_the_same_program_run_once():
    c = candidate({"gold": 0.9, "noisy": 0.2}, [pick("gold", 100), pick("noisy", 100)])
    c.program = _program(c.chef_recipe)
    tried: list[str] = []

    def evaluate(origin: str, recipe: ChefRecipe) -> Candidate:
        tried.append(origin)
        return Candidate(id=f"s{len(tried)}", origin=origin, chef_recipe=recipe, status="ok", score=0.1)

    _, skipped = refine([c], evaluate, lambda best: ChefRecipe(picks=[pick("gold", 200)], workflow="mine"),
                        budget=3, train_budget=2000, program=_program)
    assert tried == ["mutation:keep_best", "mutation:reweight", "mutation:strict"] and skipped == ["improve"]


def test_duplicate_candidates_are_not_searched_from():
    c = candidate({"gold": 0.9, "noisy": 0.2}, [pick("gold", 100), pick("noisy", 100)])
    twin = Candidate(id="c01", origin="sample", chef_recipe=c.chef_recipe, status="ok", score=0.5,
                     per_source=c.per_source, duplicate_of="c00")
    asked: list[str] = []
    refine([c, twin], lambda o, r: Candidate(id="s", origin=o, status="failed"), lambda b: asked.append(b.id),
           budget=1, train_budget=2000, program=_program)
    assert asked == ["c00"]
