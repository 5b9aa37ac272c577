"""GRPO on the verifier reward (the paper's §3.3), with TRL's GRPOTrainer.

    result = train_grpo(task_files, start_model, out, GRPOSettings(), reward=RecipeReward(...), log=print)

Data: one row per task instance (a task YAML, e.g. `datachef pool sample`'s instances): the compact form's chat
(`chef.compact.messages(compact_prompt(...))`) and the task file the reward reads. A step samples
`prompts_per_step` instances x `group_size` (G) completions at `temperature` (the rollout batch; the paper: 16 x 8
= 128 at 1.0), scores every completion with `rl.reward.RecipeReward` (parse, compile, execute, verify; −λ_format
for a completion that is not a recipe, −λ_empty for one that fails or yields nothing), normalises the rewards
within each group and takes one clipped-ratio step (`epsilon`) with a KL term to the start model (`beta`).

Rollouts (`decoding`):
- free: TRL's own sampling (transformers, or vLLM on the gpu profile when installed): the policy writes the JSON
  itself, as a cold-started policy does and as `chef-eval --mode compact --free` measures it.
- constrained: the task's compact JSON schema as a grammar, through TRL's `rollout_func`: every completion is a
  recipe, so a policy without cold start still sees rewards that differ. The sampled token ids go to TRL as they
  are (never re-tokenised text); tokens the grammar forced (one allowed token) are left out of the loss
  (`env_mask`), so the policy is credited only for its choices. The loss uses the policy's own (unmasked)
  log-probabilities, which is what makes it learn to write the form without the grammar.

Outputs (OUT):
    checkpoints/checkpoint-N  TRL checkpoints (adapter or weights, optimizer, scheduler, RNG): `resume=True` goes on
                              from the latest one
    metrics.jsonl             one line per step: reward mean/std/min/max, executability (completions that are
                              recipes), ran (recipes that ran and were scored), KL, completion length, entropy,
                              clip ratio, loss, and seconds in generation / reward / update
    rollouts.jsonl            every completion with its step, task, reward and status
    rewards/step-N/           the last steps' executed recipes (older steps are deleted: corpora add up)
    final/                    the trained policy (LoRA merged): `cook`/`chef-eval --chef local --model OUT/final
                              --mode compact`
    adapter/                  the LoRA adapter alone (a few MB), with LoRA
    grpo.json                 settings, start model, fingerprint, status, summary
    report.html               reward, executability and KL over steps, and the time split per step

Relies on TRL's private `GRPOTrainer._generate` only to time generation (without it the generation seconds are
reported as part of the update); `rollout_func` and `env_mask` are TRL's documented (experimental) hooks.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, Field

from ..adapt.train import (AdaptError, bf16_supported, checkpoint_dirs, checkpointing_arg, has_accelerator,
                           load_tokenizer, local_kwargs, publish_final, refuse_changed_resume, resolve_base,
                           world_size)
from ..chef.compact import compact_schema, messages
from ..hashing import content_hash
from ..io import atomic_open, write_json_atomic
from ..memory import release_memory
from .reward import RecipeReward, RewardResult, RolloutTask

Log = Callable[[str], None]
KEEP_REWARD_STEPS = 2  # rewards/step-N folders kept (the latest ones)


class GRPOSettings(BaseModel):
    """GRPO's knobs, with the paper's names (§3.3, §4.1)."""

    group_size: int = Field(4, ge=2, description="G: recipes sampled per task instance (the paper: 8).")
    prompts_per_step: int = Field(2, ge=1, description="Task instances per step; rollout batch = this x G (the "
                                                       "paper: 16 x 8 = 128).")
    micro_batch: int | None = Field(None, ge=1, description="Sequences per forward/backward pass (None: the whole "
                                                            "rollout batch at once); the rest is gradient "
                                                            "accumulation.")
    lr: float = Field(5e-5, gt=0, description="Learning rate (the paper: 5e-7, full fine-tuning of Qwen3; LoRA over a "
                                               "few dozen CPU steps needs far more).")
    beta: float = Field(0.04, ge=0, description="Weight of the KL term to the start (reference) model.")
    epsilon: float = Field(0.2, gt=0, description="Clip range of the probability ratio.")
    temperature: float = Field(1.0, gt=0, description="Rollout sampling temperature (the paper: 1.0).")
    max_completion_tokens: int = Field(120, ge=8, description="Token budget of a completion (compact answers are "
                                                              "~50 tokens).")
    epochs: float = Field(1.0, gt=0, description="Passes over the task instances (the paper: 1).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps (overrides epochs).")
    decoding: Literal["free", "constrained"] = Field("free", description="Rollouts sampled freely or under the "
                                                                         "task's JSON-schema grammar.")
    lora: bool = Field(True, description="Train LoRA adapters (merged into OUT/final) instead of all weights.")
    lora_r: int = Field(16, gt=0)
    lora_alpha: int = Field(32, gt=0)
    bf16: bool | None = Field(None, description="None: where it is fast (a GPU with bf16, a CPU with AMX/AVX512-BF16).")
    use_vllm: bool | None = Field(None, description="Free rollouts with vLLM (colocated); None: when installed and "
                                                    "on a GPU.")
    gradient_checkpointing: bool = False
    save_steps: int = Field(5, ge=1, description="A resumable checkpoint every this many steps.")
    seed: int = 0

    @property
    def rollout_batch(self) -> int:
        return self.prompts_per_step * self.group_size


# Presets: cpu = what fits 2 cores (LoRA on SmolLM2-135M, G = 4, 2 instances a step, a higher rate for LoRA's few
# steps); gpu = the paper's values (G = 8, 16 instances a step, lr 5e-7, full fine-tuning) on a Qwen3 base.
GRPO_PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {},
    "gpu": dict(group_size=8, prompts_per_step=16, micro_batch=8, lr=5e-7, lora=False, max_completion_tokens=256,
                save_steps=50),
}
GPU_BASE = "Qwen/Qwen3-8B"  # the paper trains Qwen3-32B (and 8B); any chat model loads the same way


def grpo_settings(profile: str, **overrides: Any) -> GRPOSettings:
    if profile not in GRPO_PROFILES:
        raise AdaptError(f"unknown GRPO profile '{profile}' (known: {', '.join(GRPO_PROFILES)})")
    return GRPOSettings(**{**GRPO_PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class GRPOResult:
    out: Path
    final_dir: Path
    steps: int
    seconds: float
    metrics: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None


# ------------------------------------------------------------------------------------------------------ the data

def rollout_rows(tasks: list[RolloutTask]) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One dataset row per task instance (its chat prompt and task file), and each prompt's JSON schema (keyed by
    the prompt text: TRL hands `rollout_func` the prompts only)."""
    rows, schemas = [], {}
    for rt in tasks:
        rows.append({"prompt": messages(rt.prompt), "task_file": str(rt.task_file)})
        schemas[rt.prompt] = compact_schema(rt.task, rt.profiles)
    return rows, schemas


