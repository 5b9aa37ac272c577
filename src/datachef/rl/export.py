"""Export a trained policy as a small LoRA adapter over its base model (`datachef rl export`).

A `datachef rl` policy is a merged model folder (OUT/final of `rl sft` or `rl grpo`): 0.5 GB for SmolLM2-135M in
fp32, where what training changed fits in a few MB. The export fits the best rank-r LoRA to the difference between
the policy and its base (`llm.lora.fit_lora`), writes it in PEFT's format (fp16 by default), and records next to it
how much of the change the rank keeps and the training runs it came from (the `grpo.json` / `sft.json` found beside
the policy and, for GRPO, beside its cold start). `datachef cook --model chef` loads the one packaged with datachef.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DatachefError
from ..io import publish_dir, write_json_atomic

# Run records worth keeping next to an adapter; the long per-instance lists are left out.
_RUN_FILES = ("grpo.json", "sft.json", "train.json")
_DROP = {"instances", "history", "losses"}


@dataclass
class ExportResult:
    out: Path
    rank: int
    modules: int
    parameters: int
    bytes: int
    relative_error: float  # ||change - adapter||_F / ||change||_F over all modules
    min_kept: float  # the smallest share of one module's change that the rank keeps


def training_record(model: Path) -> list[dict[str, Any]]:
    """The run records of the policy in `model` (its parent's grpo.json / sft.json), following a GRPO run back to
    its cold start; each tagged with the file it came from."""
    found: list[dict[str, Any]] = []
    seen: set[Path] = set()
    folder: Path | None = model.resolve().parent
    while folder is not None and folder not in seen:
        seen.add(folder)
        nxt = None
        for name in _RUN_FILES:
            f = folder / name
            if f.is_file():
                try:
                    rec = json.loads(f.read_text())
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    found.append({"file": str(f), **{k: v for k, v in rec.items() if k not in _DROP}})
                    if rec.get("cold_start"):
                        nxt = Path(rec["cold_start"]).resolve()
        folder = nxt
    return found


def export_adapter(model: str | Path, out: str | Path, *, base: str | Path | None = None, rank: int = 8,
                   dtype: str = "float16") -> ExportResult:
    """Fit and write the rank-`rank` adapter of `model` over `base` (None = the embedded SmolLM2) to `out`, built
    aside and moved in when complete: adapter_config.json, adapter_model.safetensors, export.json."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..adapt.train import local_kwargs, resolve_base
    from ..llm.lora import WEIGHTS_FILE, fit_lora, write_adapter
    from ..llm.models import EMBEDDED_NAME, is_embedded

    model, out = Path(model), Path(out)
    if not (model / "config.json").is_file():
        raise DatachefError("not a model folder (no config.json); pass a policy's OUT/final", file=str(model))
    if dtype not in ("float16", "bfloat16", "float32"):
        raise DatachefError(f"dtype must be float16, bfloat16 or float32, not {dtype!r}", field="dtype")
    base_ref = resolve_base(base)
    with torch.no_grad():
        tuned = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32, local_files_only=True)
        origin = AutoModelForCausalLM.from_pretrained(base_ref, dtype=torch.float32, **local_kwargs(base_ref))
        fit = fit_lora(origin.state_dict(), tuned.state_dict(), rank)
    del tuned, origin
    base_name = EMBEDDED_NAME if is_embedded(None if base is None else str(base)) else str(base)
    with publish_dir(out, last=("export.json",)) as staging:
        write_adapter(fit, staging, base_name=base_name, dtype=dtype)
        size = (staging / WEIGHTS_FILE).stat().st_size
        result = ExportResult(out, rank, len(fit.a), fit.parameters, size, fit.relative_error,
                              min(fit.kept.values()))
        write_json_atomic(staging / "export.json", {
            "model": str(model.resolve()), "base": base_name, "rank": rank, "dtype": dtype,
            "modules": result.modules, "parameters": result.parameters, "bytes": size,
            "relative_error": round(fit.relative_error, 5), "min_kept": round(result.min_kept, 5),
            "kept": {m: round(k, 5) for m, k in sorted(fit.kept.items())}, "trained_by": training_record(model)})
    return result
