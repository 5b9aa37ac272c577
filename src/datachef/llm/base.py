"""The one LLM interface every part of datachef uses (ops, verifier, chef).

Backends implement `_chat_batch` (and `_score_labels` where they can); this base class adds what all of them share:
the request cache, token accounting, and argument checking. Messages are OpenAI-style dicts.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..errors import DatachefError

Messages = list[dict[str, str]]

# A JSON schema may name the separators its text is written in (json.dumps' convention: [",", ":"] for the compact
# recipe form): a grammar then emits exactly those, so a model trained on that text decodes in its own format.
# Not JSON Schema: `split_separators` takes it off before a schema leaves datachef (an OpenAI-compatible server).
SEPARATORS_KEY = "x-datachef-separators"


def split_separators(schema: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """(the schema without `SEPARATORS_KEY`, its separators or None)."""
    if SEPARATORS_KEY not in schema:
        return schema, None
    seps = schema[SEPARATORS_KEY]
    if not (isinstance(seps, (list, tuple)) and len(seps) == 2 and all(isinstance(x, str) for x in seps)):
        raise LLMError(f"{SEPARATORS_KEY} must be two strings (item, key separators), got {seps!r}",
                       field="json_schema")
    return {k: v for k, v in schema.items() if k != SEPARATORS_KEY}, (seps[0], seps[1])


class LLMError(DatachefError):
    """An LLM call failed (unreachable endpoint, timeout after retries, malformed response)."""


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def key(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Completion:
    text: str
    finish_reason: str = "stop"  # "stop" | "length" | "error"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass
class Usage:
    """Token accounting, shared across threads."""

    requests: int = 0
    cached_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, c: Completion) -> None:
        with self._lock:
            self.requests += 1
            if c.cached:
                self.cached_requests += 1
            else:
                self.prompt_tokens += c.prompt_tokens
                self.completion_tokens += c.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "cached_requests": self.cached_requests,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


class LLMClient(ABC):
    """Chat completion (single and batched), structured output, label scoring, token accounting."""

    backend: str = "abstract"

    def __init__(self, model: str, cache: Any = None):
        self.model = model
        self.cache = cache  # a RequestCache, or None
        self.usage = Usage()
        self._progress = threading.local()  # the running chat_batch's progress callback, per thread

    # -- public API ---------------------------------------------------------------------------------------
    def chat(self, messages: Messages, params: SamplingParams = SamplingParams(), *,
             json_schema: dict[str, Any] | None = None) -> Completion:
        return self.chat_batch([messages], params, json_schema=json_schema)[0]

    def chat_batch(self, batch: list[Messages], params: SamplingParams = SamplingParams(), *,
                   json_schema: dict[str, Any] | None = None,
                   progress: Callable[[int], None] | None = None) -> list[Completion]:
        """Complete every conversation; results are in input order. Cached requests cost no tokens.

        `progress` is called with units of work done, `params.max_tokens` per request in all: a backend that decodes
        token by token reports each token as it comes and the rest of a request's budget when it finishes; others
        report a request's whole budget when the batch returns. So a bar of `len(batch) * max_tokens` ends full."""
        for m in batch:
            _check_messages(m)
        results: list[Completion | None] = [None] * len(batch)
        todo: list[int] = []
        keys = [self._key("chat", m, params, json_schema) for m in batch]
        for i, k in enumerate(keys):
            hit = self.cache.get(k) if self.cache is not None else None
            if hit is not None:
                results[i] = Completion(**{**hit, "cached": True})
            else:
                todo.append(i)
        if progress is not None and len(todo) < len(batch):
            progress((len(batch) - len(todo)) * params.max_tokens)
        if todo:
            done = 0

            def report(units: int) -> None:
                nonlocal done
                done += units
                progress(units)  # type: ignore[misc]

            self._progress.report = report if progress is not None else None
            try:
                fresh = self._chat_batch([batch[i] for i in todo], params, json_schema)
            finally:
                self._progress.report = None
            if progress is not None:
                progress(len(todo) * params.max_tokens - done)
            for i, c in zip(todo, fresh):
                results[i] = c
                if self.cache is not None and c.finish_reason != "error":
                    self.cache.put(keys[i], {k: v for k, v in asdict(c).items() if k != "cached"})
        for c in results:
            self.usage.add(c)  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    def _advance(self, units: int) -> None:
        """For backends: report `units` of progress (generated tokens, or a finished request's unused budget) to the
        running `chat_batch`'s `progress`, if any."""
        report = getattr(self._progress, "report", None)
        if report is not None:
            report(units)

    def score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        """Log-probability of each label as the start of the assistant's reply (labels are fixed strings such as
        grade names). Used where a weak model cannot be trusted to write free text."""
        _check_messages(messages)
        if not labels:
            raise ValueError("score_labels needs at least one label")
        key = self._key("labels", messages, None, {"labels": labels})
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            return dict(hit)
        scores = self._score_labels(messages, labels)
        if self.cache is not None:
            self.cache.put(key, scores)
        return scores

    # -- backends implement -------------------------------------------------------------------------------
    @abstractmethod
    def _chat_batch(self, batch: list[Messages], params: SamplingParams,
                    json_schema: dict[str, Any] | None) -> list[Completion]: ...

    def _score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        raise LLMError(f"backend '{self.backend}' cannot score labels")

    def _key(self, kind: str, messages: Messages, params: SamplingParams | None, extra: Any) -> str:
        from .cache import request_key

        return request_key(kind=kind, backend=self.backend, model=self.model, messages=messages,
                           params=params.key() if params else None, extra=extra)


def _check_messages(messages: Messages) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content} dicts")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                or not isinstance(m.get("content"), str):
            raise ValueError(f"bad message {m!r}: need role in system/user/assistant and string content")
