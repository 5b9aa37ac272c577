"""What a run did: enough to reproduce it and to check that every row is accounted for."""
from __future__ import annotations

from pydantic import BaseModel, Field


class StepStats(BaseModel):
    id: str
    op: str
    inputs: list[str] = Field(default_factory=list)
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = Field(default_factory=dict, description="Rows removed, by reason.")
    seconds: float = 0.0
    cached: bool = False
    cache_key: str = ""
    warnings: list[str] = Field(default_factory=list)


class SourceUse(BaseModel):
    id: str
    uri: str
    fingerprint: str


class OutputInfo(BaseModel):
    path: str
    format: str
    records: int
    sha256: str


class RunManifest(BaseModel):
    datachef_version: str
    recipe_name: str = ""
    recipe_hash: str
    task: str
    created_at: str
    seconds: float
    output: OutputInfo
    sources: list[SourceUse] = Field(default_factory=list)
    steps: list[StepStats] = Field(default_factory=list)
    versions: dict[str, str] = Field(default_factory=dict)
