"""Task and source contracts: what we adapt the model for, and the raw material we may draw on."""
from __future__ import annotations

from typing import Literal

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

SourceFormat = Literal["auto", "jsonl", "json", "csv", "parquet", "hf", "hf_disk"]


class SourceSpec(BaseModel):
    """One raw data source.

    `uri` forms: a local path (relative paths resolve against the task file's folder), `pkg:MODULE/path/in/package`
    for a file inside an installed package, `hf:OWNER/NAME` for a Hugging Face Hub dataset (loaded with
    `datasets.load_dataset`), or `disk:/path` for a dataset saved with `save_to_disk`.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, description="Unique name of the source inside the task.")
    uri: str = Field(description="Where the data is: path, pkg:MODULE/path, hf:OWNER/NAME or disk:/path.")
    format: SourceFormat = Field("auto", description="File format; 'auto' infers it from the uri.")
    split: str | None = Field(None, description="Default split (HF datasets); 'train' when the source has one.")
    config: str | None = Field(None, description="HF dataset configuration name (e.g. 'main' for gsm8k).")
    revision: str | None = Field(None, description="HF Hub revision (commit, tag or branch) to pin.")
    streaming: bool = Field(True, description="Stream rows instead of materialising the whole dataset (HF Hub).")
    description: str = Field("", description="What the source holds, in a sentence; shown to the chef.")


class BenchmarkFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = "question"
    answer: str = "answer"
    choices: list[str] | None = Field(None, description="MCQ: the fields holding the options, in letter order.")


class BenchmarkSpec(BaseModel):
    """The evaluation protocol. The first `dev` items may be shown to the chef and judge; the rest are held out and
    must never reach training data."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    format: Literal["numeric", "mcq", "code", "free"]
    source: SourceSpec
    fields: BenchmarkFields = BenchmarkFields()
    answer_pattern: str | None = Field(
        None, description="Regex whose first group is the final answer inside the answer field (e.g. '####\\s*(.+)$').")
    dev: int = Field(50, ge=0, description="How many items (from the start, in source order) are the dev set.")


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_samples: int = Field(10_000, gt=0, description="Most training samples a recipe should produce.")
    reward_samples: int = Field(100, gt=0, description="Instances the verifier samples to score a recipe.")


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ID_PATTERN)
    instruction: str = Field(description="What the adapted model must be good at, in words.")
    benchmark: BenchmarkSpec
    sources: list[SourceSpec] = Field(min_length=1)
    budget: Budget = Budget()
    # Folder that relative source paths resolve against (set by the file loader; not part of the contract).
    _base_dir: Path | None = PrivateAttr(None)

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list[SourceSpec]) -> list[SourceSpec]:
        seen: set[str] = set()
        for s in sources:
            if s.id in seen:
                raise ValueError(f"duplicate source id '{s.id}'")
            seen.add(s.id)
        return sources

    @model_validator(mode="after")
    def _benchmark_not_a_source(self) -> "TaskSpec":
        # The held-out benchmark must not be offered as training material under a source id.
        bench = (self.benchmark.source.uri, self.benchmark.source.split, self.benchmark.source.config)
        for s in self.sources:
            if (s.uri, s.split, s.config) == bench:
                raise ValueError(f"source '{s.id}' is the benchmark itself; it would leak held-out items")
        return self

    def source(self, source_id: str) -> SourceSpec:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)
