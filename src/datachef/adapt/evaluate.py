"""Evaluate a model on its task's held-out benchmark items.

Two numbers per run:
- the benchmark score, from greedy batched generation with the model's chat template (user turn = the question in
  the benchmark's prompt style) and the scorer of `task.benchmark.format` (numeric exact match, MCQ letter
  accuracy, code pass@1, normalised exact match for free text), which reads and compares answers with
  `datachef.answers`, as the Data Verifier does (leniently: a model's free completion is not a training record);
- the mean negative log-likelihood of the gold answers given the question (teacher-forced, per token, averaged over
  items): a continuous, low-noise score that moves even when a small model gets no answer right.

Self-contained rather than lm-evaluation-harness: lm-eval is not installed offline here and brings many
dependencies, its chat-templated generation and HumanEval execution need extra flags, and this way evaluation uses
exactly the chat template and tokenisation that training used (`train.tokenize_chat`).
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, Field

from ..answers import (LETTERS, answers_equivalent, code_test_program, extract_answer, extract_code, extract_letter,
                       format_mcq, gold_letter, run_python, texts_equal)
from ..io import atomic_open, task_base_dir, write_json_atomic
from ..spec import TaskSpec
from .train import AdaptError, is_embedded_ref, load_tokenizer, render_chat, resolve_base, tokenize_chat

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The user turn per benchmark format; {question} is the item's question (for MCQ, followed by lettered options).
# Numeric and free questions go in verbatim, as recipes write training records (user = the problem).
DEFAULT_PROMPTS: dict[str, str] = {
    "numeric": "{question}",
    "mcq": "{question}\n\nAnswer with the letter of the correct option.",
    "code": "Complete the following Python function. Reply with the whole function in a ```python code block.\n\n"
            "```python\n{question}```",
    "free": "{question}",
}
METRICS = {"numeric": "accuracy", "mcq": "accuracy", "code": "pass@1", "free": "exact_match"}
# End-of-turn tokens of common chat templates: generation stops at any of them.
_STOP_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "</s>")
_NLL_MAX_TOKENS = 2048
CODE_MEMORY_MB = 4096  # address-space limit of one code test run


class EvalResult(BaseModel):
    """What eval.json holds (per-item predictions are in eval_items.jsonl next to it)."""

    model: str = Field(description="The model evaluated (as given) and, in `model_path`, the folder loaded.")
    model_path: str
    task: str
    benchmark: str
    format: str
    split: str
    n: int = Field(description="Items evaluated.")
    metric: str
    score: float = Field(description="Accuracy / pass@1 / exact match over the items, in [0, 1].")
    correct: int
    unanswered: int = Field(description="Completions from which no answer could be extracted.")
    nll: float | None = Field(description="Mean over items of the per-token NLL of the gold answer (nats).")
    nll_micro: float | None = Field(description="Total NLL of all gold-answer tokens / their number.")
    nll_tokens: int
    prompt_template: str
    max_new_tokens: int
    batch_size: int
    device: str
    dtype: str
    seconds: float
    out: str


# ------------------------------------------------------------------------------------------------------ benchmark

def _choices(task: TaskSpec, item: dict[str, Any]) -> list[str]:
    fields = task.benchmark.fields.choices
    if not fields:
        raise AdaptError(f"benchmark '{task.benchmark.name}' has format mcq but no benchmark.fields.choices",
                         field="benchmark.fields.choices")
    if len(fields) == 1 and isinstance(item[fields[0]], list):  # one field holding the option list
        return [str(c) for c in item[fields[0]]]
    return [str(item[f]) for f in fields]


def build_prompt(task: TaskSpec, item: dict[str, Any], template: str | None = None) -> str:
    """The user turn for one benchmark item."""
    fmt = task.benchmark.format
    question = str(item[task.benchmark.fields.question])
    if fmt == "mcq":
        question = format_mcq(question, _choices(task, item))
    return (template or DEFAULT_PROMPTS[fmt]).replace("{question}", question)


def gold_target(task: TaskSpec, item: dict[str, Any]) -> str:
    """The text whose likelihood is measured: the answer field (worked solution, code), or the gold letter (MCQ)."""
    answer = item[task.benchmark.fields.answer]
    if task.benchmark.format == "mcq":
        return gold_letter(answer, _choices(task, item))
    return str(answer)


@dataclass(frozen=True)
class Score:
    correct: bool
    extracted: str | None  # what was read out of the completion (answer, letter, or the tests' status)
    gold: str | None


def score_item(task: TaskSpec, item: dict[str, Any], completion: str, code_timeout: float = 10.0) -> Score:
    """Score one completion. Answers are read leniently (the last number, the option whose text is quoted, unfenced
    text as code) and compared as the verifier compares them; the gold is read from the answer field as the
    verifier reads a training reply (the benchmark's `answer_pattern`, '####', boxed, ...), else the whole field."""
    bench = task.benchmark
    if bench.format == "code":
        program = code_test_program(extract_code(completion, lenient=True), item, bench.fields.question)
        if program is None:
            raise AdaptError(f"code benchmark item has no tests: expected HumanEval fields 'test' + 'entry_point' or "
                             f"an MBPP 'test_list' (its fields: {', '.join(item)})", field="test")
        status = run_python(program, timeout_s=code_timeout, memory_mb=CODE_MEMORY_MB).status
        return Score(status == "passed", status, None)
    answer, pattern = item[bench.fields.answer], bench.answer_pattern
    if bench.format == "mcq":
        choices = _choices(task, item)
        gold = gold_letter(answer, choices)
        pred = extract_letter(completion, LETTERS[:len(choices)], answer_pattern=pattern, lenient=True,
                              choices=choices)
        return Score(pred == gold, pred, gold)
    numeric = bench.format == "numeric"
    gold = extract_answer(str(answer), pattern, numeric=numeric) or str(answer).strip()
    pred = extract_answer(completion, pattern, numeric=numeric, lenient=True)
    correct = pred is not None and (answers_equivalent(gold, pred) is True if numeric else texts_equal(gold, pred))
    return Score(correct, pred, gold)


# --------------------------------------------------------------------------------------------------------- models

ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_folder(p: Path) -> bool:
    """A PEFT LoRA adapter folder alone (adapter_config.json, no model config.json)."""
    return (p / ADAPTER_CONFIG).is_file() and not (p / "config.json").is_file()


def resolve_checkpoint(ckpt: str | Path | None) -> tuple[str, Path | None]:
    """(loadable model reference, default output folder). A `datachef train` output folder means its final/ model,
    with results written next to train.json; a model folder or a LoRA adapter folder means itself; the embedded
    alias or an HF id have no default folder."""
    if is_embedded_ref(ckpt):
        return resolve_base(ckpt), None
    p = Path(ckpt)
    if (p / "final" / "config.json").is_file():
        return str(p / "final"), p
    if p.is_dir():
        if not (p / "config.json").is_file() and not is_adapter_folder(p):
            raise AdaptError("not a model folder (no config.json), a LoRA adapter (no adapter_config.json) nor a "
                             "`datachef train` output (no final/)", file=str(p))
        return str(p), p
    return str(ckpt), None


def adapter_base(folder: Path) -> str:
    """The base model a LoRA adapter folder was trained on (its `base_model_name_or_path`), as a loadable
    reference."""
    try:
        base = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("base_model_name_or_path")
    except ValueError as e:
        raise AdaptError(f"bad JSON: {e}", file=str(folder / ADAPTER_CONFIG)) from None
    if not base:
        raise AdaptError("the adapter does not name its base model", file=str(folder / ADAPTER_CONFIG),
                         field="base_model_name_or_path")
    return resolve_base(base) if is_embedded_ref(base) else str(base)


def load_model(ref: str, dtype: str = "auto") -> tuple["PreTrainedModel", "PreTrainedTokenizerBase", str, str]:
    """(model in eval mode, tokenizer, device, dtype name). `dtype` auto = bf16 on a bf16-capable GPU (fp16 on older
    ones); on CPU bf16 only with native bf16 units, else fp32: on an AVX2-only CPU, batched generation with SmolLM2
    measured 3x and the NLL forward 6.5x faster in fp32 than in bf16."""
    import torch
    from transformers import AutoModelForCausalLM

    from .train import bf16_supported, local_kwargs

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        if device == "cuda":
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "bfloat16" if bf16_supported() else "float32"
    if dtype not in ("bfloat16", "float16", "float32"):
        raise AdaptError(f"unknown dtype '{dtype}' (auto, bfloat16, float16 or float32)", field="dtype")
    # A LoRA adapter alone (what `datachef correlate` keeps of each trained model) is merged into its base in fp32,
    # as training's merged final model was, then cast.
    adapter = Path(ref) if is_adapter_folder(Path(ref)) else None
    model_ref = adapter_base(adapter) if adapter else ref
    tokenizer = load_tokenizer(model_ref)
    try:
        load_dtype = torch.float32 if adapter else getattr(torch, dtype)
        model = AutoModelForCausalLM.from_pretrained(model_ref, dtype=load_dtype, **local_kwargs(model_ref))
    except (OSError, ValueError) as e:
        raise AdaptError(f"cannot load a causal LM from '{model_ref}': {e}") from None
    if adapter:
        from ..llm.base import LLMError
        from ..llm.lora import merge_adapter

        try:
            merge_adapter(model, adapter)
        except LLMError as e:
            raise AdaptError(e.message, file=e.file or str(adapter), field=e.field) from None
        model.to(getattr(torch, dtype))
    model.to(device).eval()
    return model, tokenizer, device, dtype


def _stop_ids(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase") -> list[int]:
    ids: set[int] = set()
    for source in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, (list, tuple)):
            ids.update(i for i in source if isinstance(i, int))
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in _STOP_TOKENS if t in vocab)
    return sorted(ids)


