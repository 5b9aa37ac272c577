"""Throughput of the in-process transformers backend with the embedded SmolLM2-135M-Instruct on this CPU.

Prints, per dtype: generation tokens/s for single requests and for one batch of 8, JSON-schema-constrained tokens/s,
and label-scoring calls/s (2 single-token labels; 4 multi-token labels). No request cache, so every call computes.

    .venv/bin/python bench/llm_local.py [--dtypes bfloat16,float32] [--max-tokens 64] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import time

PROMPTS = [
    "Write a short story about a robot who learns to cook.",
    "Explain how photosynthesis works to a ten-year-old.",
    "Describe the water cycle in detail.",
    "Give me ten tips for learning a new language.",
    "Write a poem about the ocean at night.",
    "Explain the rules of chess to a beginner.",
    "Describe a day in the life of a medieval farmer.",
    "Explain why the sky is blue.",
]
SCHEMA = {"type": "object",
          "properties": {"topic": {"type": "string", "maxLength": 60},
                         "difficulty": {"enum": ["easy", "medium", "hard"]},
                         "steps": {"type": "integer", "minimum": 1, "maximum": 20}},
          "required": ["topic", "difficulty", "steps"]}


def _user(q: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": q}]


def bench_dtype(dtype: str, max_tokens: int, label_calls: int, single_n: int,
                threads: int | None) -> dict[str, float]:
    from datachef.llm.base import SamplingParams
    from datachef.llm.local import TransformersClient

    t0 = time.perf_counter()
    client = TransformersClient(None, dtype=dtype, batch_size=8, cache=None, num_threads=threads)
    res: dict[str, float] = {"load_s": time.perf_counter() - t0}
    params = SamplingParams(max_tokens=max_tokens)
    client.chat(_user("Hi"), SamplingParams(max_tokens=4))  # warm-up (first-call allocations)

    t0, toks = time.perf_counter(), 0
    for q in PROMPTS[:single_n]:
        toks += client.chat(_user(q), params).completion_tokens
    res["single_tok_s"] = toks / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    out = client.chat_batch([_user(q) for q in PROMPTS], params)
    res["batch8_tok_s"] = sum(c.completion_tokens for c in out) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    out = client.chat_batch([_user(f"Describe the task '{q}' as JSON.") for q in PROMPTS],
                            SamplingParams(max_tokens=2 * max_tokens),
                            json_schema=SCHEMA)
    res["json_batch8_tok_s"] = sum(c.completion_tokens for c in out) / (time.perf_counter() - t0)
    res["json_valid"] = sum(_valid(c.text) for c in out) / len(out)

    q = _user("Is Paris the capital of France? Answer Yes or No.")
    t0 = time.perf_counter()
    for _ in range(label_calls):
        client.score_labels(q, ["Yes", "No"])
    res["labels2_calls_s"] = label_calls / (time.perf_counter() - t0)
    labels = ["excellent answer", "good answer", "poor answer", "wrong answer entirely"]
    t0 = time.perf_counter()
    for _ in range(label_calls):
        client.score_labels(q, labels)
    res["labels4multi_calls_s"] = label_calls / (time.perf_counter() - t0)
    return res


def _valid(text: str) -> bool:
    try:
        v = json.loads(text)
    except ValueError:
        return False
    return isinstance(v, dict) and set(v) == {"topic", "difficulty", "steps"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dtypes", default="bfloat16,float32")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--single", type=int, default=3, help="single requests to time")
    ap.add_argument("--label-calls", type=int, default=20)
    ap.add_argument("--threads", type=int, help="torch threads (default: the client's default)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()

    import torch

    from datachef.llm.local import cpu_has_fast_bf16

    print(f"native bf16 on this CPU: {cpu_has_fast_bf16()} (the client's default dtype is "
          f"{'bfloat16' if cpu_has_fast_bf16() else 'float32'})")
    print(f"torch {torch.__version__}, {a.threads or torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = {}
    for dtype in a.dtypes.split(","):
        r = bench_dtype(dtype, a.max_tokens, a.label_calls, a.single, a.threads)
        r["load_avg_after"] = os.getloadavg()[0]
        results[dtype] = r
        print(f"{dtype:>9}: load {r['load_s']:.1f}s | single {r['single_tok_s']:.1f} tok/s | "
              f"batch8 {r['batch8_tok_s']:.1f} tok/s | json batch8 {r['json_batch8_tok_s']:.1f} tok/s "
              f"(valid {r['json_valid']:.0%}) | score 2 labels {r['labels2_calls_s']:.2f} calls/s | "
              f"4 multi-token labels {r['labels4multi_calls_s']:.2f} calls/s | load avg {r['load_avg_after']:.1f}",
              flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
