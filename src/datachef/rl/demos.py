"""Demonstrations for the cold-start SFT (the paper's §3.3): (prompt, answer) pairs over training task instances,
kept by rejection sampling on the reward.

For each instance, teachers propose answers in the policy's compact form; each is executed and verified
(`RecipeReward`, identical programs once); answers scoring at least `threshold` are kept, best first, at most
`per_instance` of them, one per compiled program. Teachers:

- `ProbeTeacher` (offline, no model): scores each source alone (its first option, the whole budget from it), then
  proposes the best one, two and three sources with sizes in proportion to their probe rewards, deduplicated and
  decontaminated, with the quality (and, on numeric benchmarks, final-answer) filter on and off: the recipes a
  careful engineer would try after looking at each source's verified sample.
- `ChefTeacher`: any chef (an OpenAI-compatible model, or the embedded one under constrained decoding) drafting
  typed recipes, converted to the compact form.

    OUT/instances/<id>.json   every scored proposal of an instance (kept or not): a re-run skips finished instances
    OUT/demos.jsonl           the kept demonstrations: instance, task, prompt, completion, reward, teacher, program
    OUT/summary.json          instances, tasks covered, demonstrations kept (per teacher), mean reward
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from ..chef.compact import from_chef_recipe, options
from ..chef.prompts import chef_profiles
from ..io import atomic_open, write_json_atomic
from .reward import RecipeReward, RolloutTask


@dataclass
class DemoConfig:
    threshold: float = 0.5  # keep answers whose reward is at least this
    per_instance: int = 3  # demonstrations kept per instance at most (best first, one per program)


class Teacher(Protocol):
    name: str

    def propose(self, rt: RolloutTask, dev: list[dict[str, Any]]) -> list[str]:
        """Compact answers for this instance."""


class ProbeTeacher:
    """Scores every source alone, then proposes the best one, two and three of them (see the module docstring)."""

    name = "probe"

    def __init__(self, reward: RecipeReward):
        self.reward = reward

    def propose(self, rt: RolloutTask, dev: list[dict[str, Any]]) -> list[str]:
        budget = rt.task.budget.train_samples
        numeric = rt.task.benchmark.format == "numeric"
        firsts = {}
        for k, o in enumerate(options(rt.profiles)):
            firsts.setdefault(o.source, k)
        probes = [_answer([(k, budget)], final=False) for k in firsts.values()]
        scored = sorted(zip((r.reward for r in self.reward(probes, [rt] * len(probes))), firsts.values()),
                        reverse=True)
        useful = [(score, k) for score, k in scored if score > 0]
        out = []
        for m in range(1, min(3, len(useful)) + 1):
            top = useful[:m]
            total = sum(score for score, _ in top)
            use = [(k, max(1, round(budget * score / total))) for score, k in top]
            # The final-answer filter (numeric benchmarks: also without it, for sources whose replies lack
            # '#### N' lines) and the quality filter each on and off: the reward decides which switches a corpus
            # needs, and the policy sees both settings (with the filter always on, it never learned to turn off
            # one that empties a corpus).
            for final in ((True, False) if numeric else (False,)):
                for quality in (True, False):
                    out.append(_answer(use, final=final, quality=quality))
        return out


class ChefTeacher:
    """A chef's typed drafts (`Chef.draft`), as compact answers (drafts that are not expressible are skipped)."""

    def __init__(self, chef: Any, n: int = 4, name: str = "chef"):
        self.chef, self.n, self.name = chef, n, name

    def propose(self, rt: RolloutTask, dev: list[dict[str, Any]]) -> list[str]:
        drafts = self.chef.draft(rt.task, rt.profiles, chef_profiles(rt.profiles), dev, self.n)
        out = []
        for d in drafts:
            if d.chef_recipe is None:
                continue
            try:
                out.append(from_chef_recipe(d.chef_recipe.model_copy(update={"system_prompt": None}), rt.profiles))
            except ValueError:
                continue
        return out


def _answer(use: list[tuple[int, int]], *, final: bool, quality: bool = True) -> str:
    return json.dumps({"use": [{"o": k, "n": n} for k, n in use], "final": final, "quality": quality,
                       "dedup": "near", "decon": True}, separators=(",", ":"))


def make_demos(instances: list[Path], teachers: list[Teacher], reward: RecipeReward, out: Path,
               config: DemoConfig | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Demonstrations for each instance (a task YAML); writes OUT as described in the module docstring and returns
    the summary. Finished instances (OUT/instances/<id>.json) are not run again."""
    config = config or DemoConfig()
    log = log or (lambda m: None)
    out = Path(out)
    (out / "instances").mkdir(parents=True, exist_ok=True)
    for n, file in enumerate(instances, 1):
        record = out / "instances" / f"{Path(file).stem}.json"
        if record.is_file():
            continue
        rt = RolloutTask.load(file)
        dev, prompt = rt.dev, rt.prompt
        proposals: list[tuple[str, str]] = []  # (teacher, answer)
        for teacher in teachers:
            proposals.extend((teacher.name, a) for a in dict.fromkeys(teacher.propose(rt, dev)))
        results = reward([a for _, a in proposals], [rt] * len(proposals)) if proposals else []
        scored = [{"teacher": t, "completion": a, "reward": r.reward, "status": r.status, "program": r.program,
                   "records": r.records, "error": r.error} for (t, a), r in zip(proposals, results)]
        kept, programs = [], set()
        for s in sorted(scored, key=lambda s: -s["reward"]):
            if s["reward"] >= config.threshold and s["program"] not in programs and len(kept) < config.per_instance:
                programs.add(s["program"])
                kept.append(s)
        stem = Path(file).stem  # a pool instance is named <pool task>--<hash> (datachef pool sample)
        write_json_atomic(record, {"instance": stem, "task": stem.split("--")[0] if "--" in stem else rt.task.name,
                                   "file": str(file),
                                   "prompt": prompt, "proposals": scored, "kept": kept})
        log(f"[{n}/{len(instances)}] {Path(file).stem}: {len(proposals)} proposals, {len(kept)} kept"
            + (f" (best {kept[0]['reward']:.3f})" if kept else ""))
    return _collect(out)


def _collect(out: Path) -> dict[str, Any]:
    """demos.jsonl and summary.json from the per-instance records (all of them, this run's and earlier ones)."""
    demos = []
    records = sorted((out / "instances").glob("*.json"))
    for p in records:
        r = json.loads(p.read_text(encoding="utf-8"))
        demos.extend({"instance": r["instance"], "task": r["task"], "prompt": r["prompt"],
                      "completion": k["completion"], "reward": k["reward"], "teacher": k["teacher"],
                      "program": k["program"]} for k in r["kept"])
    with atomic_open(out / "demos.jsonl", "w") as f:
        for d in demos:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    teachers: dict[str, int] = {}
    for d in demos:
        teachers[d["teacher"]] = teachers.get(d["teacher"], 0) + 1
    summary = {"instances": len(records), "demonstrations": len(demos),
               "tasks": len({d["task"] for d in demos}), "per_teacher": teachers,
               "mean_reward": sum(d["reward"] for d in demos) / len(demos) if demos else None}
    write_json_atomic(out / "summary.json", summary)
    return summary

