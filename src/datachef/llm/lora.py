"""LoRA adapters as plain tensors, in PEFT's file format: fit one to what fine-tuning changed in a model, and merge
one into a model's weights without needing `peft` at load time.

    fit = fit_lora(base_state, tuned_state, rank=8)   # truncated SVD of each changed projection's weight difference
    write_adapter(fit, out_dir, base_name="...")      # adapter_config.json + adapter_model.safetensors (PEFT loads it)
    merge_adapter(model, adapter_dir)                 # W += (alpha / r) * B @ A for every adapted module

Why fit from the difference rather than save the trainer's adapter: a `datachef rl` policy is trained in stages
(cold-start SFT merged, then GRPO's own adapter on top), so no single trained adapter is relative to the base model;
the difference of the final model and the base is, and its best rank-r approximation (Eckart-Young) is the smallest
adapter that reproduces it as closely as r allows. How much of the change a rank keeps is reported per module.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import LLMError

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
_PREFIX = "base_model.model."  # PEFT's key prefix for a causal LM's modules
# Weights that a LoRA cannot carry: when fine-tuning changed them, the change is refused rather than dropped.
_NOT_LINEAR = ("embed_tokens", "lm_head")


@dataclass
class LoraFit:
    """A rank-`rank` LoRA per changed module (A: rank x in, B: out x rank; scaling 1) and how much of each module's
    change it keeps: `kept[module]` = retained share of the squared Frobenius norm of the difference."""

    rank: int
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)
    kept: dict[str, float] = field(default_factory=dict)
    change_norm: float = 0.0  # Frobenius norm of all the differences together
    residual_norm: float = 0.0  # ... and of what the rank-r adapter leaves out

    @property
    def relative_error(self) -> float:
        return self.residual_norm / self.change_norm if self.change_norm else 0.0

    @property
    def parameters(self) -> int:
        return sum(int(t.numel()) for t in [*self.a.values(), *self.b.values()])


def fit_lora(base: dict[str, Any], tuned: dict[str, Any], rank: int) -> LoraFit:
    """The rank-`rank` LoRA closest to `tuned - base` (state dicts of the same architecture), module by module.

    Only 2-D projection weights may differ; any other changed tensor (embeddings, norms, biases) raises LLMError
    naming it, since an adapter of this form would silently lose that change."""
    import torch

    if rank < 1:
        raise LLMError(f"rank must be >= 1, got {rank}", field="rank")
    missing = sorted(set(base) ^ set(tuned))
    if missing:
        raise LLMError(f"the models differ in their weights' names (e.g. {missing[:3]}): not the same architecture",
                       field="base")
    fit = LoraFit(rank)
    change_sq = residual_sq = 0.0
    for key in sorted(tuned):
        t, b0 = tuned[key], base[key]
        if t.shape != b0.shape:
            raise LLMError(f"{key}: shape {tuple(t.shape)} vs {tuple(b0.shape)} in the base", field="base")
        delta = t.detach().to(torch.float32) - b0.detach().to(torch.float32)
        if not torch.any(delta):
            continue
        if delta.dim() != 2 or not key.endswith(".weight") or any(n in key for n in _NOT_LINEAR):
            raise LLMError(f"fine-tuning changed {key}, which a LoRA adapter cannot carry", field="model")
        u, s, vh = torch.linalg.svd(delta, full_matrices=False)
        r = min(rank, s.numel())
        root = s[:r].sqrt()
        module = key[: -len(".weight")]
        fit.a[module] = (root[:, None] * vh[:r]).contiguous()
        fit.b[module] = (u[:, :r] * root[None, :]).contiguous()
        total, kept = float((s ** 2).sum()), float((s[:r] ** 2).sum())
        fit.kept[module] = kept / total if total else 1.0
        change_sq += total
        residual_sq += max(total - kept, 0.0)
    if not fit.a:
        raise LLMError("the fine-tuned model has the base model's weights: nothing to export", field="model")
    fit.change_norm, fit.residual_norm = change_sq ** 0.5, residual_sq ** 0.5
    return fit


def write_adapter(fit: LoraFit, out: str | Path, *, base_name: str, dtype: str = "float16") -> Path:
    """Write `fit` as a PEFT LoRA adapter folder (lora_alpha = r, so scaling 1) in `dtype`; returns the folder."""
    import torch
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dt = getattr(torch, dtype)
    tensors = {}
    for module in fit.a:
        tensors[f"{_PREFIX}{module}.lora_A.weight"] = fit.a[module].to(dt).contiguous()
        tensors[f"{_PREFIX}{module}.lora_B.weight"] = fit.b[module].to(dt).contiguous()
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    targets = sorted({m.rsplit(".", 1)[-1] for m in fit.a})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_name,
              "r": fit.rank, "lora_alpha": fit.rank, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
              "target_modules": targets, "inference_mode": True}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return out


def read_adapter(folder: str | Path) -> tuple[dict[str, Any], dict[str, tuple[Any, Any]]]:
    """(config, {module: (A, B)}) of a PEFT LoRA adapter folder; LLMError naming the file for what this plain merge
    does not support (DoRA, rsLoRA, per-module ranks, fan_in_fan_out, saved whole modules)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    cfg_path, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    if not cfg_path.is_file() or not weights.is_file():
        raise LLMError(f"not a LoRA adapter folder (needs {CONFIG_FILE} and {WEIGHTS_FILE})", file=str(folder))
    try:
        config = json.loads(cfg_path.read_text())
    except ValueError as e:
        raise LLMError(f"bad JSON: {e}", file=str(cfg_path)) from e
    if config.get("peft_type", "LORA") != "LORA":
        raise LLMError(f"peft_type {config.get('peft_type')!r} is not LORA", file=str(cfg_path), field="peft_type")
    for flag in ("use_dora", "use_rslora", "fan_in_fan_out"):
        if config.get(flag):
            raise LLMError(f"{flag} adapters are not supported by the plain merge", file=str(cfg_path), field=flag)
    for name in ("rank_pattern", "alpha_pattern", "modules_to_save"):
        if config.get(name):
            raise LLMError(f"{name} is not supported by the plain merge", file=str(cfg_path), field=name)
    pairs: dict[str, list[Any]] = {}
    for key, tensor in load_file(str(weights)).items():
        for part, slot in ((".lora_A.weight", 0), (".lora_B.weight", 1)):
            if key.endswith(part) and key.startswith(_PREFIX):
                pairs.setdefault(key[len(_PREFIX): -len(part)], [None, None])[slot] = tensor
                break
        else:
            raise LLMError(f"unexpected tensor {key!r}", file=str(weights))
    broken = [m for m, (a, b) in pairs.items() if a is None or b is None]
    if broken or not pairs:
        raise LLMError(f"incomplete adapter: {broken[:3] or 'no LoRA tensors'}", file=str(weights))
    return config, {m: (a, b) for m, (a, b) in pairs.items()}


def merge_adapter(model: Any, folder: str | Path) -> int:
    """Add the adapter in `folder` into `model`'s weights in place (computed in fp32); returns how many modules it
    changed. Every adapted module must exist in the model with the adapter's shapes."""
    import torch

    config, pairs = read_adapter(folder)
    scaling = float(config.get("lora_alpha", config["r"])) / float(config["r"])
    params = dict(model.named_parameters())
    with torch.no_grad():
        for module, (a, b) in sorted(pairs.items()):
            w = params.get(f"{module}.weight")
            if w is None or w.shape != (b.shape[0], a.shape[1]):
                raise LLMError(f"the adapter's module {module!r} does not fit the model "
                               f"({'absent' if w is None else f'weight {tuple(w.shape)}'})", file=str(folder))
            delta = (b.to(torch.float32) @ a.to(torch.float32)) * scaling
            w.copy_((w.to(torch.float32) + delta).to(w.dtype))
    return len(pairs)
