"""Verifier-guided search on top of the chef: best-of-N sampling, then refinement of the best recipes under a budget
of executions.

Refinement moves (typed recipes): re-weight sources by the verifier's mean score per source, keep only the best-scoring
sources (at the same total size), drop the worst source,
tighten processing (final-answer filter, near-dedup, decontamination), and ask the chef model itself to improve the
recipe given the verifier's grade histogram, per-source scores and failure reasons.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..hashing import content_hash
from .typed import ChefRecipe


def program_key(recipe: Any) -> str:
    """What a recipe (spec.Recipe) computes: its steps and output, or its Python script. Not its name or plan: free
    text the engine never reads, so two drafts differing only there produce the same data."""
    return content_hash(recipe.model_dump(mode="json", include={"steps", "output", "python"}))


@dataclass
class Candidate:
    id: str
    origin: str  # "sample" | "mutation:<move>" | "improve"
    form: str = "typed"
    recipe: Any = None  # spec.Recipe
    chef_recipe: ChefRecipe | None = None
    status: str = "pending"  # invalid | failed | ok
    error: str | None = None
    score: float | None = None
    records: int = 0
    out_dir: Path | None = None
    histogram: dict[str, int] = field(default_factory=dict)
    per_source: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0
    repairs: int = 0
    program: str | None = None  # program_key of the recipe
    duplicate_of: str | None = None  # the earlier candidate with the same program, whose result this one shares
    parts: dict[str, Any] = field(default_factory=dict)  # the verifier's reward parts (paper, quality, yield, ...)

    @property
    def reward(self) -> float:
        """Score for ranking; failures count 0 (as in DVS_avg@N)."""
        return self.score if (self.status == "ok" and self.score is not None) else 0.0

    @property
    def rank(self) -> tuple[float, int]:
        """Ranking key: the verifier's score, then the corpus size (of two equally clean corpora, the one nearer
        the training budget is worth more; a filter-heavy recipe can score 1.0 on a few dozen rows)."""
        return self.reward, self.records if self.status == "ok" else 0

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "origin": self.origin, "form": self.form, "status": self.status, "error": self.error,
                "score": self.score, "records": self.records, "histogram": self.histogram,
                "per_source": self.per_source, "seconds": round(self.seconds, 2), "repairs": self.repairs,
                "duplicate_of": self.duplicate_of, "reward_parts": self.parts}


def feedback_from_verify(verify: dict[str, Any]) -> tuple[dict[str, int], dict[str, float], list[str]]:
    """(grade histogram, mean instance score per source, sample failure reasons) from a verify.json."""
    by_source: dict[str, list[float]] = defaultdict(list)
    reasons: list[str] = []
    for inst in verify.get("instances", []):
        src = (inst.get("meta") or {}).get("source", "?")
        by_source[src].append(float(inst.get("score", 0.0)))
        if inst.get("score", 0) < 1 and inst.get("reason"):
            reasons.append(f"[{src}] {inst.get('grade')}: {inst['reason']}")
    hist = verify.get("grade_histogram") or dict(Counter(i.get("grade") for i in verify.get("instances", [])))
    per_source = {s: sum(v) / len(v) for s, v in by_source.items() if v}
    return hist, per_source, reasons


def mutations(c: Candidate, budget: int) -> list[tuple[str, ChefRecipe]]:
    """Deterministic refinement moves for a typed candidate, most promising first."""
    if c.chef_recipe is None:
        return []
    base = c.chef_recipe
    out: list[tuple[str, ChefRecipe]] = []
    if c.per_source and len(base.picks) > 0:
        scored = [p for p in base.picks if p.source in c.per_source]
        if len(scored) > 1:
            total = sum(p.sample for p in base.picks)
            top = max(c.per_source[p.source] for p in scored)
            # Only the sources within a few points of the best, grown to the candidate's whole size: when one
            # source is clean and the rest are noise, dropping one source per move is too slow for a small budget.
            keep = [p for p in scored if c.per_source[p.source] >= top - 0.05]
            if len(keep) < len(base.picks):
                share = sum(p.sample for p in keep)
                out.append(("keep_best", base.model_copy(update={"picks": [
                    p.model_copy(update={"sample": max(1, min(budget, round(p.sample * total / share)))})
                    for p in keep]})))
        picks = []
        for p in base.picks:
            s = c.per_source.get(p.source)
            if s is None:
                picks.append(p)
            elif s >= 0.25:
                # Grow what the verifier likes, shrink what it doesn't (quadratic: clear winners dominate).
                picks.append(p.model_copy(update={"sample": max(1, min(budget, round(p.sample * (0.25 + s) ** 2 * 2)))}))
        if picks and picks != base.picks:
            out.append(("reweight", base.model_copy(update={"picks": picks})))
        if len(scored) > 2:  # with two sources, keep_best already is drop_worst
            worst = min(scored, key=lambda p: c.per_source[p.source])
            rest = [p for p in base.picks if p is not worst]
            out.append(("drop_worst", base.model_copy(update={"picks": rest})))
    strict = base.model_copy(update={"require_final_answer": True, "dedup": "near", "decontaminate": True,
                                     "quality_filter": True})
    if strict != base:
        out.append(("strict", strict))
    if sum(p.sample for p in base.picks) < budget:
        scale = budget / max(1, sum(p.sample for p in base.picks))
        out.append(("fill_budget", base.model_copy(update={"picks": [
            p.model_copy(update={"sample": max(1, int(p.sample * scale))}) for p in base.picks]})))
    return out


def refine(candidates: list[Candidate], evaluate: Callable[[str, ChefRecipe], Candidate],
           improve: Callable[[Candidate], ChefRecipe | None] | None, *, budget: int, train_budget: int,
           program: Callable[[ChefRecipe], str], log: Callable[[str], None] | None = None,
           ) -> tuple[list[Candidate], list[str]]:
    """Spend up to `budget` executions improving the best candidates. A move whose compiled program (`program`) was
    already scored is skipped without spending the budget. Returns the new candidates (all tried) and the origins
    of the skipped moves (once per program)."""
    tried: list[Candidate] = []
    seen: dict[str, str] = {c.program: c.id for c in candidates if c.program is not None}
    skipped: dict[str, str] = {}
    pool = list(candidates)
    while len(tried) < budget:
        ranked = sorted([c for c in pool if c.status == "ok" and c.chef_recipe is not None and c.duplicate_of is None],
                        key=lambda c: c.rank, reverse=True)
        if not ranked:
            break
        moves: list[tuple[str, ChefRecipe]] = []
        for best in ranked[:2]:
            mine = [(f"mutation:{m}", r) for m, r in mutations(best, train_budget)]
            if improve is not None and best is ranked[0]:
                # The model's own proposal right after the best deterministic move: a small budget still tries it.
                proposal = improve(best)
                if proposal is not None:
                    mine.insert(min(1, len(mine)), ("improve", proposal))
            moves += mine
        progressed = False
        for origin, recipe in moves:
            if len(tried) >= budget:
                break
            key = program(recipe)
            if key in seen:
                if key not in skipped:
                    skipped[key] = origin
                    if log:
                        log(f"search: {origin} skipped, same program as {seen[key]}")
                continue
            c = evaluate(origin, recipe)
            seen[key] = c.id
            tried.append(c)
            pool.append(c)
            progressed = True
            if log:
                log(f"search {c.id} ({origin}): {c.status} score={c.score}")
        if not progressed:
            break
    return tried, list(skipped.values())
