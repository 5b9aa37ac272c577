"""The training record a recipe produces (chat format with provenance)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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

    messages: list[Message] = Field(min_length=2)
    meta: RecordMeta
