"""In-process transformers backend: the embedded default LLM (SmolLM2-135M-Instruct) or any local/Hub causal LM.

Generation uses its own small decoding loop rather than `model.generate`, because datachef needs per-request things
`generate` does not give in one batched call: a seeded RNG per request (so a request's sample does not depend on what
else is in the batch), grammar-constrained rows that finish at different times, stop strings, and an exact
finish_reason per row. Finished rows are dropped from the batch (and its KV cache) as soon as they stop.
"""
from __future__ import annotations

import inspect
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..hashing import content_hash
from .base import Completion, LLMClient, LLMError, Messages, SamplingParams
from .models import EMBEDDED_NAME, embedded_chef_name, is_embedded, is_embedded_chef, is_local_model, resolve_model

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype | str] = {
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float32": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "auto": "auto",
}


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX). Without it (e.g. AVX2-only AMD EPYC) torch
    emulates bf16 and is slower than fp32: measured on this 2-core EPYC, 1.2x slower decoding one sequence, 2.7x
    slower decoding a batch of 8 and 5x slower on a prompt pass."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(getattr(torch.cpu, p)() for p in probes if hasattr(torch.cpu, p))
    except Exception:  # private torch helpers: treat any failure as "no"
        return False


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 where it is fast (CUDA with bf16, CPUs with native bf16), else fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def _parse_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype | str:
    if dtype is None:
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise LLMError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}", field="dtype") from None


def _set_threads(num_threads: int | None) -> None:
    """torch's CPU thread count is process-wide. An explicit `num_threads` wins; otherwise only cap it at the cores
    this process may run on (torch counts the host's cores, which oversubscribes a pinned container), and leave a
    lower choice made elsewhere (OMP_NUM_THREADS, an earlier client) alone."""
    if num_threads is None:
        try:
            allowed = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            allowed = os.cpu_count() or 1
        num_threads = min(torch.get_num_threads(), allowed)
    if num_threads < 1:
        raise LLMError(f"num_threads must be >= 1, got {num_threads}", field="num_threads")
    if torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)


