"""Cold-start SFT of the policy (the paper's §3.3): fine-tune the chef model on the demonstrations so that it writes
valid compact recipes *without* constrained decoding, and measure that (unconstrained executability) before and
after.

    demos_to_corpus(demos.jsonl, corpus.jsonl)             # {"messages": [system, user = prompt, assistant = answer]}
    result = train_sft(corpus, base, out, config)          # adapt.train: TRL SFT, loss on the answer only, LoRA on CPU
    executability(client, rollout_tasks, n=4)              # share of unconstrained answers that compile

The training itself is `adapt.train.train_sft` (TRL's SFTTrainer, resumable checkpoints, LoRA merged into
OUT/final); this module turns demonstrations into its corpus and measures the policy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapt.train import PROFILES, TrainConfig
from ..chef.compact import ANSWER_TOKENS, parse_compact
from ..chef.compact import messages as policy_messages
from ..errors import DatachefError
from ..io import atomic_open
from ..llm.base import SamplingParams
from .reward import RolloutTask

# The policy's SFT preset on CPU: the cpu profile (LoRA), with room for an 800-token prompt and its answer (the
# profile's 256 tokens would cut every answer off), three passes and a higher rate (a few hundred short targets).
CPU_SFT = dict(max_samples=None, epochs=3, lr=3e-4, max_seq_len=1024, batch_size=4, effective_batch_size=8)


def read_demos(demos: str | Path) -> list[dict[str, Any]]:
    """The demonstrations of a `datachef rl demos` file; an error names the file and line of a bad one."""
    src = Path(demos)
    if not src.is_file():
        raise DatachefError("demonstrations not found (make them with `datachef rl demos`)", file=str(src))
    out = []
    for line_no, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not (isinstance(d["prompt"], str) and isinstance(d["completion"], str)):
                raise TypeError("prompt and completion must be strings")
        except (ValueError, KeyError, TypeError) as e:
            raise DatachefError(f"not a demonstration ({type(e).__name__}: {e}); expected prompt and completion",
                                file=str(src), line=line_no) from None
        out.append(d)
    if not out:
        raise DatachefError("no demonstrations in the file", file=str(src))
    return out


def demos_to_corpus(demos: str | Path, out: str | Path) -> int:
    """Write the demonstrations as chat records (OUT, JSONL, atomically); returns how many."""
    records = read_demos(demos)
    with atomic_open(out, "w") as f:
        for d in records:
            f.write(json.dumps({"messages": policy_messages(d["prompt"], d["completion"])}, ensure_ascii=False)
                    + "\n")
    return len(records)


def sft_config(profile: str, **overrides: Any) -> TrainConfig:
    """The training preset for the policy: `gpu` is adapt.train's gpu profile; `cpu` adds `CPU_SFT` (every
    demonstration, not the profile's 64-record budget). Overrides that are None keep the preset's value."""
    if profile not in PROFILES:
        raise DatachefError(f"unknown training profile '{profile}' (known: {', '.join(PROFILES)})")
    values = {**PROFILES[profile], **(CPU_SFT if profile == "cpu" else {})}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


@dataclass
class Executability:
    answers: int
    valid: int
    per_task: dict[str, float]
    examples: list[dict[str, Any]]  # a few answers with their parse error (None when valid)

    @property
    def rate(self) -> float:
        return self.valid / self.answers if self.answers else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"answers": self.answers, "valid": self.valid, "rate": self.rate, "per_task": self.per_task,
                "examples": self.examples}


def executability(client: Any, tasks: list[RolloutTask], *, n: int = 4, temperature: float = 1.0,
                  seed: int = 0) -> Executability:
    """Sample `n` unconstrained answers per task from the policy (`client`, an LLMClient) and count those that
    parse and compile into a recipe (what the reward would not penalise as a format violation)."""
    valid, per_task, examples = 0, {}, []
    for t, rt in enumerate(tasks):
        prompt = rt.prompt
        # One seed per sample: a request's sample is a function of its seed and prompt (and cached by both).
        outs = [client.chat(policy_messages(prompt), SamplingParams(
            max_tokens=ANSWER_TOKENS, temperature=temperature, seed=seed + 1000 * t + k)) for k in range(n)]
        ok = 0
        for k, out in enumerate(outs):
            error = None
            try:
                parse_compact(out.text, rt.task, rt.profiles, k, seed)
                ok += 1
            except ValueError as e:
                error = str(e)
            if len(examples) < 8:
                examples.append({"task": rt.task.name, "answer": out.text[:300], "error": error})
        valid += ok
        per_task[rt.task.name] = ok / n
    return Executability(answers=n * len(tasks), valid=valid, per_task=per_task, examples=examples)
