"""Pure data contracts (pydantic). No I/O here."""
from .manifest import OutputInfo, RunManifest, SourceUse, StepStats
from .profile import FieldProfile, SourceProfile
from .recipe import Plan, PlanItem, Recipe, Step
from .record import Message, Record, RecordMeta
from .task import BenchmarkFields, BenchmarkSpec, Budget, SourceSpec, TaskSpec

__all__ = [
    "BenchmarkFields", "BenchmarkSpec", "Budget", "FieldProfile", "Message", "OutputInfo", "Plan", "PlanItem", "Recipe",
    "Record", "RecordMeta", "RunManifest", "SourceProfile", "SourceSpec", "SourceUse", "Step", "StepStats", "TaskSpec",
]
