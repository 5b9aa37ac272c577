"""A small OpenAI-compatible HTTP server around any `LLMClient` (stdlib only).

It lets anything that speaks the OpenAI chat API (datachef's own `OpenAIClient`, lm-eval, other tools) use a local
model, e.g. the embedded SmolLM2 behind `TransformersClient`. Endpoints:

- ``GET /v1/models``, ``GET /health``;
- ``POST /v1/chat/completions``: messages, max_tokens / max_completion_tokens, temperature, top_p, seed, stop,
  response_format (text | json_object | json_schema), and logprobs + top_logprobs for ``max_tokens=1`` when the
  wrapped client has a ``top_logprobs(messages, k) -> [(token, logprob), ...]`` method (else 400). Streaming,
  ``n > 1`` and tools are refused with 400.

Requests are handled on threads, but the wrapped client is only ever called from one worker thread: that keeps
non-thread-safe backends (a torch model) safe, and requests that arrive together are sent to the client as one
`chat_batch` (grouped by identical sampling parameters and schema), which is what makes a local model fast.

Binds to 127.0.0.1 by default; binding elsewhere logs a warning (set ``api_key`` to require a bearer token).
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import math
import queue
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .base import Completion, LLMClient, LLMError, Messages, SamplingParams

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_TOP_LOGPROBS = 20
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class BadRequest(Exception):
    """A request the server refuses (HTTP 400, or `status`)."""

    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.param, self.status = message, param, status


# -- request parsing ----------------------------------------------------------------------------------------
def parse_chat_request(body: Any) -> tuple[Messages, SamplingParams, dict[str, Any] | None, int | None]:
    """Validate an OpenAI chat-completions body → (messages, params, json_schema, top_logprobs k or None)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if body.get("stream"):
        raise BadRequest("streaming is not supported by this server", "stream")
    if body.get("n", 1) not in (1, None):
        raise BadRequest("only n=1 is supported", "n")
    for unsupported in ("tools", "functions"):
        if body.get(unsupported):
            raise BadRequest(f"'{unsupported}' is not supported by this server", unsupported)
    messages = _parse_messages(body.get("messages"))

    max_tokens = body.get("max_completion_tokens")
    param = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = body.get("max_tokens"), "max_tokens"
    if max_tokens is None:
        max_tokens = SamplingParams.max_tokens
    if not _is_int(max_tokens) or max_tokens < 1:
        raise BadRequest(f"{param} must be a positive integer, got {max_tokens!r}", param)
    temperature = _number(body, "temperature", 0.0, 0.0, 2.0)  # default greedy (OpenAI's is 1.0)
    top_p = _number(body, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0.0:
        raise BadRequest("top_p must be > 0", "top_p")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise BadRequest(f"seed must be an integer, got {seed!r}", "seed")
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise BadRequest("stop must be a string or a list of strings", "stop")
    params = SamplingParams(max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p),
                            seed=seed, stop=stops)

    schema = _parse_response_format(body.get("response_format"))

    k: int | None = None
    if body.get("logprobs"):
        top = body.get("top_logprobs") or 0
        if not _is_int(top) or not 0 <= top <= MAX_TOP_LOGPROBS:
            raise BadRequest(f"top_logprobs must be an integer in [0, {MAX_TOP_LOGPROBS}]", "top_logprobs")
        if params.max_tokens != 1:
            raise BadRequest("this server returns logprobs only with max_tokens=1 (next-token scoring)", "logprobs")
        if schema is not None:
            raise BadRequest("logprobs cannot be combined with response_format", "response_format")
        k = int(top)
    elif body.get("top_logprobs"):
        raise BadRequest("top_logprobs needs logprobs=true", "top_logprobs")
    return messages, params, schema, k


def _parse_messages(raw: Any) -> Messages:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list", "messages")
    out: Messages = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise BadRequest(f"{where} must be an object with role and content", where)
        role = _ROLES.get(m.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise BadRequest(f"{where}.role must be one of system, developer, user, assistant; got {m.get('role')!r}",
                             f"{where}.role")
        content = m.get("content")
        if content is None and role == "assistant":
            content = ""
        elif isinstance(content, list):  # content parts: only text is understood
            texts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise BadRequest(f"{where}.content: only text parts are supported", f"{where}.content")
                texts.append(part["text"])
            content = "".join(texts)
        if not isinstance(content, str):
            raise BadRequest(f"{where}.content must be a string or a list of text parts", f"{where}.content")
        out.append({"role": role, "content": content})
    return out


def _parse_response_format(rf: Any) -> dict[str, Any] | None:
    if rf is None:
        return None
    if not isinstance(rf, dict):
        raise BadRequest("response_format must be an object", "response_format")
    kind = rf.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("schema"), dict):
            raise BadRequest("response_format.json_schema.schema must be a JSON schema object",
                             "response_format.json_schema")
        return js["schema"]
    raise BadRequest(f"response_format.type must be text, json_object or json_schema; got {kind!r}",
                     "response_format.type")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(body: dict, name: str, default: float, lo: float, hi: float) -> float:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise BadRequest(f"{name} must be a number in [{lo}, {hi}], got {v!r}", name)
    return float(v)


