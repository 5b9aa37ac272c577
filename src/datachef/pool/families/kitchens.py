"""The built-in kitchens as pool members (training tasks): their own files plus the pool's pool.json."""
from __future__ import annotations

import importlib
import json

from ..registry import PoolTask

# Which sources of each kitchen are which kind (their READMEs say so in prose), and which hold planted items.
_KINDS: dict[str, dict[str, str]] = {
    "arithmetic": {"sums": "in-domain", "sums_bare": "near-domain", "sums_long": "near-domain",
                   "sums_unverified": "wrong-answers", "sums_blank": "blank-answers", "sums_spelled": "near-domain",
                   "sums_dupes": "duplicates", "sums_leaky": "planted-heldout", "letter_counting": "off-task",
                   "spell_backward": "off-task"},
    "gsm8k": {"gsm_symbolic_cot": "in-domain", "arithmetic": "near-domain", "math_puzzles": "near-domain",
              "mmlu_math": "near-domain", "mmlu_other": "off-task", "gsm_wrong_answers": "wrong-answers",
              "gsm_truncated": "blank-answers", "gsm_leaky": "planted-heldout", "gsm_dupes": "duplicates"},
}


def kitchen_files(task: PoolTask, seed: int) -> dict[str, bytes]:
    """The kitchen's files with pool.json inserted before task.yaml (which stays last)."""
    files = importlib.import_module(f"datachef.kitchens.{task.kitchen}").build_files(seed)
    task_yaml = files.pop("task.yaml")
    kinds = _KINDS.get(task.kitchen or "", {})
    ids = [rel[len("sources/"):-len(".jsonl")] for rel in files if rel.startswith("sources/")]
    meta = {"name": task.name, "domain": task.domain, "split": task.split, "benchmark_size": task.benchmark_size,
            "kitchen": task.kitchen,
            "sources": [{"id": i, "kind": kinds.get(i, "in-domain" if "leak" not in i else "planted-heldout"),
                         "planted_heldout": "leak" in i} for i in ids]}
    files["pool.json"] = (json.dumps(meta, indent=2) + "\n").encode("utf-8")
    files["task.yaml"] = task_yaml
    return files


TASKS = [
    PoolTask("arithmetic", "math", "train", 300, 10,
             "Short integer additions and subtractions with running-total worked solutions (the arithmetic "
             "kitchen).", builder="", kitchen="arithmetic"),
    PoolTask("gsm8k", "math", "train", 1319, 9,
             "Grade-school math word problems, GSM8K test as the benchmark (the gsm8k kitchen).", builder="",
             kitchen="gsm8k"),
]
