"""Constrained decoding with xgrammar: outputs that are valid JSON for a given JSON schema.

A weak model (SmolLM2-135M, or a random test model) cannot be trusted to write JSON; masking every token the grammar
does not allow makes the output parse by construction. The grammar also decides when generation may stop: once the
JSON value is complete only the stop tokens (EOS) are allowed, and before that they are masked out.

`GrammarBatch` is what `TransformersClient`'s own decoding loop uses (one matcher per row, rows may finish early);
`JsonSchemaLogitsProcessor` wraps the same thing for `model.generate(logits_processor=[...])`.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Iterable

import torch
from transformers import LogitsProcessor

from .base import LLMError, split_separators


class GrammarFactory:
    """Compiles JSON schemas for one tokenizer (compiled grammars are cached by schema)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Iterable[int], *, max_threads: int = 2):
        import xgrammar as xgr

        self.vocab_size = vocab_size
        self.stop_token_ids = sorted(set(stop_token_ids))
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                  stop_token_ids=self.stop_token_ids)
        self._compiler = xgr.GrammarCompiler(info, max_threads=max_threads)
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def compile_json_schema(self, schema: dict[str, Any]) -> Any:
        """Compile `schema` (no free whitespace, so a weak model cannot pad forever; separators as the schema's
        `SEPARATORS_KEY` names them, else xgrammar's ", " and ": ")."""
        if not isinstance(schema, dict):
            raise LLMError(f"json_schema must be a dict (a JSON schema), got {type(schema).__name__}",
                           field="json_schema")
        try:
            # Not sorted: the grammar emits properties in the schema's order (e.g. a plan before the picks it
            # explains), so two schemas differing only in key order are different grammars.
            key = json.dumps(schema)
        except (TypeError, ValueError) as e:
            raise LLMError(f"json_schema is not JSON-serialisable: {e}", field="json_schema") from e
        with self._lock:
            hit = self._cache.get(key)
            if hit is None:
                try:
                    body, separators = split_separators(schema)
                    hit = self._compiler.compile_json_schema(json.dumps(body), any_whitespace=False,
                                                             strict_mode=True, separators=separators)
                except Exception as e:  # xgrammar raises RuntimeError/InvalidJSONError with a useful message
                    raise LLMError(f"cannot build a grammar from json_schema: {e}", field="json_schema") from e
                self._cache[key] = hit
            return hit

    def batch(self, compiled: Any, n: int) -> "GrammarBatch":
        return GrammarBatch(compiled, n, self.vocab_size)


class GrammarBatch:
    """One grammar matcher per batch row. Rows are addressed by their index in the original batch, so the decoding
    loop can drop finished rows from its tensors and keep using the same row numbers here."""

    def __init__(self, compiled: Any, n: int, vocab_size: int):
        import xgrammar as xgr

        self._xgr = xgr
        self.vocab_size = vocab_size
        self.matchers = [xgr.GrammarMatcher(compiled) for _ in range(n)]
        self._bitmask = xgr.allocate_token_bitmask(n, vocab_size)

    def apply(self, logits: torch.Tensor, rows: list[int]) -> None:
        """Mask, in place, the tokens the grammar forbids. `logits[j]` belongs to batch row `rows[j]`; logits must be
        on the CPU (the bitmask is applied by xgrammar's CPU kernel)."""
        bitmask = self._bitmask[: len(rows)]
        for j, row in enumerate(rows):
            self.matchers[row].fill_next_token_bitmask(bitmask, j)
        self._xgr.apply_token_bitmask_inplace(logits, bitmask, vocab_size=self.vocab_size)
        if logits.shape[-1] > self.vocab_size:  # padded lm_head: ids past the tokenizer are never valid
            logits[:, self.vocab_size:] = float("-inf")

    def accept(self, row: int, token: int) -> bool:
        return bool(self.matchers[row].accept_token(int(token)))

    def is_terminated(self, row: int) -> bool:
        """The value is complete and a stop token was accepted."""
        return bool(self.matchers[row].is_terminated())

    def is_completed(self, row: int) -> bool:
        """The value is complete (a stop token would now be accepted)."""
        return bool(self.matchers[row].is_completed())


class JsonSchemaLogitsProcessor(LogitsProcessor):
    """A transformers LogitsProcessor forcing every row of `model.generate` to produce JSON valid for one schema.

    Build a fresh one per `generate` call. Rows whose value is complete and that emitted a stop token are left to the
    pad token (generate pads finished rows itself)."""

    def __init__(self, factory: GrammarFactory, schema: dict[str, Any], batch_size: int, pad_token_id: int):
        self.grammar = factory.batch(factory.compile_json_schema(schema), batch_size)
        self.pad_token_id = pad_token_id
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n = input_ids.shape[0]
        if self._started:  # the previous step's tokens are the last column
            for row in range(n):
                if not self.grammar.is_terminated(row):
                    self.grammar.accept(row, int(input_ids[row, -1]))
        self._started = True
        live = [r for r in range(n) if not self.grammar.is_terminated(r)]
        scores = scores.float()
        if live:
            sub = scores[live]
            self.grammar.apply(sub, live)
            scores[live] = sub
        live_set = set(live)
        done = [r for r in range(n) if r not in live_set]
        if done:
            scores[done] = float("-inf")
            scores[done, self.pad_token_id] = 0.0
        return scores
