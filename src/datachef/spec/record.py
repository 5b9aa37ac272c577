"""The training record a recipe produces (chat format with provenance), and the one check of what a chat is.

`chat_problem` is the single definition of a well-formed message list; `Record` applies it, and so do the engine's
output writer, `kit.dump`, the Python-recipe runner, the verifier's corpus reader and the SFT corpus loader (each
with the roles it needs: a training record needs a user and an assistant turn; the verifier reads any chat and leaves
turn order to its chat_format gate).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ROLES = ("system", "user", "assistant")
TRAINING_ROLES = ("user", "assistant")  # the turns a training record must have


def chat_problem(messages: Any, *, require: tuple[str, ...] = TRAINING_ROLES) -> str | None:
    """Why `messages` is not a chat, or None: it must be a non-empty list of {role, content} objects, role one of
    system/user/assistant and content a string, with at least one turn of each `require`d role. Turn order is not
    judged here (the verifier's chat_format gate grades it)."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list of {role, content} turns"
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return f"message {i} is a {type(m).__name__}, not a {{role, content}} object"
        if m.get("role") not in ROLES:
            return f"message {i}: role {m.get('role')!r} is not one of {', '.join(ROLES)}"
        if not isinstance(m.get("content"), str):
            return f"message {i}: content must be a string, not {type(m.get('content')).__name__}"
    roles = {m["role"] for m in messages}
    missing = [r for r in require if r not in roles]
    if missing:
        return f"no {' and no '.join(missing)} turn (a training record needs {' and '.join(require)} turns)"
    return None


def plain_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The turns as bare {role, content} (other keys a producer added are not part of the record)."""
    return [{"role": m["role"], "content": m["content"]} for m in messages]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class RecordMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str = Field(description="Source id the row came from.")
    row: int = Field(description="Row index inside that source (split).")
    ops: list[str] = Field(default_factory=list, description="Ids of the steps the row went through.")


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[Message] = Field(min_length=2, description="The conversation, with user and assistant turns.")
    meta: RecordMeta

    @field_validator("messages", mode="before")
    @classmethod
    def _a_training_chat(cls, v: Any) -> Any:
        problem = chat_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v