def generate(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", prompts: list[str], *,
             batch_size: int = 8, max_new_tokens: int = 256,
             progress: Callable[[int], None] | None = None) -> list[str]:
    """Greedy completions of single-turn chats (user = prompt), batched with left padding; batches group prompts
    of similar length. Returns the decoded assistant replies in input order."""
    import torch

    texts = [render_chat(tokenizer, [{"role": "user", "content": p}], add_generation_prompt=True) for p in prompts]
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    stop, pad = _stop_ids(model, tokenizer), tokenizer.pad_token_id
    device = next(model.parameters()).device
    out: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):  # left padding: every prompt ends where generation starts
            ids[row, width - len(encoded[i]):] = torch.as_tensor(encoded[i])
            mask[row, width - len(encoded[i]):] = 1
        with torch.inference_mode():
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=stop, pad_token_id=pad,
                                 temperature=None, top_p=None, top_k=None)
        for row, i in enumerate(idx):
            out[i] = tokenizer.decode(gen[row, width:], skip_special_tokens=True).strip()
        if progress is not None:
            progress(len(idx))
    return out


def gold_nll(model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", prompts: list[str],
             targets: list[str], *, batch_size: int = 8) -> list[tuple[float, int]]:
    """(summed NLL in nats, token count) of each gold target as the assistant reply to its prompt, teacher-forced.
    Only the target's own tokens count (not the template's end-of-turn token)."""
    import torch
    import torch.nn.functional as F

    rows = []
    for p, t in zip(prompts, targets):
        enc = tokenize_chat(tokenizer, [{"role": "user", "content": p}, {"role": "assistant", "content": t}],
                            content_only=True)
        rows.append({k: v[:_NLL_MAX_TOKENS] for k, v in enc.items()})
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["input_ids"]))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    result: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(rows[i]["input_ids"]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, i in enumerate(idx):
            n = len(rows[i]["input_ids"])
            ids[r, :n] = torch.as_tensor(rows[i]["input_ids"])
            labels[r, :n] = torch.as_tensor(rows[i]["labels"])
            mask[r, :n] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, :-1].float()
        target = labels[:, 1:].to(logits.device)
        nll = F.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
        valid = target != -100
        sums = (nll * valid).sum(dim=1)
        counts = valid.sum(dim=1)
        for r, i in enumerate(idx):
            result[i] = (float(sums[r]), int(counts[r]))
    return result


