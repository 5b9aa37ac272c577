"""OpenAIClient over real HTTP on 127.0.0.1: against `serve()` around a deterministic client, and against small
scripted `http.server` handlers that fail in chosen ways (5xx, timeouts, malformed output, 400)."""
from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

from datachef.llm import Completion, LLMClient, LLMError, RequestCache, SamplingParams
from datachef.llm.openai_client import MISSING_LOGPROB, OpenAIClient, score_label_from_top
from datachef.llm.server import serve

USER = [{"role": "user", "content": "hello there"}]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


class EchoClient(LLMClient):
    """Deterministic backend: answers "echo: <last user message>" (one token per word, cut at max_tokens),
    a fixed JSON object for structured requests, and fixed next-token logprobs. Records what it was asked."""

    backend = "echo"

    def __init__(self, model: str = "echo-1", delay: float = 0.0, cache: Any = None):
        super().__init__(model, cache=cache)
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.seen: list[tuple[list[dict], SamplingParams, dict | None]] = []

    def _chat_batch(self, batch, params, json_schema):
        time.sleep(self.delay)  # lets concurrent requests queue up behind this batch
        self.batch_sizes.append(len(batch))
        out = []
        for messages in batch:
            self.seen.append((messages, params, json_schema))
            last = [m["content"] for m in messages if m["role"] == "user"][-1]
            if json_schema is not None:
                text, finish = json.dumps({"answer": last}), "stop"
            else:
                words = f"echo: {last}".split()
                finish = "length" if len(words) > params.max_tokens else "stop"
                text = " ".join(words[:params.max_tokens])
            out.append(Completion(text, finish, prompt_tokens=sum(len(m["content"].split()) for m in messages),
                                  completion_tokens=len(text.split())))
        return out

    def top_logprobs(self, messages, k):
        return [(" Yes", -0.1), ("No", -2.5), ("Ma", -4.0), ("maybe", -5.0)][:k]


@pytest.fixture
def echo_server():
    echo = EchoClient()
    server, _, url = serve(echo)
    yield echo, url
    server.close()


def fast_client(url: str, **kw: Any) -> OpenAIClient:
    kw = {"max_retries": 2, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5, **kw}
    return OpenAIClient(kw.pop("model", "echo-1"), base_url=url, **kw)


# -- against serve(EchoClient) --------------------------------------------------------------------------------
def test_chat_text_and_usage(echo_server):
    echo, url = echo_server
    c = fast_client(url)
    out = c.chat(USER)
    assert out.text == "echo: hello there" and out.finish_reason == "stop" and not out.cached
    assert (out.prompt_tokens, out.completion_tokens) == (2, 3)
    assert c.usage.as_dict() == {"requests": 1, "cached_requests": 0, "prompt_tokens": 2, "completion_tokens": 3}


def test_sampling_params_reach_the_backend(echo_server):
    echo, url = echo_server
    params = SamplingParams(max_tokens=2, temperature=0.7, top_p=0.9, seed=11, stop=("\n", "END"))
    out = fast_client(url).chat(USER, params)
    assert out.text == "echo: hello" and out.finish_reason == "length"
    seen = echo.seen[-1][1]
    assert dataclasses.replace(seen, seed=11) == params
    # The seed is per request (from the seed and the messages): the same request, the same seed; another prompt,
    # another random stream, so a server does not sample similar prompts alike.
    fast_client(url, cache=None).chat(USER, params)
    assert echo.seen[-1][1].seed == seen.seed
    fast_client(url).chat([{"role": "user", "content": "hello again"}], params)
    assert echo.seen[-1][1].seed != seen.seed


def test_batch_keeps_input_order_under_concurrency(echo_server):
    echo, url = echo_server
    echo.delay = 0.02
    c = fast_client(url, concurrency=8)
    batch = [[{"role": "user", "content": f"question {i}"}] for i in range(24)]
    out = c.chat_batch(batch)
    assert [o.text for o in out] == [f"echo: question {i}" for i in range(24)]
    assert c.usage.requests == 24 and c.usage.prompt_tokens == 48 and c.usage.completion_tokens == 72
    # concurrent requests were queued and reached the backend as batches
    assert sum(echo.batch_sizes) == 24 and max(echo.batch_sizes) > 1