# ------------------------------------------------------------------------------------------- metrics and rewards

class StepLog:
    """What one step did, gathered from the reward function, the timed generation and TRL's logs; written to
    OUT/metrics.jsonl and OUT/rollouts.jsonl (each line appended whole)."""

    def __init__(self, out: Path):
        self.out = out
        self.step = 0  # the step being computed (global_step + 1 while it runs)
        self._reset()

    def _reset(self) -> None:
        self.generation = 0.0
        self.reward = 0.0
        self.results: list[RewardResult] = []
        self.started = time.perf_counter()
        self.total: float | None = None

    def begin(self, step: int) -> None:
        self.step = step
        self._reset()

    def add_rewards(self, texts: list[str], tasks: list[str], results: list[RewardResult], seconds: float) -> None:
        self.reward += seconds
        self.results.extend(results)
        with open(self.out / "rollouts.jsonl", "a", encoding="utf-8") as f:
            for text, task, r in zip(texts, tasks, results):
                f.write(json.dumps({"step": self.step, "task": task, "completion": text, "reward": r.reward,
                                    "status": r.status, "records": r.records, "error": r.error},
                                   ensure_ascii=False) + "\n")

    def write(self, logs: dict[str, Any]) -> dict[str, Any]:
        rs = [r.reward for r in self.results]
        n = len(self.results) or 1
        total = self.total if self.total is not None else time.perf_counter() - self.started
        line = {
            "step": self.step, "reward_mean": logs.get("reward"), "reward_std": logs.get("reward_std"),
            "reward_min": min(rs) if rs else None, "reward_max": max(rs) if rs else None,
            "executability": sum(r.status != "format_violation" for r in self.results) / n,
            "ran": sum(r.status == "ok" for r in self.results) / n,
            "kl": logs.get("kl"), "completion_length": logs.get("completions/mean_length"),
            "entropy": logs.get("entropy"), "clip_ratio": logs.get("clip_ratio/region_mean"),
            "loss": logs.get("loss"), "lr": logs.get("learning_rate"),
            "seconds": {"generation": round(self.generation, 2), "reward": round(self.reward, 2),
                        "update": round(max(0.0, total - self.generation - self.reward), 2),
                        "total": round(total, 2)},
        }
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        return line


