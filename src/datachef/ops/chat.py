"""`to_chat`: turn rows into training conversations (the corpus format)."""
from __future__ import annotations

from pydantic import Field, field_validator

from .base import Drop, FieldTypes, MapOp, OpParams, Row
from .registry import register
from .transform import _check_template, render_template, template_fields


class ToChatParams(OpParams):
    user: str = Field(description="Template of the user turn, e.g. '{question}'.")
    assistant: str = Field(description="Template of the assistant turn, e.g. '{solution}\\n#### {final_answer}'.")
    system: str | None = Field(None, description="Optional template of a system turn.")
    keep_fields: bool = Field(False, description="Keep the other fields next to `messages` (default: drop them).")

    _ok = field_validator("user", "assistant", "system")(lambda cls, v: v if v is None else _check_template(v))


@register
class ToChat(MapOp):
    """Build the chat conversation `messages` = [system?, user, assistant] from templates over the row's fields.

    This is normally the last step before the output: the corpus is made of `messages`. Rows whose user or assistant
    text renders empty are dropped (`empty_turn`)."""

    name = "to_chat"
    Params = ToChatParams

    def reads(self) -> set[str]:
        p: ToChatParams = self.params
        return set().union(*(template_fields(t) for t in (p.user, p.assistant, p.system) if t))

    def output_fields(self) -> FieldTypes:
        base = dict(self.input_fields[0]) if self.params.keep_fields and self.input_fields else {}
        base["messages"] = "messages"
        return base

    def map(self, row: Row) -> Row:
        p: ToChatParams = self.params
        try:
            turns = [("system", p.system), ("user", p.user), ("assistant", p.assistant)]
            messages = [{"role": r, "content": render_template(t, row).strip()} for r, t in turns if t is not None]
        except (KeyError, IndexError, ValueError):
            raise Drop("template_error") from None
        if any(not m["content"] for m in messages if m["role"] != "system"):
            raise Drop("empty_turn")
        out = dict(row) if p.keep_fields else {"_meta": row["_meta"]}
        out["messages"] = messages
        return out