# -- serialising access to the client, batching what arrives together ----------------------------------------
class _Batcher:
    """One worker thread owns the client. Chat requests queued together go out as one `chat_batch` per group of
    identical (params, schema); other calls (logprobs) run one by one on the same thread."""

    def __init__(self, client: LLMClient, max_batch: int):
        self.client, self.max_batch = client, max(1, max_batch)
        self._q: queue.Queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="datachef-llm-server-worker", daemon=True)
        self._thread.start()

    def chat(self, messages: Messages, params: SamplingParams, schema: dict[str, Any] | None) -> Completion:
        return self._submit(("chat", (messages, params, schema)))

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._submit(("call", (fn, args)))

    def _submit(self, job: tuple[str, tuple]) -> Any:
        fut: Future = Future()
        with self._lock:  # nothing may be queued after close() has drained the queue
            if self._closed:
                raise LLMError("the server is shutting down")
            self._q.put((*job, fut))
        return fut.result()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._q.put(None)
        self._thread.join(timeout=5)
        while True:  # whatever the worker did not reach gets an answer instead of waiting forever
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if item is not None and not item[2].done():
                item[2].set_exception(LLMError("the server is shutting down"))

    def _loop(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            items, stop = [item], False
            while len(items) < self.max_batch:  # take what is already waiting; never wait for more
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            try:
                self._run(items)
            except BaseException as e:  # noqa: BLE001 - the worker must survive, and no request may hang
                log.exception("server worker failed")
                for *_, fut in items:
                    if not fut.done():
                        fut.set_exception(e)
            if stop:
                return

    def _run(self, items: list[tuple[str, tuple, Future]]) -> None:
        groups: dict[str, list[tuple[tuple, Future]]] = {}
        for kind, args, fut in items:
            if kind == "call":
                fn, fargs = args
                _settle(fut, fn, *fargs)
            else:
                _, params, schema = args
                key = json.dumps([params.key(), schema], sort_keys=True, default=str)
                groups.setdefault(key, []).append((args, fut))
        for group in groups.values():
            _, params, schema = group[0][0]
            batch = [args[0] for args, _ in group]
            try:
                results = self.client.chat_batch(batch, params, json_schema=schema)
            except Exception as e:  # noqa: BLE001
                if len(group) == 1:
                    group[0][1].set_exception(e)
                    continue
                # One bad request must not fail the others it was batched with: redo them one by one.
                for args, fut in group:
                    _settle(fut, lambda m=args[0]: self.client.chat(m, params, json_schema=schema))
            else:
                for (_, fut), c in zip(group, results):
                    fut.set_result(c)


def _settle(fut: Future, fn: Callable[..., Any], *args: Any) -> None:
    try:
        fut.set_result(fn(*args))
    except BaseException as e:  # noqa: BLE001
        fut.set_exception(e)


# -- HTTP ---------------------------------------------------------------------------------------------------
class LLMServer(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to one `LLMClient`. Use `serve()` / `run_server()`; `close()` stops it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, client: LLMClient, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None,
                 max_batch: int = 32, model_name: str | None = None):
        self.client = client
        self.model_name = model_name or client.model
        self.api_key = api_key
        self.created = int(time.time())
        if ":" in host:
            import socket

            self.address_family = socket.AF_INET6
        if not _is_loopback(host):
            log.warning("serving on %s, which is not a loopback address: anyone who can reach it can use the model%s",
                        host, "" if api_key else " (no api_key set)")
        super().__init__((host, port), _Handler)
        self.batcher = _Batcher(client, max_batch)
        self._serving = threading.Event()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}/v1"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving.set()
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving.clear()

    def close(self) -> None:
        """Stop serving (if serving), close the socket, stop the worker thread."""
        if self._serving.is_set():
            self.shutdown()
        self.server_close()

    def server_close(self) -> None:
        super().server_close()
        self.batcher.close()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections
    timeout = 600  # seconds an idle keep-alive connection is kept
    server: LLMServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    # routes
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path in ("/v1/models", "/models"):
            if self._authorised():
                self._send(200, {"object": "list", "data": [
                    {"id": self.server.model_name, "object": "model", "created": self.server.created,
                     "owned_by": f"datachef:{self.server.client.backend}"}]})
        elif path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {path}", code="unknown_url")

    def do_POST(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._read_json()  # always read the body, so that the connection stays usable
        except BadRequest as e:
            self._error(e.status, e.message, e.param)
            return
        if path not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route POST {path}", code="unknown_url")
            return
        if not self._authorised():
            return
        try:
            self._send(200, self._chat(body))
        except BadRequest as e:
            self._error(e.status, e.message, e.param)
        except ValueError as e:  # the client's own argument checks
            self._error(400, str(e))
        except LLMError as e:
            self._error(500, str(e), kind="server_error")
        except Exception as e:  # noqa: BLE001 - a server must answer, not die
            log.exception("chat request failed")
            self._error(500, f"{type(e).__name__}: {e}", kind="server_error")

    # work
    def _chat(self, body: Any) -> dict[str, Any]:
        messages, params, schema, k = parse_chat_request(body)
        client = self.server.client
        created, rid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if k is not None:
            fn = getattr(client, "top_logprobs", None)
            if not callable(fn):
                raise BadRequest(f"backend '{client.backend}' cannot return logprobs", "logprobs")
            top = [(str(t), _finite(lp)) for t, lp in self.server.batcher.call(fn, messages, max(k, 1))]
            if not top:
                raise LLMError(f"backend '{client.backend}' returned no logprobs")
            token, logprob = top[0]
            entry = {"token": token, "logprob": logprob, "bytes": list(token.encode()),
                     "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top[:k]]}
            return _response(rid, created, self.server.model_name, token, "length", {"content": [entry]}, 0, 1)
        c = self.server.batcher.chat(messages, params, schema)
        if c.finish_reason == "error":
            window = getattr(client, "max_context", None)
            if window is not None and c.prompt_tokens >= window:
                # The request's fault, not the server's: a 400 tells clients not to retry it.
                raise BadRequest(f"prompt of {c.prompt_tokens} tokens does not fit the model's context of {window} "
                                 f"tokens", "messages")
            raise LLMError(f"backend '{client.backend}' failed on this request")
        return _response(rid, created, self.server.model_name, c.text, c.finish_reason, None, c.prompt_tokens,
                         c.completion_tokens)

    # plumbing
    def _read_json(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            raise BadRequest("chunked request bodies are not supported; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise BadRequest("bad Content-Length header") from None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            raise BadRequest(f"request body too large ({length} bytes > {MAX_BODY_BYTES})", status=413)
        raw = self.rfile.read(length) if length else b""
        if self.command != "POST":
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise BadRequest(f"request body is not valid JSON: {e}") from None

    def _authorised(self) -> bool:
        key = self.server.api_key
        if key is None or self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self._error(401, "missing or wrong API key (Authorization: Bearer ...)", kind="authentication_error",
                    code="invalid_api_key")
        return False

    def _error(self, status: int, message: str, param: str | None = None, *, kind: str = "invalid_request_error",
               code: str | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout): nothing to do
            self.close_connection = True


def _response(rid: str, created: int, model: str, text: str, finish_reason: str, logprobs: Any,
              prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {"id": rid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish_reason, "logprobs": logprobs}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def _finite(x: Any) -> float:
    from .openai_client import MISSING_LOGPROB

    x = float(x)
    return x if math.isfinite(x) else MISSING_LOGPROB  # JSON has no -inf


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- entry points -------------------------------------------------------------------------------------------
def serve(client: LLMClient, host: str = "127.0.0.1", port: int = 0, **kw: Any
          ) -> tuple[LLMServer, threading.Thread, str]:
    """Start a server for `client` on a background (daemon) thread. Port 0 picks a free port.

    Returns (server, thread, base_url), base_url like ``http://127.0.0.1:PORT/v1``. Stop with ``server.close()``.
    Keyword arguments go to `LLMServer` (api_key, max_batch, model_name)."""
    server = LLMServer(client, host, port, **kw)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="datachef-llm-server", daemon=True)
    thread.start()
    server._serving.wait(timeout=5)
    return server, thread, server.base_url


def run_server(client: LLMClient, host: str = "127.0.0.1", port: int = 8000, **kw: Any) -> None:
    """Serve `client` in the foreground until interrupted (Ctrl-C). Keyword arguments go to `LLMServer`."""
    server = LLMServer(client, host, port, **kw)
    if threading.current_thread() is threading.main_thread():
        # `kill` (SIGTERM) stops the server as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_interrupt)
    print(f"datachef: serving model '{server.model_name}' ({client.backend}) at {server.base_url} "
          "(Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """``python -m datachef.llm.server``: serve a local (default) or remote model over the OpenAI API."""
    import os

    from .roles import make_role_client

    p = argparse.ArgumentParser(prog="python -m datachef.llm.server", description=main.__doc__)
    p.add_argument("--kind", choices=["local", "openai"], default="local", help="backend to wrap (default local)")
    p.add_argument("--model", default=None, help="model dir/name (local: default the embedded SmolLM2)")
    p.add_argument("--base-url", default=None, help="upstream endpoint (kind=openai only)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--cache-dir", default=None, help="request cache dir (default $DATACHEF_CACHE or "
                                                     "~/.cache/datachef)")
    p.add_argument("--no-cache", action="store_true", help="do not cache requests")
    p.add_argument("--server-key-env", default=None,
                   help="require 'Authorization: Bearer $VAR' from clients, VAR being this environment variable")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    api_key = None
    if a.server_key_env:
        api_key = os.environ.get(a.server_key_env)
        if not api_key:
            p.error(f"--server-key-env: environment variable {a.server_key_env} is not set")
    try:
        client = make_role_client("served", a.kind, a.model, a.base_url,
                                  cache_dir=False if a.no_cache else a.cache_dir)
    except LLMError as e:
        p.exit(2, f"error: {e}\n")
    run_server(client, a.host, a.port, api_key=api_key)


if __name__ == "__main__":
    main()
