"""A source's profile: what the chef sees of it."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldProfile(BaseModel):
    name: str
    type: str = Field(description="str | int | float | bool | list | dict | messages | null | any")
    non_null: int = 0
    min_len: int | None = Field(None, description="For strings: shortest length in characters among scanned rows.")
    mean_len: float | None = None
    max_len: int | None = None


class SourceProfile(BaseModel):
    id: str
    uri: str
    description: str = ""
    split: str | None = None
    rows: int | None = Field(None, description="Row count (None when unknown).")
    rows_exact: bool = Field(False, description="False when `rows` is an estimate.")
    scanned: int = Field(0, description="Rows read to compute field statistics.")
    fields: list[FieldProfile] = Field(default_factory=list)
    examples: list[dict[str, Any]] = Field(default_factory=list)


def type_name(value: Any) -> str:
    """The field-type vocabulary of profiles and op contracts for one value (a list of {role, content} objects is
    `messages`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        if value and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
            return "messages"
        return "list"
    if isinstance(value, dict):
        return "dict"
    return "any"
