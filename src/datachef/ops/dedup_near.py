"""`dedup_near`: MinHash-LSH near-duplicate removal with bounded memory.

Design (why it stays small): pass 1 streams the input once, computes MinHash signatures in vectorised numpy batches
and appends one 64-bit hash per band per document to band files on disk (plus the signature, as uint32, for the
optional verification). Then each band is loaded alone (8 bytes per document), sorted, and every document in a bucket
is linked to the bucket's first document in a union-find over int32 indices. Pass 2 re-reads the input and drops every
row whose cluster root is an earlier row. Nothing per shingle or per row text is kept: memory is O(documents) with a
small constant (a few dozen bytes), independent of text length and vocabulary.

The word/n-gram hashing helpers here are shared with `decontaminate`.
"""
from __future__ import annotations

import os
import re
import tempfile
from array import array
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import xxhash
from pydantic import Field

from .base import Emitter, GlobalOp, OpParams, Row, RowStream, TextFieldsMixin, resolve_text_fields, row_text
from .registry import register

# -- text normalisation and n-gram hashing (shared with decontaminate) -----------------------------------------
_APOSTROPHES = re.compile(r"['’‘`]")
_CJK = re.compile("([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_NON_WORD = re.compile(r"[^\w\s]|_", re.UNICODE)
_U64 = np.uint64
_POLY = _U64(0x100000001B3)  # odd multiplier of the rolling n-gram hash (arithmetic wraps mod 2^64)
_EMPTY_HASH = xxhash.xxh64_intdigest(b"")


# ASCII fast path of the same normalisation: bytes.translate runs at memcpy speed, the regexes at ~30 ns/char.
_ASCII_PUNCT_TO_SPACE = bytes(c if (chr(c).isalnum() or chr(c).isspace()) and c != ord("_") else ord(" ")
                              for c in range(128)) + bytes(range(128, 256))


def normalise_words(text: str) -> list[str]:
    """Lowercase, drop apostrophes ("Janet’s" == "Janets"), turn other punctuation into spaces, split on whitespace.
    Chinese and Japanese characters are words of their own: those scripts do not separate words by spaces,
    and without this a whole sentence would be one word, invisible to n-gram dedup and decontamination."""
    if text.isascii():
        return text.lower().encode().translate(_ASCII_PUNCT_TO_SPACE, b"'`").decode().split()
    text = _NON_WORD.sub(" ", _APOSTROPHES.sub("", text.lower()))
    return (_CJK.sub(r" \1 ", text) if _CJK.search(text) else text).split()


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised: spreads the (linear) rolling hash over all 64 bits."""
    z = z ^ (z >> _U64(30))
    z *= _U64(0xBF58476D1CE4E5B9)
    z ^= z >> _U64(27)
    z *= _U64(0x94D049BB133111EB)
    z ^= z >> _U64(31)
    return z


def word_hashes(words: list[str]) -> np.ndarray:
    """One xxh64 value per word (uint64)."""
    return np.fromiter(map(xxhash.xxh64_intdigest, map(str.encode, words)), dtype=_U64, count=len(words))


def ngram_hashes(wh: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every run of `n` consecutive words (from `word_hashes`); empty if there are fewer words."""
    m = len(wh) - n + 1
    if m <= 0 or n <= 0:
        return np.empty(0, dtype=_U64)
    acc = wh[:m].copy()
    for j in range(1, n):  # polynomial rolling hash: acc = acc*P + w[j], wrapping mod 2^64
        acc *= _POLY
        acc += wh[j:j + m]
    return _mix64(acc)


def text_shingles(text: str, n: int) -> np.ndarray:
    """Hashes of the word n-grams of normalised `text`; a text shorter than `n` words is one shingle (its whole
    normalised text), an empty text is the single 'empty' shingle — so every text has at least one."""
    wh = word_hashes(normalise_words(text))
    if len(wh) >= n:
        return ngram_hashes(wh, n)
    if len(wh) == 0:
        return np.array([_EMPTY_HASH], dtype=_U64)
    return ngram_hashes(wh, len(wh))


# -- LSH parameters -------------------------------------------------------------------------------------------
def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


@lru_cache(maxsize=64)
def optimal_bands_rows(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
                       ) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive + false-negative areas under the LSH S-curve, as
    datasketch's `_optimal_param` does (trapezoid integration instead of scipy's quad)."""
    best, opt = float("inf"), (1, num_perm)
    lo = np.linspace(0.0, threshold, 201)
    hi = np.linspace(threshold, 1.0, 201)
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _trapezoid(1 - (1 - lo ** r) ** b, lo)  # P(candidate) below the threshold
            fn = _trapezoid((1 - hi ** r) ** b, hi)  # P(not candidate) above it
            err = fp * fp_weight + fn * fn_weight
            if err < best:
                best, opt = err, (b, r)
    return opt


# -- the op -----------------------------------------------------------------------------------------------------
class DedupNearParams(OpParams):
    fields: list[str] | None = Field(None, description="Fields whose text is compared (default: all text fields, "
                                                       "including messages contents).")
    threshold: float = Field(0.8, description="Jaccard similarity of word n-gram sets above which two rows are "
                                              "near-duplicates, in (0, 1). Lower catches more edits: changing k "
                                              "scattered words of an N-word text alters about k*ngram of its "
                                              "N n-grams.")
    num_perm: int = Field(128, ge=16, le=512, description="MinHash permutations: more is more precise, slower.")
    ngram: int = Field(5, ge=1, le=32, description="Word n-gram (shingle) size; texts shorter than this are one "
                                                   "shingle.")
    bands: int | None = Field(None, ge=1, description="LSH bands; default: derived from threshold and num_perm (the "
                                                      "datasketch optimum, weighted towards recall when verify).")
    rows: int | None = Field(None, ge=1, description="Rows per LSH band; default: derived with `bands`.")
    verify: bool = Field(True, description="Check each candidate pair's estimated Jaccard (from the full "
                                           "signatures) against the threshold, cutting LSH false positives.")
    seed: int = Field(0, description="Seed of the MinHash permutations.")


_CHUNK = 4096  # shingles permuted per numpy call: bounds the (shingles x num_perm) matrix to ~4 MB at 128 perms
_BATCH_DOCS = 512  # documents per signature batch


@register
class DedupNear(TextFieldsMixin, GlobalOp):
    """Remove near-duplicate rows (MinHash LSH over word n-grams), keeping the first occurrence. Reason
    `near_duplicate`.

    Use after `dedup_exact` when sources contain paraphrased copies, templated boilerplate or lightly edited
    reposts. Text is lowercased and stripped of punctuation first. Rows whose word-5-gram Jaccard similarity is above
    `threshold` (default 0.8) are clustered; each cluster keeps its earliest row. Memory is bounded (a few dozen bytes
    per row, whatever the text length, plus ~100 bytes per row of scratch files), so it is safe on millions of rows."""

    name = "dedup_near"
    version = 2  # 2: Chinese and Japanese characters are words (normalise_words)
    Params = DedupNearParams
    # Shingle hashes (sorted uint64) left out of every signature: a caller's template wording. The verifier sets
    # the wording a task's benchmark items share, so same-template records are compared by what differs.
    ignored: np.ndarray | None = None

    def check(self) -> list[str]:
        p: DedupNearParams = self.params
        problems = []
        if not 0.0 < p.threshold < 1.0:
            problems.append(f"threshold must be in (0, 1), got {p.threshold} (for exact copies use dedup_exact)")
        if (p.bands is None) != (p.rows is None):
            problems.append("give both `bands` and `rows`, or neither (then they are derived from threshold)")
        elif p.bands is not None and p.rows is not None and p.bands * p.rows > p.num_perm:
            problems.append(f"bands*rows = {p.bands * p.rows} exceeds num_perm = {p.num_perm}")
        return problems

    # -- signatures --------------------------------------------------------------------------------------------
    def setup(self) -> None:
        p: DedupNearParams = self.params
        if not hasattr(self, "_fields"):
            self._fields = resolve_text_fields(p.fields, self.input_fields)
        if p.bands is not None and p.rows is not None:
            self.b, self.r = p.bands, p.rows
        elif p.verify:
            # Verification removes LSH false positives for the price of one signature comparison each, so the
            # search weights missed pairs 4:1 (at 0.8/128: 12x10, 99% recall at J=0.9 instead of 93% with 9x13).
            self.b, self.r = optimal_bands_rows(round(p.threshold, 6), p.num_perm, 0.2, 0.8)
        else:
            self.b, self.r = optimal_bands_rows(round(p.threshold, 6), p.num_perm)  # datasketch's equal weights
        rng = np.random.default_rng(p.seed)
        # Multiply-shift hashing (Dietzfelbinger): for 32-bit h and random 64-bit a (odd), b, the value
        # (a*h + b) mod 2^64 is a strongly universal hash in its high bits and injective in h. Taking the min of the
        # full 64-bit value orders by those high bits; it costs 3 numpy passes instead of ~9 for mod (2^61-1).
        self._a = rng.integers(0, 2**64, size=p.num_perm, dtype=np.uint64, endpoint=False) | _U64(1)
        self._b = rng.integers(0, 2**64, size=p.num_perm, dtype=np.uint64, endpoint=False)
        self._band_mult = _U64(0x9E3779B97F4A7C15)

    def _permute(self, h32: np.ndarray) -> np.ndarray:
        """(num_perm, len(h32)) matrix of (a*h + b) mod 2^64, one row per permutation (rows contiguous: the
        per-document min below then runs along memory, ~5x faster than reducing over columns)."""
        x = np.multiply.outer(self._a, h32)
        x += self._b[:, None]
        return x

    def signatures(self, shingles: list[np.ndarray]) -> np.ndarray:
        """MinHash signatures (len(shingles), num_perm) of documents given as non-empty shingle-hash arrays."""
        out = np.empty((len(shingles), self.params.num_perm), dtype=np.uint64)
        i = 0
        while i < len(shingles):
            if len(shingles[i]) > _CHUNK:  # one long document: stream its shingles through in slices
                acc = np.full(self.params.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
                for s in range(0, len(shingles[i]), _CHUNK):
                    np.minimum(acc, self._permute(shingles[i][s:s + _CHUNK] >> _U64(32)).min(axis=1), out=acc)
                out[i] = acc
                i += 1
                continue
            j, total = i, 0
            while j < len(shingles) and total + len(shingles[j]) <= _CHUNK:
                total += len(shingles[j])
                j += 1
            lengths = np.fromiter((len(s) for s in shingles[i:j]), dtype=np.int64, count=j - i)
            offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            flat = np.concatenate(shingles[i:j]) >> _U64(32)  # top 32 bits of the mixed 64-bit shingle hash
            out[i:j] = np.minimum.reduceat(self._permute(flat), offsets, axis=1).T
            i = j
        return out

    def band_hashes(self, sig: np.ndarray) -> np.ndarray:
        """(docs, bands) 64-bit hash of each band's `rows` signature values."""
        bands = sig[:, : self.b * self.r].reshape(len(sig), self.b, self.r)
        h = np.zeros((len(sig), self.b), dtype=np.uint64)
        for j in range(self.r):
            h *= self._band_mult
            h += bands[:, :, j]
        return _mix64(h)

    # -- run -------------------------------------------------------------------------------------------------
    def run(self, inputs: list[RowStream], out: Emitter) -> None:
        src = inputs[0]
        parent, n = self.clusters(src)
        seen = 0
        for k, row in enumerate(src):
            seen += 1
            if k < n and cluster_root(parent, k) != k:
                out.drop(row, "near_duplicate")
            else:  # rows beyond what pass 1 saw (an input that grew) are kept, never silently lost
                out.emit(row)
        if seen != n:
            self.warnings.append(f"input changed between passes ({n} rows, then {seen}); extra rows were kept")

    def clusters(self, rows: Iterable[Row]) -> tuple[array, int]:
        """Stream `rows` once (after `setup()`): (union-find parents over row indices, row count). A row is a near
        duplicate when `cluster_root(parents, k) != k`; the root is the earliest row of its cluster."""
        return self.clusters_of_features(self.features(batch) for batch in _batched(rows, _BATCH_DOCS))

    def features(self, rows: list[Row]) -> tuple[np.ndarray, np.ndarray | None]:
        """What clustering needs of a batch of rows: (band hashes (rows, bands) uint64, the signatures' high 32
        bits (rows, num_perm) uint32 when `verify`, else None). Rows are independent: the Ray executor computes
        this in parallel over blocks."""
        sig = self.signatures([self._shingles(row_text(row, self._fields)) for row in rows])
        high = (sig >> _U64(32)).astype(np.uint32) if self.params.verify else None  # plenty for equality
        return self.band_hashes(sig), high

    def _shingles(self, text: str) -> np.ndarray:
        sh = text_shingles(text, self.params.ngram)
        if self.ignored is None or not self.ignored.size:
            return sh
        kept = sh[~np.isin(sh, self.ignored)]
        return kept if kept.size else np.array([_EMPTY_HASH], dtype=_U64)  # nothing but template: one shingle

    def clusters_of_features(self, batches: Iterable[tuple[np.ndarray, np.ndarray | None]]) -> tuple[array, int]:
        """`clusters` from the features of consecutive batches of rows, in row order."""
        self.ctx.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.ctx.workdir, prefix="dedup_near-") as tmp:
            n = self._write_features(batches, Path(tmp))
            return self._cluster(Path(tmp), n), n

    def _write_features(self, batches: Iterable[tuple[np.ndarray, np.ndarray | None]], tmp: Path) -> int:
        """Band hashes to one file per band, signatures to one file (bounded memory). Returns the row count."""
        band_files = [open(tmp / f"band{i}.u64", "wb") for i in range(self.b)]
        sig_file = open(tmp / "sig.u32", "wb") if self.params.verify else None
        n = 0
        try:
            for bh, high in batches:
                for i, f in enumerate(band_files):
                    f.write(np.ascontiguousarray(bh[:, i]).tobytes())
                if sig_file is not None:
                    assert high is not None
                    sig_file.write(np.ascontiguousarray(high).tobytes())
                n += len(bh)
        finally:
            for f in band_files:
                f.close()
            if sig_file is not None:
                sig_file.close()
        return n

    def _cluster(self, tmp: Path, n: int) -> array:
        """Union-find over row indices; each root is the earliest row of its cluster."""
        parent = array("i", range(n)) if n < 2**31 else None
        if parent is None:  # pragma: no cover - 2 billion rows
            raise ValueError("dedup_near supports at most 2^31-1 rows")
        if n < 2:
            return parent
        p: DedupNearParams = self.params
        verifier = _SignatureReader(tmp / "sig.u32", p.num_perm) if p.verify else None
        need = int(np.ceil(p.threshold * p.num_perm - 1e-9))  # equal signature slots needed to pass verification
        try:
            for i in range(self.b):
                col = np.fromfile(tmp / f"band{i}.u64", dtype=np.uint64)
                order = np.argsort(col, kind="stable").astype(np.int32)  # stable: bucket members in row order
                sorted_col = col[order]
                del col
                same = sorted_col[1:] == sorted_col[:-1]
                del sorted_col
                if not same.any():
                    continue
                # leader of each position = first row of its bucket
                is_start = np.concatenate(([True], ~same))
                leader = order[np.flatnonzero(is_start)][np.cumsum(is_start) - 1]
                members = np.flatnonzero(~is_start)
                for doc, lead in zip(order[members].tolist(), leader[members].tolist()):
                    ra, rb = cluster_root(parent, doc), cluster_root(parent, lead)
                    if ra == rb:
                        continue
                    if verifier is not None and verifier.agreement(doc, lead) < need:
                        continue
                    if ra < rb:
                        parent[rb] = ra
                    else:
                        parent[ra] = rb
        finally:
            if verifier is not None:
                verifier.close()
        return parent


def _batched(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def cluster_root(parent: array, x: int) -> int:
    """Root of x (the earliest row of its cluster), with path halving (keeps trees shallow without recursion)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


class _SignatureReader:
    """Random access to the uint32 signatures on disk with pread (no mmap: mapped pages would count as RSS)."""

    def __init__(self, path: Path, num_perm: int):
        self.fd = os.open(path, os.O_RDONLY)
        self.width = num_perm * 4

    def row(self, k: int) -> np.ndarray:
        return np.frombuffer(os.pread(self.fd, self.width, k * self.width), dtype=np.uint32)

    def agreement(self, i: int, j: int) -> int:
        """Number of equal signature slots (estimated Jaccard = agreement / num_perm)."""
        return int(np.count_nonzero(self.row(i) == self.row(j)))

    def close(self) -> None:
        os.close(self.fd)