class RewardFunction:
    """TRL reward function: completions → `RecipeReward` rewards, each step's recipes executed under
    OUT/rewards/step-N (the latest `KEEP_REWARD_STEPS` kept)."""

    __name__ = "recipe_reward"  # TRL logs each reward function under its name

    def __init__(self, reward: RecipeReward, tasks: dict[str, RolloutTask], steps: StepLog, out: Path):
        self.reward, self.tasks, self.steps, self.root = reward, tasks, steps, out / "rewards"

    def __call__(self, prompts: list[Any], completions: list[Any], task_file: list[str], **kwargs: Any) -> list[float]:
        texts = [c[-1]["content"] if isinstance(c, list) else str(c) for c in completions]
        folder = self.root / f"step-{self.steps.step:05d}"
        shutil.rmtree(folder, ignore_errors=True)  # a step computed again after a resume starts afresh
        for old in sorted(self.root.glob("step-*"))[:-KEEP_REWARD_STEPS]:
            shutil.rmtree(old, ignore_errors=True)
        self.reward.work_dir = folder
        started = time.perf_counter()
        results = self.reward(texts, [self.tasks[f] for f in task_file])
        self.steps.add_rewards(texts, list(task_file), results, time.perf_counter() - started)
        return [r.reward for r in results]


def _callbacks(steps: StepLog, log: Log | None, metrics: list[dict[str, Any]]):
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            steps.begin(state.global_step + 1)

        def on_step_end(self, args, state, control, **kwargs):
            steps.total = time.perf_counter() - steps.started
            release_memory()  # rollouts of varying lengths fragment the heap: a CPU run grew 9 -> 13 GB in 14 steps

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or "reward" not in logs:
                return
            line = steps.write(logs)
            metrics.append(line)
            if log is not None:
                s = line["seconds"]
                log(f"step {line['step']}/{state.max_steps}  reward {line['reward_mean']:.3f} "
                    f"(std {line['reward_std'] or 0:.3f})  executable {line['executability']:.0%}  "
                    f"ran {line['ran']:.0%}  kl {line['kl'] or 0:.4f}  "
                    f"{s['total']:.0f}s (generation {s['generation']:.0f}, reward {s['reward']:.0f}, "
                    f"update {s['update']:.0f})")

        def on_save(self, args, state, control, **kwargs):
            if log is not None and state.is_world_process_zero:
                log(f"checkpoint at step {state.global_step}")

    return _Steps()


