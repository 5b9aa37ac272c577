"""dedup_near: MinHash-LSH near-duplicate removal, driven through bind/check/setup/run."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from datachef.ops import REGISTRY, load_all
from datachef.ops.base import Emitter, OpContext, RowStream
from datachef.ops.dedup_near import DedupNear, DedupNearParams, optimal_bands_rows, text_shingles

VOCAB = [f"word{i}" for i in range(3000)]


def doc(rng: random.Random, n: int = 100) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def edit(text: str, rng: random.Random, k: int) -> str:
    """Replace k words at distinct random positions by words outside the vocabulary."""
    words = text.split()
    for pos in rng.sample(range(len(words)), k):
        words[pos] = f"changed{rng.randrange(10**6)}"
    return " ".join(words)


def make_op(tmp_path: Path, schema: dict | None = None, **params) -> DedupNear:
    op = DedupNear(DedupNearParams(**params), OpContext(workdir=tmp_path / "work"), "near")
    op.bind([schema or {"id": "int", "text": "str"}])
    assert op.check() == []
    op.setup()
    return op


def run(op: DedupNear, rows: list[dict]) -> tuple[list[dict], list[tuple[dict, str]]]:
    kept: list[dict] = []
    dropped: list[tuple[dict, str]] = []
    order: list[int] = []

    def emit(r):
        kept.append(r)
        order.append(r["id"])

    def drop(r, why):
        dropped.append((r, why))
        order.append(r["id"])

    op.run([RowStream(lambda: iter(rows), len(rows), "in")], Emitter(emit, drop))
    assert order == [r["id"] for r in rows]  # every row exactly once, in input order
    return kept, dropped


def corpus(seed: int, n_orig: int, n_copies: int, k_edits: int) -> tuple[list[dict], set[int]]:
    """n_orig distinct 100-word docs, then n_copies edited copies of earlier ones (ids of copies returned)."""
    rng = random.Random(seed)
    rows = [{"id": i, "text": doc(rng)} for i in range(n_orig)]
    copies = set()
    for j in rng.sample(range(n_orig), n_copies):
        copies.add(len(rows))
        rows.append({"id": len(rows), "text": edit(rows[j]["text"], rng, k_edits)})
    return rows, copies


def test_registered_with_docs():
    load_all()
    assert REGISTRY["dedup_near"] is DedupNear
    assert DedupNear.kind == "global"
    for name, f in DedupNearParams.model_fields.items():
        assert f.description, name


def test_one_word_edits_are_caught_at_default_threshold(tmp_path):
    rows, copies = corpus(seed=1, n_orig=80, n_copies=20, k_edits=1)
    kept, dropped = run(make_op(tmp_path), rows)
    assert {r["id"] for r, _ in dropped} == copies
    assert {why for _, why in dropped} == {"near_duplicate"}
    assert len(kept) == 80  # every distinct document survives


def test_few_word_edits_are_caught_at_lower_threshold(tmp_path):
    # 2 scattered edits in 100 words change ~10 of 96 5-grams: Jaccard ~0.8, so ask for 0.7
    rows, copies = corpus(seed=2, n_orig=80, n_copies=20, k_edits=2)
    _, dropped = run(make_op(tmp_path, threshold=0.7), rows)
    assert {r["id"] for r, _ in dropped} == copies


def test_distinct_but_related_docs_are_kept(tmp_path):
    # same vocabulary, half of the words shared in place: Jaccard of 5-grams is far below 0.8
    rng = random.Random(3)
    base = doc(rng).split()
    rows = [{"id": 0, "text": " ".join(base)}]
    for i in range(1, 15):
        words = list(base)
        for pos in range(i % 2, 100, 2):
            words[pos] = rng.choice(VOCAB)
        rows.append({"id": i, "text": " ".join(words)})
    kept, dropped = run(make_op(tmp_path), rows)
    assert dropped == [] and len(kept) == 15


def test_first_occurrence_is_kept_and_chains_collapse(tmp_path):
    rng = random.Random(4)
    a = doc(rng)
    b = edit(a, rng, 1)
    c = edit(b, rng, 1)
    other = doc(rng)
    rows = [{"id": 0, "text": other}, {"id": 1, "text": b}, {"id": 2, "text": a}, {"id": 3, "text": c},
            {"id": 4, "text": a}]
    kept, dropped = run(make_op(tmp_path), rows)
    assert [r["id"] for r in kept] == [0, 1]  # b came first, so b is the one kept
    assert [r["id"] for r, _ in dropped] == [2, 3, 4]


def test_normalisation_short_texts_and_empty_rows(tmp_path):
    rows = [{"id": 0, "text": "Hello, World!"}, {"id": 1, "text": "hello   world"}, {"id": 2, "text": "hello there"},
            {"id": 3, "text": ""}, {"id": 4, "text": "  "}, {"id": 5, "text": "HELLO WORLD."}]
    kept, dropped = run(make_op(tmp_path), rows)
    assert [r["id"] for r in kept] == [0, 2, 3]
    assert [r["id"] for r, _ in dropped] == [1, 4, 5]


def test_fields_and_messages(tmp_path):
    rng = random.Random(5)
    t = doc(rng)
    schema = {"id": "int", "text": "str", "note": "str"}
    rows = [{"id": 0, "text": t, "note": doc(rng)}, {"id": 1, "text": t, "note": doc(rng)}]
    _, dropped = run(make_op(tmp_path, schema, fields=["text"]), rows)
    assert [r["id"] for r, _ in dropped] == [1]
    _, dropped = run(make_op(tmp_path, schema), rows)  # default: every text field, and the notes differ
    assert dropped == []

    chat = [{"id": i, "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "The answer."}]}
            for i, q in enumerate([t, edit(t, rng, 1), doc(rng)])]
    _, dropped = run(make_op(tmp_path, {"id": "int", "messages": "messages"}), chat)
    assert [r["id"] for r, _ in dropped] == [1]


def test_verify_off_and_explicit_bands(tmp_path):
    rows, copies = corpus(seed=6, n_orig=50, n_copies=10, k_edits=1)
    _, dropped = run(make_op(tmp_path, verify=False, threshold=0.7), rows)  # 14x9 bands: ~100% at J=0.9
    assert {r["id"] for r, _ in dropped} == copies
    op = make_op(tmp_path, bands=16, rows=8)
    assert (op.b, op.r) == (16, 8)
    _, dropped = run(op, rows)
    assert {r["id"] for r, _ in dropped} == copies


def test_scratch_files_are_removed(tmp_path):
    rows, _ = corpus(seed=7, n_orig=20, n_copies=5, k_edits=1)
    op = make_op(tmp_path)
    run(op, rows)
    assert list((tmp_path / "work").iterdir()) == []


def test_long_document_signature_matches_batched_path(tmp_path):
    # a document longer than one numpy chunk is streamed in slices; its signature must not depend on that
    op = make_op(tmp_path, num_perm=64)
    rng = random.Random(8)
    long_text = doc(rng, 12_000)
    sh = text_shingles(long_text, 5)
    sig_stream = op.signatures([sh])[0]
    direct = op._permute(sh >> np.uint64(32)).min(axis=1)
    assert np.array_equal(sig_stream, direct)
    rows = [{"id": 0, "text": long_text}, {"id": 1, "text": doc(rng)}, {"id": 2, "text": edit(long_text, rng, 3)}]
    _, dropped = run(op, rows)
    assert [r["id"] for r, _ in dropped] == [2]


def test_minhash_estimates_jaccard():
    rng = random.Random(9)
    op = DedupNear(DedupNearParams(num_perm=256), OpContext(), "near")
    op.bind([{"text": "str"}])
    op.setup()
    for k in (0, 5, 15, 30):
        a = doc(rng, 200)
        b = edit(a, rng, k)
        sa, sb = text_shingles(a, 5), text_shingles(b, 5)
        true_j = len(set(sa.tolist()) & set(sb.tolist())) / len(set(sa.tolist()) | set(sb.tolist()))
        sig = op.signatures([sa, sb])
        assert abs(float((sig[0] == sig[1]).mean()) - true_j) < 0.1


def test_optimal_params_match_datasketch():
    assert optimal_bands_rows(0.8, 128) == (9, 13)  # datasketch MinHashLSH(threshold=0.8, num_perm=128)
    b, r = optimal_bands_rows(0.8, 128, 0.2, 0.8)
    assert b * r <= 128 and b > 9  # recall-weighted: more, shorter bands


@pytest.mark.parametrize("params, fragment", [
    ({"threshold": 1.0}, "threshold"),
    ({"threshold": 0.0}, "threshold"),
    ({"bands": 10}, "both"),
    ({"bands": 20, "rows": 10}, "exceeds num_perm"),
])
def test_check_rejects_bad_params(params, fragment):
    op = DedupNear(DedupNearParams(**params), OpContext(), "near")
    op.bind([{"text": "str"}])
    problems = op.check()
    assert problems and fragment in problems[0]


def test_seed_is_deterministic(tmp_path):
    rows, _ = corpus(seed=10, n_orig=30, n_copies=8, k_edits=2)
    a = make_op(tmp_path, threshold=0.75, seed=3)
    b = make_op(tmp_path, threshold=0.75, seed=3)
    sa = a.signatures([text_shingles(r["text"], 5) for r in rows])
    sb = b.signatures([text_shingles(r["text"], 5) for r in rows])
    assert np.array_equal(sa, sb)