def test_structured_output(echo_server):
    echo, url = echo_server
    out = fast_client(url).chat(USER, json_schema=SCHEMA)
    assert json.loads(out.text) == {"answer": "hello there"}
    assert echo.seen[-1][2] == SCHEMA  # the schema went through response_format=json_schema
    from datachef.llm.base import SEPARATORS_KEY

    fast_client(url).chat(USER, json_schema={**SCHEMA, SEPARATORS_KEY: [",", ":"]})
    assert echo.seen[-1][2] == SCHEMA  # datachef's separators note stays home


def test_label_scores(echo_server):
    _, url = echo_server
    scores = fast_client(url).score_labels(USER, ["Yes", "No", "Maybe", "Other"])
    assert scores == {"Yes": -0.1, "No": -2.5, "Maybe": -4.0, "Other": MISSING_LOGPROB}
    json.dumps(scores)  # finite: storable in the cache and in reports


def test_score_label_from_top_rules():
    top = [(" yes", -0.5), ("Y", -1.0), ("", -0.01), (" ", -0.02), ("Yes", -3.0)]
    assert score_label_from_top("Yes", top) == -1.0  # best prefix, case-sensitive, blanks ignored
    assert score_label_from_top("yes", top) == -0.5  # leading space on the token allowed
    assert score_label_from_top(" yes", top) == -0.5
    assert score_label_from_top("no", top) == MISSING_LOGPROB


def test_api_key_from_env(monkeypatch):
    echo = EchoClient()
    server, _, url = serve(echo, api_key="sekrit")
    try:
        monkeypatch.setenv("MY_KEY", "sekrit")
        assert fast_client(url, api_key_env="MY_KEY").chat(USER).text == "echo: hello there"
        monkeypatch.delenv("MY_KEY")
        t = time.monotonic()
        with pytest.raises(LLMError, match="401"):
            fast_client(url, api_key_env="MY_KEY", backoff=1.0).chat(USER)  # "EMPTY" key: refused, not retried
        assert time.monotonic() - t < 0.5
    finally:
        server.close()


# -- scripted failures ----------------------------------------------------------------------------------------
Script = Callable[[int, dict], "tuple[int, Any] | tuple[int, Any, float]"]


def completion(text: str, prompt_tokens: int = 5, completion_tokens: int = 3) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def error(status: int, message: str) -> dict:
    return {"error": {"message": message, "type": "x", "param": None, "code": status}}


class _Scripted(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:  # type: ignore[attr-defined]
            srv.bodies.append(body)  # type: ignore[attr-defined]
            n = len(srv.bodies)  # type: ignore[attr-defined]
        status, payload, *delay = srv.script(n, body)  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay[0])
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


