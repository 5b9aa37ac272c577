"""One error family for everything a user can get wrong.

Every error names where the problem is (file, line, step, op, field) so the message alone is enough to fix it.
"""
from __future__ import annotations


class DatachefError(Exception):
    """Base class. `where` parts are rendered in a fixed order in front of the message."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None, step: str | None = None,
                 op: str | None = None, field: str | None = None, source: str | None = None):
        self.message = message
        self.file, self.line, self.step, self.op, self.field, self.source = file, line, step, op, field, source
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.source:
            where.append(f"source '{self.source}'")
        if self.step:
            where.append(f"step '{self.step}'" + (f" (op '{self.op}')" if self.op else ""))
        elif self.op:
            where.append(f"op '{self.op}'")
        if self.field:
            where.append(f"field '{self.field}'")
        return (": ".join(where) + ": " if where else "") + self.message


class SpecError(DatachefError):
    """A task or recipe file does not parse or does not match its schema."""


class SourceError(DatachefError):
    """A source cannot be found, opened or read."""


class RecipeValidationError(DatachefError):
    """A recipe failed validation; `problems` holds every problem found, not only the first."""

    def __init__(self, problems: list[DatachefError], *, file: str | None = None):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"recipe is invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}",
                         file=file)


class ExecutionError(DatachefError):
    """A step failed while running."""


class EmptyResultError(ExecutionError):
    """The recipe ran but produced no records."""
