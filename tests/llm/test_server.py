"""The OpenAI-compatible server: raw HTTP checks of the protocol, and TransformersClient (tiny random model) behind
it driven by OpenAIClient."""
from __future__ import annotations

import http.client
import importlib.util
import json
import re
import time
from typing import Any
from urllib.parse import urlparse

import pytest

from datachef.llm import Completion, LLMClient, LLMError, SamplingParams, make_client
from datachef.llm.openai_client import OpenAIClient
from datachef.llm.server import LLMServer, parse_chat_request, serve

from .test_openai_client import SCHEMA, USER, EchoClient


class NoScoreClient(LLMClient):
    """A backend without top_logprobs, and one that fails on demand."""

    backend = "plain"

    def _chat_batch(self, batch, params, json_schema):
        if any(m[-1]["content"] == "fail" for m in batch):
            raise LLMError("backend exploded")
        if any(m[-1]["content"] == "error" for m in batch):
            return [Completion("", "error") for _ in batch]
        return [Completion("ok") for _ in batch]


@pytest.fixture
def echo_server():
    echo = EchoClient()
    server, thread, url = serve(echo)
    yield echo, server, url
    server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def request(url: str, method: str, path: str, body: Any = None, raw: bytes | None = None,
            headers: dict | None = None) -> tuple[int, Any]:
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    conn.request(method, u.path + path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    return resp.status, payload


def chat(url: str, **body: Any) -> tuple[int, Any]:
    return request(url, "POST", "/chat/completions", {"model": "echo-1", "messages": USER, **body})


def test_binds_loopback_on_a_free_port_by_default(echo_server):
    _, server, url = echo_server
    assert server.server_address[0] == "127.0.0.1" and server.server_address[1] > 0
    assert url == f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_models_and_health(echo_server):
    _, _, url = echo_server
    status, body = request(url, "GET", "/models")
    assert status == 200 and body["object"] == "list" and body["data"][0]["id"] == "echo-1"
    u = urlparse(url)
    assert request(f"http://{u.netloc}", "GET", "/health") == (200, {"status": "ok"})
    status, body = request(url, "GET", "/nothing")
    assert status == 404 and "error" in body


def test_chat_completion_shape(echo_server):
    _, _, url = echo_server
    status, body = chat(url, max_completion_tokens=5, temperature=0)
    assert status == 200 and body["object"] == "chat.completion" and body["model"] == "echo-1"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: hello there"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_request_fields_are_mapped(echo_server):
    echo, _, url = echo_server
    msgs = [{"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "part one, "}, {"type": "text", "text": "two"}]}]
    status, _ = request(url, "POST", "/chat/completions",
                        {"model": "x", "messages": msgs, "max_tokens": 9, "max_completion_tokens": 7,
                         "temperature": 0.5, "top_p": 0.8, "seed": 3, "stop": "\n",
                         "response_format": {"type": "json_object"}})
    assert status == 200
    messages, params, schema = echo.seen[-1]
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "part one, two"}]
    assert params == SamplingParams(max_tokens=7, temperature=0.5, top_p=0.8, seed=3, stop=("\n",))
    assert schema == {"type": "object"}


@pytest.mark.parametrize("body, param", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ({"messages": USER, "max_tokens": 0}, "max_tokens"),
    ({"messages": USER, "temperature": 5}, "temperature"),
    ({"messages": USER, "stream": True}, "stream"),
    ({"messages": USER, "n": 2}, "n"),
    ({"messages": USER, "stop": [1]}, "stop"),
    ({"messages": USER, "response_format": {"type": "yaml"}}, "response_format.type"),
    ({"messages": USER, "response_format": {"type": "json_schema", "json_schema": {}}}, "response_format.json_schema"),
    ({"messages": USER, "logprobs": True, "top_logprobs": 5, "max_tokens": 4}, "logprobs"),
    ({"messages": USER, "logprobs": True, "top_logprobs": 50, "max_tokens": 1}, "top_logprobs"),
])
def test_bad_requests_get_400_with_openai_error_body(echo_server, body, param):
    _, _, url = echo_server
    status, err = request(url, "POST", "/chat/completions", body)
    assert status == 400
    assert err["error"]["type"] == "invalid_request_error" and err["error"]["param"] == param
    assert err["error"]["message"]


def test_invalid_json_body_is_400(echo_server):
    _, _, url = echo_server
    status, err = request(url, "POST", "/chat/completions", raw=b"{not json")
    assert status == 400 and "not valid JSON" in err["error"]["message"]


def test_logprobs(echo_server):
    _, _, url = echo_server
    status, body = chat(url, max_tokens=1, logprobs=True, top_logprobs=2)
    assert status == 200
    entry = body["choices"][0]["logprobs"]["content"][0]
    assert (entry["token"], entry["logprob"]) == (" Yes", -0.1)
    assert [(t["token"], t["logprob"]) for t in entry["top_logprobs"]] == [(" Yes", -0.1), ("No", -2.5)]


def test_backend_without_scoring_and_backend_failures():
    server, _, url = serve(NoScoreClient("plain-1"))
    try:
        status, err = chat(url, max_tokens=1, logprobs=True, top_logprobs=5)
        assert status == 400 and "cannot return logprobs" in err["error"]["message"]
        with pytest.raises(LLMError, match="cannot return logprobs"):
            OpenAIClient("plain-1", base_url=url, max_retries=0).score_labels(USER, ["a", "b"])
        status, err = request(url, "POST", "/chat/completions", {"messages": [{"role": "user", "content": "fail"}]})
        assert status == 500 and "backend exploded" in err["error"]["message"]
        status, err = request(url, "POST", "/chat/completions", {"messages": [{"role": "user", "content": "error"}]})
        assert status == 500  # an "error" completion is never served as an answer
        # a 500 is retried by the client, then reported
        with pytest.raises(LLMError, match="after 2 attempts.*backend exploded"):
            OpenAIClient("plain-1", base_url=url, max_retries=1, backoff=0.01).chat(
                [{"role": "user", "content": "fail"}])
    finally:
        server.close()


