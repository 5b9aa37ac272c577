"""Which client plays which role: the chef (and its coder), the verifier's judge, the model behind `llm_map` /
`llm_generate` steps, and the model `datachef serve` serves. `make_role_client` (a `ClientSpec`, checked, then
built) makes every one of them from a backend kind, a model and an endpoint, with the rules all commands share:

- a backend is `local` (in-process transformers) or `openai` (any OpenAI-compatible endpoint); `openai` needs a
  model and a base URL, `local` takes no base URL. Messages name the CLI flags of the role (`RoleFlags`).
- `share`: a client built for another role is reused when it runs the same in-process model, so the embedded model
  loads once when it is both chef and judge.
- the judge of the embedded local model is returned as the string "local": the `Verifier` loads it on first use (an
  empty or malformed corpus never needs it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .base import LLMClient, LLMError
from .clients import BACKENDS, Backend, make_client
from .models import EMBEDDED_NAME, embedded_chef_name, is_embedded, is_embedded_chef

Role = Literal["chef", "coder", "judge", "llm", "served"]


@dataclass(frozen=True)
class RoleFlags:
    """The CLI flags that choose a role's backend, model and endpoint (named in error messages)."""

    kind: str
    model: str
    base_url: str


ROLE_FLAGS: dict[str, RoleFlags] = {
    "chef": RoleFlags("--chef", "--model", "--base-url"),
    "coder": RoleFlags("--chef", "--coder-model", "--base-url"),
    "judge": RoleFlags("--judge", "--judge-model", "--judge-base-url"),
    "llm": RoleFlags("--llm", "--model", "--base-url"),
    "served": RoleFlags("--kind", "--model", "--base-url"),
}


@dataclass(frozen=True)
class ClientSpec:
    """A role's backend, model and endpoint, checked when made (LLMError naming the role's flags), so a command can
    reject every bad combination before it loads any model; `build()` makes the client."""

    role: Role
    kind: Backend | str | None
    model: str | None = None
    base_url: str | None = None
    flags: RoleFlags | None = None  # overrides the role's CLI flag names in messages

    def __post_init__(self) -> None:
        f = self.flags or ROLE_FLAGS[self.role]
        if self.kind is None:
            if self.model or self.base_url:
                raise LLMError(f"{f.model if self.model else f.base_url} needs {f.kind} local|openai")
        elif self.kind not in BACKENDS:
            raise LLMError(f"{f.kind} must be local or openai, not {self.kind!r}")
        elif self.kind == "openai" and not (self.model and self.base_url):
            raise LLMError(f"{f.kind} openai needs {f.model} and {f.base_url}")
        elif self.kind == "local" and self.base_url:
            raise LLMError(f"{f.base_url} is for {f.kind} openai (the local backend runs the model in-process)")

    def build(self, *, share: LLMClient | None = None,
              cache_dir: str | Path | None | Literal[False] = None) -> LLMClient | str | None:
        """The client: an `LLMClient`; "local" for a judge that is the embedded model (pass `cache_dir` to the
        `Verifier` as `judge_cache`); None when `kind` is None (the role is not wanted). `share`: a client built for
        another role, returned when it is the same in-process model. `cache_dir`: `make_client`'s request-cache
        folder (None = the default, False = no cache)."""
        if self.kind is None:
            return None
        if self.kind == "local":
            if share is not None and _runs_model(share, self.model):
                return share
            if self.role == "judge" and is_embedded(self.model):
                return "local"
        return make_client(self.kind, model=self.model, base_url=self.base_url, cache_dir=cache_dir)


def make_role_client(role: Role, kind: Backend | str | None, model: str | None = None, base_url: str | None = None,
                     *, share: LLMClient | None = None, cache_dir: str | Path | None | Literal[False] = None,
                     flags: RoleFlags | None = None) -> LLMClient | str | None:
    """`ClientSpec(role, kind, model, base_url, flags).build(share=share, cache_dir=cache_dir)`: check the arguments
    (LLMError naming the role's CLI flags), then build the role's client (see `ClientSpec.build`)."""
    return ClientSpec(role, kind, model, base_url, flags).build(share=share, cache_dir=cache_dir)


def _runs_model(client: LLMClient, model: str | None) -> bool:
    """Whether `client` is an in-process model that `make_client("local", model)` would load again."""
    if client.backend != "transformers":
        return False
    if is_embedded(model):
        return client.model == EMBEDDED_NAME
    if is_embedded_chef(model):
        return client.model == embedded_chef_name()
    return client.model in (model, str(Path(model).expanduser().resolve()))  # type: ignore[arg-type]