def _truncate_after(path: Path, step: int) -> None:
    """Drop lines of steps after `step` (a resumed run computes them again)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_open(path, "w") as f:
        f.write("".join(line + "\n" for line in kept))


def read_metrics(out: str | Path) -> list[dict[str, Any]]:
    path = Path(out) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------ constrained rollouts

def constrained_rollout(schemas: dict[str, dict[str, Any]], settings: GRPOSettings, steps: StepLog):
    """TRL `rollout_func`: each group of identical prompts sampled under its task's grammar (chef.compact's
    schema), returning the sampled ids, their log-probabilities under the sampling distribution and an `env_mask`
    that leaves grammar-forced tokens out of the loss."""
    import torch
    from transformers import LogitsProcessorList

    from ..llm.constrained import GrammarFactory, JsonSchemaLogitsProcessor

    state: dict[str, Any] = {}

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, list]:
        started = time.perf_counter()
        tok = trainer.processing_class
        model = trainer.accelerator.unwrap_model(trainer.model)
        if "factory" not in state:
            stops = {int(tok.eos_token_id)} | set(_ids(getattr(model.generation_config, "eos_token_id", None)))
            state["stops"] = sorted(stops)
            state["factory"] = GrammarFactory(tok, int(model.get_output_embeddings().weight.shape[0]), stops)
        factory, stops = state["factory"], state["stops"]
        pad = tok.pad_token_id if tok.pad_token_id is not None else stops[0]
        out: dict[str, list] = {"prompt_ids": [], "completion_ids": [], "logprobs": [], "env_mask": []}
        i = 0
        while i < len(prompts):
            j = i
            while j < len(prompts) and prompts[j] == prompts[i]:
                j += 1
            prompt_ids = _chat_ids(tok, prompts[i])
            schema = schemas[prompts[i][-1]["content"]]
            ids = torch.tensor([prompt_ids] * (j - i), device=model.device)
            with torch.no_grad():
                gen = model.generate(
                    input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
                    temperature=settings.temperature, top_k=0, top_p=1.0,
                    max_new_tokens=settings.max_completion_tokens, pad_token_id=pad, eos_token_id=stops,
                    logits_processor=LogitsProcessorList([JsonSchemaLogitsProcessor(factory, schema, j - i, pad)]),
                    output_scores=True, return_dict_in_generate=True)
            scores = torch.stack(gen.scores, dim=1).float()  # (rows, new tokens, vocab): the sampling distribution
            for r in range(j - i):
                toks = gen.sequences[r, len(prompt_ids):].tolist()
                end = next((k + 1 for k, t in enumerate(toks) if t in stops), len(toks))
                toks = toks[:end]
                dist = scores[r, :end]
                logps = torch.log_softmax(dist, dim=-1).gather(1, torch.tensor(toks).unsqueeze(1)).squeeze(1)
                choices = torch.isfinite(dist).sum(dim=-1)
                out["prompt_ids"].append(prompt_ids)
                out["completion_ids"].append(toks)
                out["logprobs"].append([float(x) for x in logps])
                out["env_mask"].append([int(c > 1) for c in choices.tolist()])
            i = j
        steps.generation += time.perf_counter() - started
        return out

    return rollout


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def _chat_ids(tokenizer: Any, chat: list[dict[str, str]]) -> list[int]:
    ids = tokenizer.apply_chat_template(chat, tokenize=True, add_generation_prompt=True)
    if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return [int(t) for t in ids]


# ------------------------------------------------------------------------------------------------------ training

def _fingerprint(start: str, task_files: list[Path], settings: GRPOSettings, reward: RecipeReward) -> dict[str, Any]:
    learn = settings.model_dump(mode="json", exclude={"save_steps", "max_steps"})  # both may change on resume
    rc = reward.config
    return {"start": start, "instances": content_hash(sorted(str(Path(f).resolve()) for f in task_files), 16),
            "settings": learn, "reward": {"kind": rc.kind, "form": rc.form, "sample": rc.sample, "seed": rc.seed}}


def train_grpo(task_files: list[str | Path], start: str | Path | None, out: str | Path,
               settings: GRPOSettings | None = None, *, reward: RecipeReward, resume: bool = False,
               cold_start: str | None = None, log: Log | None = None) -> GRPOResult:
    """GRPO of the policy `start` (a model folder or id; None = the embedded SmolLM2) on the task instances in
    `task_files`, rewarded by `reward`. Writes OUT as described in the module docstring. `resume`: continue from
    the latest checkpoint (same start model, instances, settings and reward); without it OUT must hold none.
    `cold_start`: where `start` came from (the `rl sft` folder), recorded in grpo.json."""
    settings = settings or GRPOSettings()
    out = Path(out)
    started = time.time()
    existing = checkpoint_dirs(out / "checkpoints")
    if existing and not resume:
        raise AdaptError(f"already holds checkpoints (latest {existing[-1].name}); pass --resume to continue that "
                         f"run, or choose an empty output folder", file=str(out))
    if len(task_files) < settings.prompts_per_step:
        raise AdaptError(f"{len(task_files)} task instance(s) for {settings.prompts_per_step} per step: give more "
                         f"instances (`datachef pool sample`) or fewer per step")
    start_ref = resolve_base(start)
    tasks = [RolloutTask.load(f) for f in task_files]
    fingerprint = _fingerprint(start_ref, [Path(f) for f in task_files], settings, reward)
    if resume and existing:
        before = json.loads((out / "grpo.json").read_text(encoding="utf-8")) if (out / "grpo.json").is_file() else {}
        changed = [k for k in fingerprint if k in before.get("fingerprint", {}) and before["fingerprint"][k]
                   != fingerprint[k]]
        refuse_changed_resume(changed, out / "grpo.json")
    devices = world_size()
    micro = settings.micro_batch or settings.rollout_batch
    if settings.rollout_batch % (micro * devices):
        raise AdaptError(f"the rollout batch ({settings.prompts_per_step} x {settings.group_size} = "
                         f"{settings.rollout_batch}) must be a multiple of micro_batch x processes ({micro} x "
                         f"{devices})")
    accum = settings.rollout_batch // (micro * devices)

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    out.mkdir(parents=True, exist_ok=True)
    rows, schemas = rollout_rows(tasks)
    bf16 = bf16_supported() if settings.bf16 is None else settings.bf16
    use_vllm = settings.use_vllm
    if use_vllm is None:
        import importlib.util

        use_vllm = settings.decoding == "free" and torch.cuda.is_available() and \
            importlib.util.find_spec("vllm") is not None
    if use_vllm and settings.decoding == "constrained":
        raise AdaptError("constrained rollouts sample with transformers (the grammar runs in this process); use "
                         "decoding 'free' for vLLM, or use_vllm False")
    args = GRPOConfig(
        output_dir=str(out / "checkpoints"), learning_rate=settings.lr, beta=settings.beta, epsilon=settings.epsilon,
        num_generations=settings.group_size, per_device_train_batch_size=micro, gradient_accumulation_steps=accum,
        temperature=settings.temperature, max_completion_length=settings.max_completion_tokens,
        num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1, bf16=bf16, fp16=False,
        use_cpu=not has_accelerator(), disable_dropout=True, use_vllm=bool(use_vllm), vllm_mode="colocate",
        save_strategy="steps", save_steps=settings.save_steps, save_total_limit=2, logging_steps=1,
        seed=settings.seed, data_seed=settings.seed, report_to="none", disable_tqdm=log is not None,
        remove_unused_columns=False, lr_scheduler_type="constant", warmup_steps=0,
        **checkpointing_arg(GRPOConfig, settings.gradient_checkpointing))
    main = args.process_index == 0
    resume_from = str(existing[-1]) if (resume and existing) else None
    if main:
        resumed_step = int(resume_from.rsplit("-", 1)[1]) if resume_from else 0
        for name in ("metrics.jsonl", "rollouts.jsonl"):
            if resume_from:
                _truncate_after(out / name, resumed_step)
            else:
                (out / name).unlink(missing_ok=True)
        write_json_atomic(out / "grpo.json", {"status": "running", "start": start_ref, "cold_start": cold_start,
                                              "fingerprint": fingerprint, "settings": settings.model_dump(mode="json"),
                                              "instances": [str(f) for f in task_files], "started": started})

    tokenizer = load_tokenizer(start_ref)
    tokenizer.padding_side = "left"  # generation pads on the left
    model = AutoModelForCausalLM.from_pretrained(start_ref, dtype=torch.bfloat16 if bf16 and has_accelerator()
                                                 else torch.float32, **local_kwargs(start_ref))
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        from ..adapt.train import LLAMA_LORA_TARGETS

        peft_config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=0.0,
                                 target_modules=list(LLAMA_LORA_TARGETS), task_type="CAUSAL_LM")
    steps = StepLog(out)
    metrics: list[dict[str, Any]] = read_metrics(out) if resume_from else []
    reward_fn = RewardFunction(reward, {str(rt.task_file): rt for rt in tasks}, steps, out)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func's "experimental" notice, on every run
    trainer = GRPOTrainer(
        model=model, reward_funcs=[reward_fn], args=args, train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer, peft_config=peft_config, callbacks=[_callbacks(steps, log, metrics)],
        rollout_func=constrained_rollout(schemas, settings, steps) if settings.decoding == "constrained" else None)
    if log is not None:
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    if settings.decoding == "free" and hasattr(trainer, "_generate"):
        generate = trainer._generate

        def timed_generate(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return generate(*a, **kw)
            finally:
                steps.generation += time.perf_counter() - t

        trainer._generate = timed_generate
    if log and main:
        log(f"GRPO of {start_ref} on {len(rows)} task instances: G={settings.group_size}, "
            f"{settings.prompts_per_step} instances/step (rollout batch {settings.rollout_batch}, micro batch "
            f"{micro} x {accum}), lr {settings.lr}, beta {settings.beta}, epsilon {settings.epsilon}, "
            f"{settings.decoding} decoding{' with vLLM' if use_vllm else ''}, "
            f"{'LoRA' if settings.lora else 'full'}, bf16={bf16}, reward {reward.config.kind}"
            + (f"; resuming from {resume_from}" if resume_from else ""))
    trainer.train(resume_from_checkpoint=resume_from)

    tokenizer.padding_side = "right"  # as the start model's: the saved policy is used for chat, not rollouts
    final = publish_final(trainer, tokenizer, out, lora=settings.lora, adapter=out / "adapter")
    result = GRPOResult(out=out, final_dir=final, steps=int(trainer.state.global_step),
                        seconds=round(time.time() - started, 1), metrics=metrics, resumed_from=resume_from)
    if main:
        write_json_atomic(out / "grpo.json", {
            "status": "done", "start": start_ref, "cold_start": cold_start, "fingerprint": fingerprint,
            "settings": settings.model_dump(mode="json"), "instances": [str(f) for f in task_files],
            "steps": result.steps, "seconds": result.seconds, "resumed_from": resume_from, "bf16": bf16,
            "use_vllm": bool(use_vllm), "final": str(final),
            "adapter": str(out / "adapter") if settings.lora else None, "summary": summarize(metrics)})
        from ..report.html import grpo_report

        with atomic_open(out / "report.html", "w") as f:
            f.write(grpo_report(json.loads((out / "grpo.json").read_text(encoding="utf-8")), metrics))
    return result


def summarize(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """First and last steps' reward and executability (means over up to 5 steps), and mean seconds per step."""
    if not metrics:
        return {}

    def mean(rows: list[dict[str, Any]], key: str) -> float | None:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return round(sum(vals) / len(vals), 4) if vals else None

    k = min(5, max(1, len(metrics) // 2))
    first, last = metrics[:k], metrics[-k:]
    seconds = {part: round(sum(m["seconds"][part] for m in metrics) / len(metrics), 1)
               for part in ("generation", "reward", "update", "total")}
    return {"steps": len(metrics), "window": k, "reward_first": mean(first, "reward_mean"),
            "reward_last": mean(last, "reward_mean"), "executability_first": mean(first, "executability"),
            "executability_last": mean(last, "executability"), "seconds_per_step": seconds}
