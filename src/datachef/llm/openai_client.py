"""Backend "openai": any OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, hosted APIs).

Uses the `openai` library with its own retries switched off (`max_retries=0`): retrying is done here, explicitly, so
that what is retried, how often and how long it waits is visible and testable:

- retried (exponential backoff with jitter, honouring `Retry-After` up to `max_backoff`): connection errors,
  timeouts, HTTP 408/409/429 and 5xx, responses that are not a chat completion, and structured completions whose
  text is not JSON (a malformed model output);
- raised at once: every other HTTP error (400, 401, 403, 404, 422, ...);
- after `max_retries` retries: `LLMError` naming the endpoint, model and last error. An empty completion is never
  returned in place of an answer.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict
from typing import Any

from ..hashing import content_hash
from .base import Completion, LLMClient, LLMError, Messages, SamplingParams, split_separators

log = logging.getLogger(__name__)

#: score given to a label that is absent from the server's top log-probabilities (finite so that JSON can hold it)
MISSING_LOGPROB = -1e9
#: most servers (and the OpenAI API) cap top_logprobs at 20
TOP_LOGPROBS = 20
_RETRY_STATUS = {408, 409, 429}


class _Malformed(Exception):
    """The server answered 200, but not with a usable completion (retryable)."""

    def __init__(self, message: str, prompt_tokens: int = 0, completion_tokens: int = 0):
        super().__init__(message)
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens


class OpenAIClient(LLMClient):
    """Chat completions from an OpenAI-compatible HTTP endpoint.

    Args:
        model: model name as the server knows it.
        base_url: endpoint root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: environment variable holding the API key; when unset the key is ``"EMPTY"`` (local servers
            accept anything).
        concurrency: requests in flight at once in `chat_batch`.
        timeout: seconds allowed for one HTTP request (connect, and each read/write).
        max_retries: retries after the first attempt of a request (so ``max_retries + 1`` attempts at most).
        backoff, max_backoff: the wait before retry k is ``min(max_backoff, backoff * 2**(k-1))`` times a random
            factor in [0.5, 1] (jitter, so that many clients do not retry in lockstep).
        extra_body: extra JSON fields sent with every request (server-specific options such as vLLM's ``top_k``).
        cache: a `RequestCache`, or None.
    """

    backend = "openai"

    def __init__(self, model: str, *, base_url: str, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 60, max_retries: int = 3, backoff: float = 1.0, max_backoff: float = 30.0,
                 extra_body: dict[str, Any] | None = None, cache: Any = None):
        import openai

        super().__init__(model, cache=cache)
        if not base_url:
            raise LLMError("the openai backend needs a base_url (e.g. http://127.0.0.1:8000/v1)", field="base_url")
        if concurrency < 1:
            raise LLMError(f"concurrency must be >= 1, got {concurrency}", field="concurrency")
        if max_retries < 0:
            raise LLMError(f"max_retries must be >= 0, got {max_retries}", field="max_retries")
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self._openai = openai
        self._client = openai.OpenAI(base_url=self.base_url, api_key=os.environ.get(api_key_env) or "EMPTY",
                                     timeout=self.timeout, max_retries=0)
        # Set once a server rejects response_format=json_schema; kept for this client's lifetime.
        self.json_object_fallback = False
        # Set to "max_completion_tokens" once a server rejects "max_tokens".
        self.max_tokens_field = "max_tokens"
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, base_url={self.base_url!r})"

    # -- chat -----------------------------------------------------------------------------------------------
    def _chat_batch(self, batch: list[Messages], params: SamplingParams,
                    json_schema: dict[str, Any] | None) -> list[Completion]:
        if len(batch) == 1 or self.concurrency == 1:
            return [self._complete(m, params, json_schema, i) for i, m in enumerate(batch)]
        results: list[Completion | None] = [None] * len(batch)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(batch)),
                                thread_name_prefix="datachef-openai") as pool:
            futures: dict[Future, int] = {pool.submit(self._complete, m, params, json_schema, i): i
                                          for i, m in enumerate(batch)}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for f in pending:  # stop what has not started; what is running finishes (and is kept below)
                    f.cancel()
                wait(pending)
            for f, i in futures.items():
                if f.done() and not f.cancelled() and f.exception() is None:
                    results[i] = f.result()
        if failed:
            self._keep_partial(batch, params, json_schema, results)
            raise min(failed, key=futures.__getitem__).exception()  # type: ignore[misc]  # lowest index first
        return results  # type: ignore[return-value]

    def _keep_partial(self, batch: list[Messages], params: SamplingParams, json_schema: dict[str, Any] | None,
                      results: list[Completion | None]) -> None:
        """A batch failed: cache the completions that did succeed (same keys and values the base class writes), so
        a re-run pays only for what failed instead of the whole batch."""
        if self.cache is None:
            return
        for m, c in zip(batch, results):
            if c is not None and c.finish_reason != "error":
                self.cache.put(self._key("chat", m, params, json_schema),
                               {k: v for k, v in asdict(c).items() if k != "cached"})

    def _complete(self, messages: Messages, params: SamplingParams, json_schema: dict[str, Any] | None,
                  index: int = 0) -> Completion:
        """One request with retries. Tokens spent on malformed attempts are added to the returned completion."""
        wasted_prompt = wasted_completion = 0
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep_before_retry(attempt, last)
            try:
                resp = self._create(messages, params, json_schema)
                c = self._parse_chat(resp, json_schema)
            except _Malformed as e:
                wasted_prompt += e.prompt_tokens
                wasted_completion += e.completion_tokens
                last = e
            except Exception as e:  # noqa: BLE001 - sorted into retryable / fatal just below
                if not self._retryable(e):
                    self._count_wasted(wasted_prompt, wasted_completion)
                    raise self._error(f"request {index} failed (not retried)", e) from e
                last = e
            else:
                c.prompt_tokens += wasted_prompt
                c.completion_tokens += wasted_completion
                return c
            log.info("%s: request %d attempt %d/%d failed: %s", self.base_url, index, attempt + 1,
                     self.max_retries + 1, _describe(last))
        self._count_wasted(wasted_prompt, wasted_completion)
        raise self._error(f"request {index} failed after {self.max_retries + 1} attempts", last) from last

    def _create(self, messages: Messages, params: SamplingParams, json_schema: dict[str, Any] | None) -> Any:
        """Send one request, adapting once to servers that reject a parameter we can express another way:
        response_format=json_schema (→ json_object + schema in the system message) and max_tokens
        (→ max_completion_tokens, as newer hosted models require). Each adaptation is kept for the client's life."""
        for _ in range(3):
            fallback, tokens_field = self.json_object_fallback, self.max_tokens_field
            try:
                return self._client.chat.completions.create(
                    **self._request_body(messages, params, json_schema, fallback, tokens_field))
            except self._openai.BadRequestError as e:
                text = _describe(e).lower()
                with self._lock:
                    if json_schema is not None and not fallback and "response_format" in text:
                        if not self.json_object_fallback:
                            log.warning("%s rejected response_format=json_schema (%s); falling back to json_object "
                                        "mode with the schema in the system message", self.base_url, _describe(e))
                        self.json_object_fallback = True
                    elif tokens_field == "max_tokens" and "max_completion_tokens" in text and "unsupported" in text:
                        self.max_tokens_field = "max_completion_tokens"
                    else:
                        raise
        raise AssertionError("unreachable: at most two adaptations")

    def _request_body(self, messages: Messages, params: SamplingParams, json_schema: dict[str, Any] | None,
                      fallback: bool, tokens_field: str = "max_tokens") -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages, tokens_field: params.max_tokens,
                                "temperature": params.temperature, "top_p": params.top_p}
        if params.seed is not None:
            # Per request, as the local backend does: one seed for every request makes a server sample similar
            # prompts (the chef's drafts differ by one hint line) alike; the same request still gets the same seed.
            body["seed"] = int(content_hash([params.seed, messages], 15), 16) % 2**31
        if params.stop:
            body["stop"] = list(params.stop)
        if json_schema is not None:
            json_schema = split_separators(json_schema)[0]  # datachef's own note, not JSON Schema
            if fallback:
                body["response_format"] = {"type": "json_object"}
                body["messages"] = _with_schema_instruction(messages, json_schema)
            else:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "output", "schema": json_schema, "strict": True}}
        if self.extra_body:
            body["extra_body"] = self.extra_body
        return body

    def _parse_chat(self, resp: Any, json_schema: dict[str, Any] | None) -> Completion:
        choice, usage = _first_choice(resp)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        message = getattr(choice, "message", None)
        if message is None:
            raise _Malformed("choice has no message", prompt_tokens, completion_tokens)
        text = message.content or ""
        finish = getattr(choice, "finish_reason", None)
        # A reply cut off by max_tokens is returned as such (finish_reason "length"): the same request would be cut
        # again, and the caller decides what a truncated answer means. Raw control characters inside strings are
        # accepted (strict=False): constrained decoders emit them and they carry no ambiguity.
        if json_schema is not None and finish != "length":
            try:
                json.loads(text, strict=False)
            except ValueError:
                raise _Malformed(f"structured output is not valid JSON: {text[:200]!r}",
                                 prompt_tokens, completion_tokens) from None
        return Completion(text=text, finish_reason="length" if finish == "length" else "stop",
                          prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    # -- label scoring --------------------------------------------------------------------------------------
    def top_logprobs(self, messages: Messages, k: int = TOP_LOGPROBS) -> list[tuple[str, float]]:
        """The server's `k` most likely first tokens of the assistant reply, as (token text, logprob), best first.

        One request with ``max_tokens=1, logprobs=True, top_logprobs=k``, retried like any other."""
        from .base import _check_messages

        _check_messages(messages)
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep_before_retry(attempt, last)
            try:
                resp = self._client.chat.completions.create(
                    model=self.model, messages=messages, temperature=0.0, logprobs=True, top_logprobs=k,
                    **{self.max_tokens_field: 1}, **({"extra_body": self.extra_body} if self.extra_body else {}))
                return _parse_top_logprobs(resp)
            except _Malformed as e:
                last = e
            except Exception as e:  # noqa: BLE001
                if not self._retryable(e):
                    raise self._error("logprobs request failed (not retried)", e) from e
                last = e
        raise self._error(f"logprobs request failed after {self.max_retries + 1} attempts", last) from last

    def _score_labels(self, messages: Messages, labels: list[str]) -> dict[str, float]:
        """Each label's score is the logprob of the best top-20 first token that is a prefix of the label
        (case-sensitive; leading whitespace on token and label is ignored), or `MISSING_LOGPROB` when none is.

        Only the first token is looked at, so labels should differ in their first token ("A"/"B"/"C", "yes"/"no";
        not "good"/"goodish")."""
        top = self.top_logprobs(messages, TOP_LOGPROBS)
        return {label: score_label_from_top(label, top) for label in labels}

    # -- retry plumbing -------------------------------------------------------------------------------------
    def _retryable(self, e: BaseException) -> bool:
        o = self._openai
        if isinstance(e, (_Malformed, o.APIConnectionError, o.APIResponseValidationError)):  # incl. timeouts
            return True
        if isinstance(e, o.APIStatusError):
            return e.status_code in _RETRY_STATUS or e.status_code >= 500
        # The body of a 200 response claimed to be JSON and was not.
        return isinstance(e, ValueError)

    def _sleep_before_retry(self, attempt: int, last: BaseException | None) -> None:
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        retry_after = _retry_after(last)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        time.sleep(delay)

    def _error(self, what: str, e: BaseException | None) -> LLMError:
        return LLMError(f"{self.base_url} (model '{self.model}'): {what}: {_describe(e)}")

    def _count_wasted(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Tokens spent on attempts that all failed still cost money: count them (not as a request)."""
        if prompt_tokens or completion_tokens:
            with self.usage._lock:
                self.usage.prompt_tokens += prompt_tokens
                self.usage.completion_tokens += completion_tokens


def score_label_from_top(label: str, top: list[tuple[str, float]]) -> float:
    """Best logprob among `top` tokens that are a (non-empty, case-sensitive) prefix of `label`, ignoring leading
    whitespace on both; `MISSING_LOGPROB` when there is none."""
    target = label.lstrip()
    best = MISSING_LOGPROB
    for token, logprob in top:
        t = token.lstrip()
        if t and target.startswith(t) and logprob > best:
            best = float(logprob)
    return best


def _first_choice(resp: Any) -> tuple[Any, Any]:
    choices = getattr(resp, "choices", None)
    if not choices:
        raise _Malformed(f"response is not a chat completion: {str(resp)[:200]!r}")
    return choices[0], getattr(resp, "usage", None)


def _parse_top_logprobs(resp: Any) -> list[tuple[str, float]]:
    choice, _ = _first_choice(resp)
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        raise _Malformed("response has no logprobs (does the server support logprobs/top_logprobs?)")
    first = content[0]
    top = [(t.token, float(t.logprob)) for t in (getattr(first, "top_logprobs", None) or [])]
    if not top:  # a server that gives the sampled token only
        top = [(first.token, float(first.logprob))]
    return sorted(top, key=lambda x: -x[1])


def _with_schema_instruction(messages: Messages, schema: dict[str, Any]) -> Messages:
    """Put the schema into the system message (merged into an existing one: some chat templates allow only one)."""
    note = ("Reply with a single JSON object that conforms to this JSON schema, and nothing else:\n"
            + json.dumps(schema, ensure_ascii=False))
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": messages[0]["content"] + "\n\n" + note}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def _retry_after(e: BaseException | None) -> float | None:
    response = getattr(e, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after-ms")
        if value is not None:
            return float(value) / 1000
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: rare; fall back to our own backoff


def _describe(e: BaseException | None) -> str:
    if e is None:
        return "unknown error"
    status = getattr(e, "status_code", None)
    msg = str(e) or type(e).__name__
    if status is not None and str(status) not in msg:
        msg = f"HTTP {status}: {msg}"
    return f"{type(e).__name__}: {msg}"
