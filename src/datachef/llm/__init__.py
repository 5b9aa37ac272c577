"""datachef's LLM layer: one interface (`LLMClient`), several backends, an on-disk request cache.

    client = make_client("local")                                   # embedded SmolLM2 via transformers
    client = make_client("openai", model="m", base_url="http://127.0.0.1:8000/v1")   # vLLM, SGLang, any API
    client.chat([{"role": "user", "content": "hi"}]).text
    make_role_client("chef", "openai", "m")   # a CLI role's client (roles.py); here LLMError: needs --base-url

Backends are imported lazily, so importing this package does not import torch or openai.
"""
from __future__ import annotations

from .base import Completion, LLMClient, LLMError, SamplingParams, Usage
from .cache import RequestCache
from .clients import BACKENDS, Backend, default_llm_cache_path, make_client
from .roles import ROLE_FLAGS, ClientSpec, Role, RoleFlags, make_role_client

__all__ = ["LLMClient", "SamplingParams", "Completion", "LLMError", "RequestCache", "Usage", "make_client",
           "default_llm_cache_path", "Backend", "BACKENDS", "ClientSpec", "Role", "RoleFlags", "ROLE_FLAGS",
           "make_role_client"]