class TransformersClient(LLMClient):
    """Chat, JSON-schema-constrained chat and label scoring with a transformers causal LM, in this process.

    Args:
        model: None / "smollm2" / "embedded" → the embedded SmolLM2-135M-Instruct (converted once from the packaged
            GGUF); "chef" → the embedded chef (that model with the packaged trained adapter merged in); a local model
            folder; or a Hub id (needs internet).
        device: torch device ("cpu", "cuda", ...).
        dtype: None (default) → bfloat16 where the device computes it natively (CUDA, CPUs with AVX512-BF16/AMX),
            else float32 (emulated bf16 is 1.2-5x slower than fp32 on an AVX2 CPU); or "bfloat16", "float32",
            "float16", "auto" (the dtype in the model's config).
        batch_size: how many requests decode together.
        cache: a `RequestCache`, or None.
        num_threads: torch CPU threads (process-wide); None → torch's current count, capped at the cores this
            process may use. 1 is faster for tiny test models, where thread synchronisation outweighs the work.
    """

    backend = "transformers"

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "cpu",
                 dtype: str | torch.dtype | None = None, batch_size: int = 8, cache: Any = None,
                 num_threads: int | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise LLMError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise LLMError(f"bad device {device!r}: {e}", field="device") from e
        torch_dtype = _parse_dtype(dtype, self.device)
        path = resolve_model(model)
        embedded = is_embedded(model)
        # The cache key uses this name: a stable one for the embedded model (and the chef: with its adapter's hash),
        # the absolute path for a local folder.
        name = (EMBEDDED_NAME if embedded else embedded_chef_name() if is_embedded_chef(model)
                else str(Path(path).resolve()) if is_local_model(path) else path)
        super().__init__(name, cache)
        self.model_path = path
        self.batch_size = batch_size
        if self.device.type == "cpu":
            _set_threads(num_threads)
        local = is_local_model(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
            self.hf_model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, local_files_only=local)
        except (OSError, ValueError) as e:
            raise LLMError(f"cannot load model {str(model or EMBEDDED_NAME)!r} from {path}: {e}",
                           field="model") from e
        self.hf_model.to(self.device).eval()
        if not self.tokenizer.chat_template:
            raise LLMError(f"model {path} has no chat template (a base model?); datachef needs a chat/instruct model",
                           field="model")
        self.dtype = self.hf_model.dtype
        self.vocab_size = int(self.hf_model.get_output_embeddings().weight.shape[0])
        self.stop_token_ids = self._stop_tokens()
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else min(self.stop_token_ids))
        cfg = self.hf_model.config
        self.max_context = int(getattr(cfg, "max_position_embeddings", None) or 4096)
        # transformers 5.2x renamed the KV cache from `past_key_values` to `cache`, as forward's argument and as the
        # output's field (the old names still work but warn); older releases only know the old name.
        forward = inspect.signature(self.hf_model.forward).parameters
        self._cache_name = "cache" if "cache" in forward else "past_key_values"
        self._lock = threading.Lock()  # one forward pass at a time: threads would only fight over the cores
        self._grammars: Any = None

    # -- helpers ------------------------------------------------------------------------------------------
    def _stop_tokens(self) -> set[int]:
        ids: set[int] = set()
        for v in (self.tokenizer.eos_token_id, getattr(self.hf_model.generation_config, "eos_token_id", None)):
            if isinstance(v, int):
                ids.add(v)
            elif isinstance(v, (list, tuple)):
                ids.update(int(x) for x in v)
        if not ids:
            raise LLMError(f"model {self.model_path} defines no EOS token; cannot tell when a reply ends",
                           field="model")
        return ids

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Token ids of the chat-templated prompt, ending with the assistant turn's header. A final assistant message
        is continued (prefill) instead."""
        prefill = messages[-1]["role"] == "assistant"
        try:
            out = self.tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=not prefill,
                                                     continue_final_message=prefill)
        except Exception as e:  # jinja errors, e.g. templates that reject a system role
            raise LLMError(f"chat template of {self.model_path} failed on these messages: {e}",
                           field="messages") from e
        if isinstance(out, Mapping):  # transformers 5 returns a BatchEncoding
            out = out["input_ids"]
        return [int(t) for t in out]

    def grammars(self):
        """The JSON-schema grammar compiler for this tokenizer (built on first use)."""
        if self._grammars is None:
            from .constrained import GrammarFactory

            self._grammars = GrammarFactory(self.tokenizer, self.vocab_size, self.stop_token_ids,
                                            max_threads=max(1, torch.get_num_threads()))
        return self._grammars

    def _generators(self, prompts: list[list[int]], params: SamplingParams) -> list[torch.Generator] | None:
        if params.temperature <= 0:
            return None
        # One RNG per request, seeded by the seed and the request's own tokens: a request's sample does not depend on
        # its position in the batch (which the request cache assumes), and different requests do not draw the same
        # random numbers (one seed for every row made similar prompts sample alike: 2-3 of 8 chef drafts came out
        # identical, and most of the rest shared their first choices).
        seeds = [int(content_hash([params.seed, p], 15), 16) if params.seed is not None else secrets.randbits(63)
                 for p in prompts]
        return [torch.Generator(device="cpu").manual_seed(s) for s in seeds]

    # -- generation ---------------------------------------------------------------------------------------
    def _chat_batch(self, batch: list[Messages], params: SamplingParams,
                    json_schema: dict[str, Any] | None) -> list[Completion]:
        if params.max_tokens < 1:
            raise LLMError(f"max_tokens must be >= 1, got {params.max_tokens}", field="max_tokens")
        if params.temperature < 0 or not 0 < params.top_p <= 1:
            raise LLMError(f"need temperature >= 0 and 0 < top_p <= 1, got {params.temperature}, {params.top_p}",
                           field="temperature")
        compiled = self.grammars().compile_json_schema(json_schema) if json_schema is not None else None
        prompts = [self.prompt_ids(m) for m in batch]
        results: list[Completion | None] = [None] * len(batch)
        runnable = []
        for i, p in enumerate(prompts):
            if len(p) >= self.max_context:
                log.warning("request %d: prompt of %d tokens does not fit the context of %d tokens of %s", i,
                            len(p), self.max_context, self.model)
                results[i] = Completion(text="", finish_reason="error", prompt_tokens=len(p))
            else:
                runnable.append(i)
        # Similar lengths together: less left padding to compute over.
        runnable.sort(key=lambda i: len(prompts[i]))
        for start in range(0, len(runnable), self.batch_size):
            chunk = runnable[start:start + self.batch_size]
            for i, c in zip(chunk, self._generate([prompts[i] for i in chunk], params, compiled)):
                results[i] = c
        return results  # type: ignore[return-value]

    def _generate(self, prompts: list[list[int]], params: SamplingParams, compiled: Any) -> list[Completion]:
        n = len(prompts)
        width = max(len(p) for p in prompts)
        ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        attn = torch.zeros((n, width), dtype=torch.long)
        for r, p in enumerate(prompts):  # left padding: every row's next token sits in the last column
            ids[r, width - len(p):] = torch.tensor(p)
            attn[r, width - len(p):] = 1
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        budgets = [min(params.max_tokens, self.max_context - len(p)) for p in prompts]
        gens = self._generators(prompts, params)
        grammar = self.grammars().batch(compiled, n) if compiled is not None else None
        stops = [s for s in params.stop if s]
        out_ids: list[list[int]] = [[] for _ in range(n)]
        texts: list[str | None] = [None] * n
        reasons: list[str | None] = [None] * n
        active = list(range(n))  # original row numbers of the rows still in the tensors
        dev = self.device
        with self._lock, torch.inference_mode():
            out = self.hf_model(input_ids=ids.to(dev), attention_mask=attn.to(dev), position_ids=pos.to(dev),
                                use_cache=True, logits_to_keep=1)
            past = getattr(out, self._cache_name)
            while True:
                logits = out.logits[:, -1, :].float().cpu()
                if grammar is not None:
                    grammar.apply(logits, active)
                tokens = self._pick(logits, params, [gens[r] for r in active] if gens else None)
                keep: list[int] = []
                advanced = len(active)  # progress: a token per row, and a finished row's unused budget
                for j, r in enumerate(active):
                    tok = int(tokens[j])
                    out_ids[r].append(tok)
                    reasons[r], texts[r] = self._finished(r, tok, out_ids[r], budgets[r], grammar, stops)
                    if reasons[r] is None:
                        keep.append(j)
                    else:
                        advanced += params.max_tokens - len(out_ids[r])
                self._advance(advanced)
                if not keep:
                    break
                if len(keep) < len(active):  # drop finished rows from the batch and its KV cache
                    idx = torch.tensor(keep, device=dev)
                    past.batch_select_indices(idx)
                    attn, pos, tokens = attn[keep], pos[keep], tokens[keep]
                    active = [active[j] for j in keep]
                attn = torch.cat([attn, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
                pos = pos[:, -1:] + 1
                out = self.hf_model(input_ids=tokens.view(-1, 1).to(dev), attention_mask=attn.to(dev),
                                    position_ids=pos.to(dev), use_cache=True, **{self._cache_name: past})
        return [Completion(text=texts[r] or "", finish_reason=reasons[r] or "length", prompt_tokens=len(prompts[r]),
                           completion_tokens=len(out_ids[r])) for r in range(n)]

    def _finished(self, row: int, tok: int, ids: list[int], budget: int, grammar: Any,
                  stops: list[str]) -> tuple[str | None, str | None]:
        """(finish_reason, text) once row `row` is done after emitting `tok`; (None, None) while it goes on."""
        if grammar is not None and not grammar.accept(row, tok):
            # Only possible if the grammar left no token allowed; surface it rather than emit invalid JSON.
            log.warning("grammar rejected token %d after %d tokens; stopping the row", tok, len(ids))
            return "error", self._decode(ids[:-1])
        if tok in self.stop_token_ids:
            return "stop", self._decode(ids[:-1])
        if stops:
            text = self._decode(ids)
            cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
            if cut >= 0:
                return "stop", text[:cut]
        if len(ids) >= budget:
            # A JSON value that is complete when the budget runs out is a finished answer, not a truncated one.
            done = grammar is not None and grammar.is_completed(row)
            return ("stop" if done else "length"), self._decode(ids)
        return None, None

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    @staticmethod
    def _pick(logits: torch.Tensor, params: SamplingParams, gens: list[torch.Generator] | None) -> torch.Tensor:
        """Next token per row: greedy at temperature 0, else temperature + top-p sampling with each row's RNG."""
        if gens is None:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
            drop = sorted_p.cumsum(dim=-1) - sorted_p > params.top_p
            sorted_p[drop] = 0.0
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        return torch.stack([torch.multinomial(probs[j], 1, generator=g)[0] for j, g in enumerate(gens)])

    # -- label scoring ------------------------------------------------------------------------------------
    def label_ids(self, label: str) -> list[int]:
        ids = self.tokenizer(label, add_special_tokens=False)["input_ids"]
        if not ids:
            raise LLMError(f"label {label!r} has no tokens", field="labels")
        return [int(t) for t in ids]

    def _score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        """Sum of the log-probs of each label's tokens right after the prompt (teacher forcing, no generation).

        The prompt is run once and its KV cache shared by all labels: one pass over the prompt, then one batched
        pass over the labels' tokens (right-padded; a pad only follows real tokens, so it changes no score). Labels
        of a single token (Yes/No, A/B/C/D) need nothing but the prompt pass."""
        prompt = self.prompt_ids(messages)
        uniq = list(dict.fromkeys(labels))
        toks = {lab: self.label_ids(lab) for lab in uniq}
        if len(prompt) + max(len(t) for t in toks.values()) > self.max_context:
            raise LLMError(f"prompt of {len(prompt)} tokens plus label does not fit the context of "
                           f"{self.max_context} tokens", field="messages")
        multi = [lab for lab in uniq if len(toks[lab]) > 1]
        dev = self.device
        with self._lock, torch.inference_mode():
            out = self.hf_model(input_ids=torch.tensor([prompt], device=dev), use_cache=bool(multi),
                                logits_to_keep=1)
            first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
            scores = {lab: float(first[toks[lab][0]]) for lab in uniq}
            if multi:
                past = getattr(out, self._cache_name)
                past.batch_repeat_interleave(len(multi))
                width = max(len(toks[lab]) for lab in multi) - 1  # the last token's prediction is not needed
                inp = torch.full((len(multi), width), self.pad_token_id, dtype=torch.long)
                for j, lab in enumerate(multi):
                    inp[j, : len(toks[lab]) - 1] = torch.tensor(toks[lab][:-1])
                pos = torch.arange(len(prompt), len(prompt) + width).expand(len(multi), -1)
                attn = torch.ones((len(multi), len(prompt) + width), dtype=torch.long)
                out = self.hf_model(input_ids=inp.to(dev), attention_mask=attn.to(dev), position_ids=pos.to(dev),
                                    use_cache=True, **{self._cache_name: past})
                logp = torch.log_softmax(out.logits.float(), dim=-1)
                for j, lab in enumerate(multi):
                    rest = torch.tensor(toks[lab][1:], device=logp.device)
                    scores[lab] += float(logp[j, torch.arange(len(rest)), rest].sum())
        return {lab: scores[lab] for lab in labels}
