"""Building a client of one backend: `make_client(kind, model, base_url, cache_dir)` (the low-level constructor; the
CLI's roles go through `roles.make_role_client`) and the request cache's default place."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from .base import LLMClient, LLMError
from .cache import RequestCache

Backend = Literal["local", "openai"]
BACKENDS: tuple[str, ...] = get_args(Backend)


def default_llm_cache_path() -> Path:
    """`$DATACHEF_CACHE/llm.sqlite`, else `~/.cache/datachef/llm.sqlite` (the step cache's root)."""
    from ..io import cache_root

    return cache_root() / "llm.sqlite"


def make_client(kind: Literal["local", "openai"] | str = "local", model: str | None = None,
                base_url: str | None = None, cache_dir: str | Path | None | Literal[False] = None,
                **kw: Any) -> LLMClient:
    """Build an LLM client.

    Args:
        kind: "local" → `datachef.llm.local.TransformersClient(model, **kw)` (model None = the embedded default);
            "openai" → `datachef.llm.openai_client.OpenAIClient(model, base_url=base_url, **kw)` (both required).
        cache_dir: folder of the request cache (`<cache_dir>/llm.sqlite`); None → `default_llm_cache_path()`;
            False → no cache. A `cache=` keyword (a `RequestCache` or None) overrides it.
        kw: passed on to the backend (e.g. device, dtype, batch_size; api_key_env, concurrency, timeout,
            max_retries).
    """
    # Check arguments before touching the cache file.
    if kind not in BACKENDS:
        raise LLMError(f"unknown LLM backend {kind!r}; choose one of {', '.join(BACKENDS)}", field="kind")
    if kind == "local" and base_url:
        raise LLMError("base_url is for kind='openai'; the local backend loads the model in-process", field="base_url")
    if kind == "openai":
        if not model:
            raise LLMError("the openai backend needs a model name (as the server knows it, see GET /v1/models)",
                           field="model")
        if not base_url:
            raise LLMError("the openai backend needs a base_url, e.g. http://127.0.0.1:8000/v1", field="base_url")
    if "cache" in kw:
        cache = kw.pop("cache")
    elif cache_dir is False:
        cache = None
    else:
        cache = RequestCache(default_llm_cache_path() if cache_dir is None else Path(cache_dir) / "llm.sqlite")
    if kind == "local":
        from .local import TransformersClient

        return TransformersClient(model, cache=cache, **kw)
    from .openai_client import OpenAIClient

    return OpenAIClient(model, base_url=base_url, cache=cache, **kw)  # type: ignore[arg-type]
