"""Resumable stages: a long job (a correlation study, chef evaluation, RL) as named stages, each run once per
fingerprint of what it depends on, the shape of marin's hashed executor steps.

    ledger = StageLedger(folder)                        # folder/stages.json
    done = ledger.run(Stage("verify", inputs={"data": sha, "judge": name}, outputs=[folder / "verify.json"],
                            run=lambda: {"score": verify()}))
    done.info["score"], done.ran

A stage is skipped when the ledger holds its fingerprint (a hash of `inputs`) and all its `outputs` exist; otherwise
it runs and the ledger records the fingerprint, the seconds it took and what `run` returned — written atomically
*after* the outputs, so a killed job resumes at the first stage that did not finish. Chain stages by putting what an
earlier stage recorded (e.g. the sha256 of its data) into a later stage's inputs.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .hashing import content_hash
from .io import write_json_atomic

LEDGER_FILE = "stages.json"


@dataclass(frozen=True)
class Stage:
    name: str
    inputs: Any  # everything the outputs depend on (JSON-able); its hash is the stage's fingerprint
    run: Callable[[], dict[str, Any] | None]  # does the work and writes the outputs; returns what to record
    outputs: Sequence[Path] = ()  # must all exist for the stage to count as done
    invalidates: Sequence[str] = ()  # stages whose records are dropped when this one (re)runs


@dataclass
class StageOutcome:
    info: dict[str, Any]  # what the ledger holds for the stage (fingerprint, seconds, what `run` returned)
    ran: bool  # False when the ledger's record was reused
    seconds: float = 0.0  # spent now (0 when reused)
    fingerprint: str = field(default="")


def fingerprint(inputs: Any) -> str:
    return content_hash(inputs, 16)


class StageLedger:
    """FOLDER/stages.json: per stage, the fingerprint it was done with and what it recorded."""

    def __init__(self, folder: str | Path, file: str = LEDGER_FILE):
        self.path = Path(folder) / file
        self.data: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.data = {}  # a torn file (it is written atomically, so only by hand): redo everything

    def get(self, stage: str) -> dict[str, Any]:
        return self.data.get(stage, {})

    def done(self, stage: str, fp: str, outputs: Sequence[Path] = ()) -> bool:
        entry = self.data.get(stage)
        return bool(entry and entry.get("fp") == fp and all(Path(p).exists() for p in outputs))

    def mark(self, stage: str, fp: str, **info: Any) -> None:
        self.data[stage] = {"fp": fp, **info}
        write_json_atomic(self.path, self.data)

    def drop(self, *stages: str) -> None:
        for s in stages:
            self.data.pop(s, None)
        write_json_atomic(self.path, self.data)

    def run(self, stage: Stage) -> StageOutcome:
        """Run `stage` unless it is done with the same fingerprint and its outputs exist."""
        fp = fingerprint(stage.inputs)
        if self.done(stage.name, fp, stage.outputs):
            return StageOutcome(self.get(stage.name), ran=False, fingerprint=fp)
        if stage.invalidates:
            self.drop(*stage.invalidates)
        t = time.time()
        recorded = stage.run() or {}
        seconds = round(time.time() - t, 2)
        self.mark(stage.name, fp, seconds=seconds, **recorded)
        return StageOutcome(self.get(stage.name), ran=True, seconds=seconds, fingerprint=fp)