# ----------------------------------------------------------------------------------------------------- evaluation

def evaluate(ckpt: str | Path | None, task: TaskSpec, *, limit: int | None = None, batch_size: int = 8,
             max_new_tokens: int = 256, out: str | Path | None = None, split: Literal["held_out", "dev"] = "held_out",
             prompt_template: str | None = None, dtype: str = "auto", code_timeout: float = 10.0,
             base_dir: Path | None = None, log: Callable[[str], None] | None = None) -> EvalResult:
    """Evaluate `ckpt` on `task`'s held-out benchmark items; write OUT/eval.json and OUT/eval_items.jsonl.

    `ckpt`: a `datachef train` output folder (its final/ model; results go next to train.json), a model folder, an
    HF id, or None / 'smollm2' for the embedded SmolLM2. `limit`: evaluate the first N items only. `out`: results
    folder (default: the checkpoint's folder, else ./eval-<task>). `prompt_template`: the user turn, with
    `{question}` (default: `DEFAULT_PROMPTS[format]`). `split='dev'` scores the dev items instead (debugging only).
    """
    started = time.time()
    ref, default_out = resolve_checkpoint(ckpt)
    out_dir = Path(out) if out is not None else (default_out or Path.cwd() / f"eval-{task.name}")
    from ..sources import load_benchmark

    dev, held_out = load_benchmark(task, base_dir or task_base_dir(task))
    items = held_out if split == "held_out" else dev
    if limit is not None:
        items = items[:limit]
    if not items:
        raise AdaptError(f"benchmark '{task.benchmark.name}' has no {split} items to evaluate")
    fmt = task.benchmark.format
    template = prompt_template or DEFAULT_PROMPTS[fmt]
    if "{question}" not in template:
        raise AdaptError("prompt template must contain {question}", field="prompt_template")
    prompts = [build_prompt(task, it, template) for it in items]
    try:
        targets = [gold_target(task, it) for it in items]
    except ValueError as e:
        raise AdaptError(str(e), source=task.benchmark.source.id, field=task.benchmark.fields.answer) from None

    model, tokenizer, device, dtype_name = load_model(ref, dtype)
    if log:
        log(f"evaluating {ref} on {len(items)} {split} items of {task.benchmark.name} ({fmt}) on {device}/{dtype_name}")
    nlls = gold_nll(model, tokenizer, prompts, targets, batch_size=batch_size)
    done = [0]

    def progress(k: int) -> None:
        done[0] += k
        if log:
            log(f"generated {done[0]}/{len(items)}")

    completions = generate(model, tokenizer, prompts, batch_size=batch_size, max_new_tokens=max_new_tokens,
                           progress=progress)
    if fmt == "code":  # each item runs in its own subprocess; a few at a time
        with ThreadPoolExecutor(max_workers=4) as pool:
            scores = list(pool.map(lambda a: score_item(task, a[0], a[1], code_timeout), zip(items, completions)))
    else:
        scores = [score_item(task, it, c, code_timeout) for it, c in zip(items, completions)]

    per_item = [s / n for s, n in nlls if n > 0]
    total_tokens = sum(n for _, n in nlls)
    correct = sum(s.correct for s in scores)
    result = EvalResult(
        model=str(ckpt if ckpt is not None else "smollm2"), model_path=ref, task=task.name,
        benchmark=task.benchmark.name, format=fmt, split=split, n=len(items), metric=METRICS[fmt],
        score=correct / len(items), correct=correct,
        unanswered=sum(1 for s in scores if s.extracted is None),
        nll=sum(per_item) / len(per_item) if per_item else None,
        nll_micro=sum(s for s, _ in nlls) / total_tokens if total_tokens else None, nll_tokens=total_tokens,
        prompt_template=template, max_new_tokens=max_new_tokens, batch_size=batch_size, device=device,
        dtype=dtype_name, seconds=round(time.time() - started, 2), out=str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "eval_items.jsonl") as f:
        for k, (it, comp, sc, (s, n)) in enumerate(zip(items, completions, scores, nlls)):
            f.write(json.dumps({"index": k, "question": it[task.benchmark.fields.question], "gold": sc.gold,
                                "completion": comp, "extracted": sc.extracted, "correct": sc.correct,
                                "nll": s / n if n else None, "nll_tokens": n}, ensure_ascii=False) + "\n")
    write_json_atomic(out_dir / "eval.json", result.model_dump(mode="json"))
    return result