def test_api_key_required_when_set():
    server, _, url = serve(EchoClient(), api_key="k1")
    try:
        assert request(url, "GET", "/models")[0] == 401
        assert chat(url)[0] == 401
        assert request(url, "GET", "/models", headers={"Authorization": "Bearer k1"})[0] == 200
    finally:
        server.close()


def test_parse_chat_request_defaults():
    messages, params, schema, k = parse_chat_request({"messages": USER})
    assert messages == USER and params == SamplingParams() and schema is None and k is None
    _, _, schema, _ = parse_chat_request({"messages": USER, "response_format": {
        "type": "json_schema", "json_schema": {"name": "output", "schema": SCHEMA, "strict": True}}})
    assert schema == SCHEMA


def test_context_manager_closes(echo_server):
    echo = EchoClient()
    with LLMServer(echo) as server:  # not serving: close() must not block on shutdown()
        assert server.base_url.startswith("http://127.0.0.1:")


# -- TransformersClient behind the server ---------------------------------------------------------------------
@pytest.fixture
def local_model_dir(request):
    if importlib.util.find_spec("datachef.llm.local") is None:
        pytest.skip("datachef.llm.local is not written yet")
    try:
        return request.getfixturevalue("tiny_model_dir")
    except pytest.FixtureLookupError:
        pytest.skip("the tiny_model_dir fixture (tests/llm/conftest.py) is not there yet")


def test_transformers_client_behind_the_server(local_model_dir):
    local = make_client("local", str(local_model_dir), cache_dir=False, dtype="float32", batch_size=4)
    server, _, url = serve(local)
    try:
        c = OpenAIClient(local.model, base_url=url, max_retries=0, timeout=120, concurrency=3)
        params = SamplingParams(max_tokens=4)
        out = c.chat(USER, params)
        assert isinstance(out.text, str) and out.finish_reason in ("stop", "length")
        assert out.prompt_tokens > 0 and 0 < out.completion_tokens <= 4
        # same answers through the server as in-process (greedy), in input order
        batch = [[{"role": "user", "content": f"Say {w}."}] for w in ("one", "two", "three")]
        served = [o.text for o in c.chat_batch(batch, params)]
        assert served == [o.text for o in local.chat_batch(batch, params)]
        structured = c.chat(USER, SamplingParams(max_tokens=64),
                            json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}},
                                         "required": ["ok"], "additionalProperties": False})
        assert isinstance(json.loads(structured.text)["ok"], bool)
        if callable(getattr(local, "top_logprobs", None)):
            scores = c.score_labels(USER, ["yes", "no"])
            assert set(scores) == {"yes", "no"} and all(isinstance(v, float) for v in scores.values())
        else:
            with pytest.raises(LLMError, match="cannot return logprobs"):
                c.score_labels(USER, ["yes", "no"])
    finally:
        server.close()


def test_prompt_longer_than_the_context_is_a_400_not_retried(tmp_path):
    pytest.importorskip("transformers")
    from datachef.llm.models import tiny_random_model

    local = make_client("local", str(tiny_random_model(tmp_path / "m", max_positions=64)), cache_dir=False,
                        dtype="float32")
    server, _, url = serve(local)
    try:
        status, body = request(url, "POST", "/chat/completions",
                               {"messages": [{"role": "user", "content": "word " * 200}], "max_tokens": 4})
        assert status == 400 and body["error"]["param"] == "messages"
        assert re.search(r"prompt of \d+ tokens does not fit the model's context of 64 tokens",
                         body["error"]["message"])
        c = OpenAIClient(local.model, base_url=url, max_retries=3, timeout=30)
        with pytest.raises(LLMError, match="does not fit"):
            c.chat([{"role": "user", "content": "word " * 200}], SamplingParams(max_tokens=4))
        assert c.chat([{"role": "user", "content": "Hi"}], SamplingParams(max_tokens=2)).completion_tokens > 0
    finally:
        server.close()


def test_one_failing_request_does_not_fail_its_batch():
    import threading

    class Picky(EchoClient):
        poisoned: list[int] = []

        def _chat_batch(self, batch, params, json_schema):
            if any(m[-1]["content"] == "poison" for m in batch):
                self.poisoned.append(len(batch))
                raise ValueError("poison in batch")
            return super()._chat_batch(batch, params, json_schema)

    picky = Picky(delay=0.2)
    server, _, url = serve(picky)
    try:
        results: dict[str, tuple[int, Any]] = {}

        def send(text: str) -> None:
            results[text] = request(url, "POST", "/chat/completions",
                                    {"messages": [{"role": "user", "content": text}]})

        threads = [threading.Thread(target=send, args=(t,)) for t in ("first", "a", "poison", "b", "c")]
        threads[0].start()  # occupies the worker while the others queue up into one batch
        time.sleep(0.05)
        for t in threads[1:]:
            t.start()
        for t in threads:
            t.join()
        assert results["poison"][0] == 400 and "poison" in results["poison"][1]["error"]["message"]
        for t in ("first", "a", "b", "c"):
            assert results[t] == (200, results[t][1]) and results[t][1]["choices"][0]["message"]["content"] == \
                f"echo: {t}"
        assert max(picky.poisoned) > 1  # poison was batched with others, and they were redone alone
    finally:
        server.close()
