"""The request cache seen through OpenAIClient over HTTP, and `make_client`'s cache wiring."""
from __future__ import annotations

from pathlib import Path

import pytest

from datachef.llm import LLMError, RequestCache, SamplingParams, make_client
from datachef.llm.openai_client import OpenAIClient
from datachef.llm.server import serve

from .test_openai_client import SCHEMA, USER, EchoClient


@pytest.fixture
def echo_server():
    echo = EchoClient()
    server, _, url = serve(echo)
    yield echo, url
    server.close()


def client(url: str, cache_path: Path) -> OpenAIClient:
    return OpenAIClient("echo-1", base_url=url, max_retries=0, cache=RequestCache(cache_path))


def test_identical_request_is_served_from_cache(echo_server, tmp_path):
    echo, url = echo_server
    c = client(url, tmp_path / "llm.sqlite")
    first = c.chat(USER)
    tokens = (c.usage.prompt_tokens, c.usage.completion_tokens)
    second = c.chat(USER)
    assert second.text == first.text and second.cached and not first.cached
    assert c.usage.requests == 2 and c.usage.cached_requests == 1
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == tokens  # the hit cost nothing
    assert len(echo.seen) == 1  # the server was asked once


def test_different_params_or_schema_are_new_requests(echo_server, tmp_path):
    echo, url = echo_server
    c = client(url, tmp_path / "llm.sqlite")
    c.chat(USER)
    c.chat(USER, SamplingParams(max_tokens=2))
    c.chat(USER, SamplingParams(seed=1))
    c.chat(USER, json_schema=SCHEMA)
    c.chat([{"role": "user", "content": "something else"}])
    assert len(echo.seen) == 5 and c.usage.cached_requests == 0
    c.chat(USER, SamplingParams(max_tokens=2))
    assert len(echo.seen) == 5 and c.usage.cached_requests == 1


def test_batch_mixes_hits_and_misses(echo_server, tmp_path):
    echo, url = echo_server
    c = client(url, tmp_path / "llm.sqlite")
    c.chat([{"role": "user", "content": "q1"}])
    out = c.chat_batch([[{"role": "user", "content": q}] for q in ("q0", "q1", "q2")])
    assert [o.text for o in out] == ["echo: q0", "echo: q1", "echo: q2"]
    assert [o.cached for o in out] == [False, True, False] and len(echo.seen) == 3


def test_cache_survives_a_new_client_on_the_same_file(echo_server, tmp_path):
    echo, url = echo_server
    path = tmp_path / "llm.sqlite"
    a = client(url, path)
    a.chat(USER)
    a.score_labels(USER, ["Yes", "No"])
    b = client(url, path)
    assert b.chat(USER).cached
    assert b.score_labels(USER, ["Yes", "No"]) == {"Yes": -0.1, "No": -2.5}
    assert b.usage.as_dict() == {"requests": 1, "cached_requests": 1, "prompt_tokens": 0, "completion_tokens": 0}
    assert len(echo.seen) == 1


def test_make_client_openai_cache_wiring(echo_server, tmp_path, monkeypatch):
    echo, url = echo_server
    c = make_client("openai", model="echo-1", base_url=url, cache_dir=tmp_path / "c", max_retries=0)
    assert isinstance(c, OpenAIClient) and c.cache.path == tmp_path / "c" / "llm.sqlite"
    c.chat(USER)
    again = make_client("openai", model="echo-1", base_url=url, cache_dir=tmp_path / "c")
    assert again.chat(USER).cached and len(echo.seen) == 1

    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path / "env"))
    assert make_client("openai", model="echo-1", base_url=url).cache.path == tmp_path / "env" / "llm.sqlite"
    assert make_client("openai", model="echo-1", base_url=url, cache_dir=False).cache is None
    assert make_client("openai", model="echo-1", base_url=url, cache=None).cache is None


@pytest.mark.parametrize("kw, field", [
    ({"kind": "openai", "base_url": "http://127.0.0.1:1/v1"}, "model"),
    ({"kind": "openai", "model": "m"}, "base_url"),
    ({"kind": "local", "base_url": "http://127.0.0.1:1/v1"}, "base_url"),
    ({"kind": "ollama", "model": "m"}, "kind"),
])
def test_make_client_errors_name_the_field(kw, field, tmp_path):
    with pytest.raises(LLMError) as e:
        make_client(cache_dir=tmp_path / "c", **kw)
    assert e.value.field == field and f"field '{field}'" in str(e.value)
    assert not (tmp_path / "c").exists()  # nothing created for a bad call


def test_progress_reports_cached_requests_at_once_and_others_when_done(tmp_path):
    from datachef.llm.base import Completion, LLMClient

    class Fixed(LLMClient):
        """Answers every request with one token and reports no progress of its own."""

        backend = "test"

        def _chat_batch(self, batch, params, json_schema):
            return [Completion("x", completion_tokens=1) for _ in batch]

    c = Fixed("fixed", cache=RequestCache(tmp_path / "llm.sqlite"))
    params = SamplingParams(max_tokens=10)
    c.chat_batch([USER], params)
    seen: list[int] = []
    c.chat_batch([USER, [{"role": "user", "content": "other"}], [{"role": "user", "content": "third"}]], params,
                 progress=seen.append)
    assert seen == [10, 20]  # the cached request first, then the two computed ones as the batch returns