@contextmanager
def scripted(script: Script) -> Iterator[tuple[Any, str]]:
    """A server whose n-th request (1-based) is answered by script(n, body) -> (status, payload[, delay])."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    server.script, server.bodies, server.lock = script, [], threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_endpoint_fails_quickly_after_retries():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/v1"
    t = time.monotonic()
    with pytest.raises(LLMError) as e:
        fast_client(url, model="m1", max_retries=2).chat(USER)
    assert time.monotonic() - t < 3
    msg = str(e.value)
    assert url in msg and "'m1'" in msg and "3 attempts" in msg and "Connection" in msg


def test_500_twice_then_success():
    with scripted(lambda n, b: (500, error(500, "boom")) if n <= 2 else (200, completion("fine"))) as (srv, url):
        out = fast_client(url, max_retries=3).chat(USER)
    assert out.text == "fine" and len(srv.bodies) == 3


def test_429_is_retried():
    with scripted(lambda n, b: (429, error(429, "slow down")) if n == 1 else (200, completion("ok"))) as (srv, url):
        assert fast_client(url).chat(USER).text == "ok"
    assert len(srv.bodies) == 2


def test_503_forever_raises_after_max_retries():
    with scripted(lambda n, b: (503, error(503, "overloaded"))) as (srv, url):
        with pytest.raises(LLMError, match=r"after 3 attempts.*503"):
            fast_client(url, max_retries=2).chat(USER)
    assert len(srv.bodies) == 3


def test_timeout_is_retried_then_raises():
    with scripted(lambda n, b: (200, completion("late"), 1.0)) as (srv, url):
        t = time.monotonic()
        with pytest.raises(LLMError, match="(?i)timed? ?out"):
            fast_client(url, timeout=0.2, max_retries=1).chat(USER)
        assert time.monotonic() - t < 1.5
        assert len(srv.bodies) == 2


def test_malformed_structured_output_is_retried_then_raises():
    with scripted(lambda n, b: (200, completion('{"answer": "unterminated', 5, 3))) as (srv, url):
        c = fast_client(url, max_retries=2)
        with pytest.raises(LLMError, match="not valid JSON"):
            c.chat(USER, json_schema=SCHEMA)
    assert len(srv.bodies) == 3
    # the tokens the failed attempts cost are still counted (not as a request)
    assert c.usage.as_dict() == {"requests": 0, "cached_requests": 0, "prompt_tokens": 15, "completion_tokens": 9}


def test_malformed_then_valid_structured_output():
    def script(n, b):
        return (200, completion("sorry, no JSON")) if n == 1 else (200, completion('{"answer": "4"}'))

    with scripted(script) as (srv, url):
        out = fast_client(url).chat(USER, json_schema=SCHEMA)
    assert json.loads(out.text) == {"answer": "4"} and len(srv.bodies) == 2
    assert (out.prompt_tokens, out.completion_tokens) == (10, 6)  # both attempts paid for


def test_garbage_response_body_is_retried():
    def script(n, b):
        return (200, b"<html>proxy error</html>") if n == 1 else (200, completion("ok"))

    with scripted(script) as (srv, url):
        assert fast_client(url).chat(USER).text == "ok"
    assert len(srv.bodies) == 2


def test_400_raises_at_once_without_retry():
    with scripted(lambda n, b: (400, error(400, "context length exceeded"))) as (srv, url):
        t = time.monotonic()
        with pytest.raises(LLMError, match="not retried.*context length exceeded"):
            fast_client(url, max_retries=5, backoff=1.0).chat(USER)
        assert time.monotonic() - t < 0.5
    assert len(srv.bodies) == 1


def test_json_schema_rejected_falls_back_to_json_object_once():
    def script(n, b):
        if b.get("response_format", {}).get("type") == "json_schema":
            return 400, error(400, "response_format type 'json_schema' is not supported")
        return 200, completion('{"answer": "x"}')

    with scripted(script) as (srv, url):
        c = fast_client(url)
        assert json.loads(c.chat(USER, json_schema=SCHEMA).text) == {"answer": "x"}
        assert c.json_object_fallback
        c.chat([{"role": "system", "content": "Be brief."}, *USER], json_schema=SCHEMA)
    kinds = [b.get("response_format", {}).get("type") for b in srv.bodies]
    assert kinds == ["json_schema", "json_object", "json_object"]  # remembered: no second json_schema try
    system = srv.bodies[2]["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("Be brief.")
    assert json.dumps(SCHEMA) in system["content"] and len(srv.bodies[2]["messages"]) == 2


def test_failed_batch_keeps_successful_completions_in_cache(tmp_path):
    def script(n, b):
        if b["messages"][-1]["content"] == "bad":
            return 400, error(400, "bad request")
        return 200, completion("ok " + b["messages"][-1]["content"])

    cache = RequestCache(tmp_path / "llm.sqlite")
    batch = [[{"role": "user", "content": c}] for c in ["a", "b", "bad", "c"]]
    with scripted(script) as (srv, url):
        c = fast_client(url, concurrency=2, cache=cache)
        with pytest.raises(LLMError, match="request 2 failed"):
            c.chat_batch(batch)
        done = len(srv.bodies) - 1
        assert len(cache) == done >= 1  # what succeeded before the failure is kept
        before = len(srv.bodies)
        good = [m for m in batch if m[0]["content"] != "bad"]
        assert [o.text for o in c.chat_batch(good)] == ["ok a", "ok b", "ok c"]
        assert len(srv.bodies) - before == 3 - done  # only the missing ones were asked again


def test_max_tokens_rejected_switches_to_max_completion_tokens():
    def script(n, b):
        if "max_tokens" in b:
            return 400, error(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                                   "Use 'max_completion_tokens' instead.")
        return 200, completion("ok")

    with scripted(script) as (srv, url):
        c = fast_client(url)
        assert c.chat(USER, SamplingParams(max_tokens=7)).text == "ok"
        assert c.chat([{"role": "user", "content": "again"}]).text == "ok"
    assert [("max_tokens" in b, b.get("max_completion_tokens")) for b in srv.bodies] == \
        [(True, None), (False, 7), (False, 512)]
