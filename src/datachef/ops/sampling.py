"""Global row-set operators: sample, mix, concat, shuffle. All deterministic given their seed."""
from __future__ import annotations

import math
import os
import random
import tempfile
from typing import Iterable

import orjson
from pydantic import Field, model_validator

from .base import Emitter, FieldTypes, GlobalOp, OpParams, Row, RowStream
from .registry import register


def _pick(n_total: int, k: int, rng: random.Random) -> set[int]:
    return set(rng.sample(range(n_total), k)) if k < n_total else set(range(n_total))


class SampleParams(OpParams):
    n: int | None = Field(None, ge=0, description="Number of rows to keep.")
    fraction: float | None = Field(None, gt=0, le=1, description="Fraction of rows to keep.")
    seed: int = Field(0, description="Random seed.")

    @model_validator(mode="after")
    def _exactly_one(self) -> "SampleParams":
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of 'n' or 'fraction'")
        return self


@register
class Sample(GlobalOp):
    """Keep a uniform random subset of `n` rows (or a `fraction`), in input order. Reason `not_sampled`."""

    name = "sample"
    Params = SampleParams

    def chosen(self, n: int) -> set[int]:
        """Positions kept out of `n` input rows (they depend only on `n` and the seed)."""
        p: SampleParams = self.params
        k = p.n if p.n is not None else round(n * p.fraction)
        if k > n:
            self.warnings.append(f"asked for {k} rows, input has {n}: kept all")
        return _pick(n, k, random.Random(p.seed))

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        src = inputs[0]
        chosen = self.chosen(len(src))
        for i, row in enumerate(src):
            (out.emit if i in chosen else lambda r: out.drop(r, "not_sampled"))(row)


class MixParams(OpParams):
    weights: list[float] = Field(description="One weight per input, in the order of `inputs`.")
    total: int = Field(gt=0, description="Number of rows in the mixture.")
    seed: int = Field(0, description="Random seed.")

    @model_validator(mode="after")
    def _positive(self) -> "MixParams":
        if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
            raise ValueError("weights must be >= 0 and not all zero")
        return self


def split_total(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of `total` in proportion to `weights` (counts sum exactly to total)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return counts


@register
class Mix(GlobalOp):
    """Mix several inputs to `total` rows in proportion to `weights` (one per input). Each input contributes a
    uniform random subset; an input with too few rows gives all it has (a warning says so). Output is grouped by
    input; follow with `shuffle` to interleave. Reason `not_sampled`."""

    name = "mix"
    Params = MixParams
    inputs = "many"

    def check(self) -> list[str]:
        n = len(self.input_fields)
        return [] if len(self.params.weights) == n else [f"{len(self.params.weights)} weights for {n} inputs"]

    def output_fields(self) -> FieldTypes:
        return _common_fields(self.input_fields)

    def chosen(self, lengths: list[int], names: list[str]) -> list[set[int]]:
        """Positions kept in each input, given the inputs' lengths (and names, for warnings)."""
        p: MixParams = self.params
        if len(p.weights) != len(lengths):
            raise ValueError(f"{len(p.weights)} weights for {len(lengths)} inputs")
        rng = random.Random(p.seed)
        picks = []
        for want, n, name in zip(split_total(p.total, p.weights), lengths, names):
            if want > n:
                self.warnings.append(f"input '{name}' has {n} rows, mixture wanted {want}: took all")
            picks.append(_pick(n, want, rng))
        return picks

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        picks = self.chosen([len(s) for s in inputs], [s.name for s in inputs])
        for chosen, src in zip(picks, inputs):
            for i, row in enumerate(src):
                if i in chosen:
                    out.emit(row)
                else:
                    out.drop(row, "not_sampled")


def _common_fields(schemas: list[FieldTypes]) -> FieldTypes:
    """Fields present in every input (a later step may only rely on those)."""
    if not schemas:
        return {}
    out = dict(schemas[0])
    for s in schemas[1:]:
        out = {f: (t if s[f] == t else "any") for f, t in out.items() if f in s}
    return out


class ConcatParams(OpParams):
    pass


@register
class Concat(GlobalOp):
    """Concatenate inputs in order. The output has the fields common to all inputs."""

    name = "concat"
    Params = ConcatParams
    inputs = "many"

    def output_fields(self) -> FieldTypes:
        return _common_fields(self.input_fields)

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        for src in inputs:
            for row in src:
                out.emit(row)


class ShuffleParams(OpParams):
    seed: int = Field(0, description="Random seed.")
    max_rows_in_memory: int = Field(50_000, gt=0, description="Rows held in memory at once (bounded memory).")


@register
class Shuffle(GlobalOp):
    """Shuffle rows. Large inputs are shuffled with bounded memory: rows are scattered into random buckets on disk,
    then each bucket is shuffled in memory."""

    name = "shuffle"
    Params = ShuffleParams

    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        p: ShuffleParams = self.params
        src, rng = inputs[0], random.Random(p.seed)
        n_buckets = max(1, math.ceil(len(src) / p.max_rows_in_memory))
        if n_buckets == 1:
            rows = list(src)
            rng.shuffle(rows)
            _emit_all(rows, out)
            return
        self.ctx.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.ctx.workdir) as tmp:
            files = [open(os.path.join(tmp, f"{b}.jsonl"), "wb") for b in range(n_buckets)]
            try:
                for row in src:
                    files[rng.randrange(n_buckets)].write(orjson.dumps(row) + b"\n")
            finally:
                for f in files:
                    f.close()
            for b in range(n_buckets):
                with open(os.path.join(tmp, f"{b}.jsonl"), "rb") as f:
                    rows = [orjson.loads(line) for line in f]
                rng.shuffle(rows)
                _emit_all(rows, out)


def _emit_all(rows: Iterable[Row], out: Emitter) -> None:
    for r in rows:
        out.emit(r)
