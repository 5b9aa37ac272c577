"""TransformersClient on a tiny random model (fast) and on the embedded SmolLM2 (slow)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("xgrammar")

from datachef.llm.base import LLMError, SamplingParams  # noqa: E402
from datachef.llm.cache import RequestCache  # noqa: E402
from datachef.llm.local import TransformersClient  # noqa: E402

HELLO = [{"role": "user", "content": "hello"}]
LONGER = [{"role": "user", "content": "a longer prompt here, so that the batch needs left padding"}]
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
SCHEMA = {
    "type": "object",
    "properties": {
        "grade": {"enum": ["good", "bad", "unsure"]},
        "reason": {"type": "string", "maxLength": 16},
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
    },
    "required": ["grade", "reason", "score"],
}


def check_schema(value: dict) -> None:
    """Validate against SCHEMA (jsonschema when installed, else by hand)."""
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        jsonschema.validate(value, SCHEMA)
        return
    assert set(value) == {"grade", "reason", "score"}
    assert value["grade"] in ("good", "bad", "unsure")
    assert isinstance(value["reason"], str) and len(value["reason"]) <= 16
    assert isinstance(value["score"], int) and 0 <= value["score"] <= 10


def test_chat_returns_text_and_token_counts(tiny_client):
    c = tiny_client.chat(HELLO, SamplingParams(max_tokens=8))
    assert isinstance(c.text, str) and c.text
    assert c.prompt_tokens == len(tiny_client.prompt_ids(HELLO)) > 5
    assert 1 <= c.completion_tokens <= 8
    assert c.finish_reason in ("stop", "length")


def test_batch_order_and_padding_do_not_change_results(tiny_client):
    p = SamplingParams(max_tokens=10)
    alone = [tiny_client.chat(m, p).text for m in (HELLO, LONGER)]
    batch = tiny_client.chat_batch([LONGER, HELLO, LONGER], p)
    assert [c.text for c in batch] == [alone[1], alone[0], alone[1]]
    assert batch[0].prompt_tokens > batch[1].prompt_tokens


def test_batch_larger_than_batch_size_is_chunked_in_order(tiny_model_dir):
    client = TransformersClient(str(tiny_model_dir), dtype="float32", batch_size=2, num_threads=1)
    msgs = [[{"role": "user", "content": f"item {i} " * (i + 1)}] for i in range(5)]
    p = SamplingParams(max_tokens=4)
    assert [c.text for c in client.chat_batch(msgs, p)] == [client.chat(m, p).text for m in msgs]


def test_greedy_is_deterministic(tiny_client):
    p = SamplingParams(max_tokens=12)
    assert tiny_client.chat(HELLO, p).text == tiny_client.chat(HELLO, p).text


def test_seeded_sampling_is_reproducible(tiny_client):
    p = SamplingParams(max_tokens=12, temperature=1.0, seed=123)
    a = tiny_client.chat(HELLO, p).text
    assert tiny_client.chat(HELLO, p).text == a
    # The same request with the same seed gives the same sample wherever it sits in a batch.
    assert tiny_client.chat_batch([LONGER, HELLO], p)[1].text == a
    others = {tiny_client.chat(HELLO, SamplingParams(max_tokens=12, temperature=1.0, seed=s)).text
              for s in range(4)}
    assert len(others) > 1
    top = tiny_client.chat(HELLO, SamplingParams(max_tokens=12, temperature=1.0, top_p=0.5, seed=1))
    assert top.completion_tokens >= 1


def test_different_requests_do_not_share_a_random_stream(tiny_client, monkeypatch):
    """Two different prompts with one seed, given the same next-token distribution at every step, still sample
    different tokens (one shared random stream made a batch of similar chef prompts write identical recipes); the
    same prompt twice samples the same tokens."""
    real = tiny_client._pick
    monkeypatch.setattr(tiny_client, "_pick", lambda logits, params, gens: real(
        torch.zeros_like(logits), params, gens))
    p = SamplingParams(max_tokens=8, temperature=1.0, seed=5)
    out = [c.text for c in tiny_client.chat_batch([HELLO, LONGER, HELLO], p)]
    assert out[0] == out[2] != out[1]


def _second_of_two_rows_stops_at_once(client, monkeypatch):
    """Decoding never picks EOS, except for the second row of a two-row batch, which picks it at once."""
    eos = next(iter(client.stop_token_ids))
    real = client._pick

    def pick(logits, params, gens):
        logits[:, eos] = -1e9
        if logits.shape[0] == 2:
            logits[1, eos] = 1e9
        return real(logits, params, gens)

    monkeypatch.setattr(client, "_pick", pick)


def test_decoding_and_label_scoring_use_the_current_cache_api(tiny_client, monkeypatch):
    """No deprecation warning from transformers: the KV cache goes by its current name, both passed in (decoding
    with rows finishing at different times, labels reusing the prompt's cache) and read back from the output."""
    import logging
    import warnings

    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("transformers").addHandler(handler)
    clear = getattr(getattr(logging.Logger, "warning_once", None), "cache_clear", None)
    if clear:  # transformers warns once per process: forget earlier tests' warnings
        clear()
    # In a batch of two, the second row stops at once (EOS) and the other runs on: the finished row is dropped from
    # the batch and its cache.
    _second_of_two_rows_stops_at_once(tiny_client, monkeypatch)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = tiny_client.chat_batch([LONGER, HELLO], SamplingParams(max_tokens=6))
            tiny_client.score_labels(HELLO, ["maybe later", "definitely not"])
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert sorted(c.completion_tokens for c in out) == [1, 6]
    assert not [w for w in caught if "deprecated" in str(w.message)], [str(w.message) for w in caught]
    assert not [m for m in messages if "deprecated" in m], messages


def test_progress_counts_tokens_as_they_come_and_ends_at_the_whole_budget(tiny_client, monkeypatch):
    # Row 1 stops after its first token, row 0 uses its whole budget: progress arrives per decoding step (more calls
    # than requests), the finished row's unused budget at once, and adds up to 2 requests x max_tokens.
    _second_of_two_rows_stops_at_once(tiny_client, monkeypatch)
    seen: list[int] = []
    out = tiny_client.chat_batch([LONGER, HELLO], SamplingParams(max_tokens=6), progress=seen.append)
    assert sorted(c.completion_tokens for c in out) == [1, 6]
    assert sum(seen) == 12 and len(seen) >= 6
    assert seen[0] == 2 + 5  # first step: a token per row, and the stopped row's other 5 tokens of budget


def test_stop_strings_cut_the_text(tiny_client):
    full = tiny_client.chat(HELLO, SamplingParams(max_tokens=20))
    assert full.finish_reason == "length" and len(full.text) > 6
    stop = full.text[4:7]  # a substring we know greedy decoding will produce
    cut = tiny_client.chat(HELLO, SamplingParams(max_tokens=20, stop=(stop,)))
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(stop)]
    assert cut.completion_tokens < full.completion_tokens


def test_max_tokens_gives_length(tiny_client):
    c = tiny_client.chat(HELLO, SamplingParams(max_tokens=3))
    assert c.finish_reason == "length" and c.completion_tokens == 3


def test_eos_gives_stop(tiny_client, monkeypatch):
    # Make the first greedy pick the EOS token: the reply is empty and finished by "stop", EOS not in the text.
    eos = next(iter(tiny_client.stop_token_ids))
    real = tiny_client._pick

    def pick(logits, params, gens):
        logits[:, eos] = 1e9
        return real(logits, params, gens)

    monkeypatch.setattr(tiny_client, "_pick", pick)
    c = tiny_client.chat(HELLO, SamplingParams(max_tokens=5))
    assert (c.text, c.finish_reason, c.completion_tokens) == ("", "stop", 1)


def test_bad_params_raise(tiny_client):
    with pytest.raises(LLMError, match="max_tokens"):
        tiny_client.chat(HELLO, SamplingParams(max_tokens=0))
    with pytest.raises(LLMError, match="json_schema"):
        tiny_client.chat(HELLO, SamplingParams(max_tokens=4), json_schema={"type": "no-such-type"})


def test_json_schema_output_is_valid_even_for_a_random_model(tiny_client):
    params = [SamplingParams(max_tokens=64), SamplingParams(max_tokens=64, temperature=1.0, seed=7)]
    for p in params:
        for c in tiny_client.chat_batch([HELLO, LONGER, HELLO], p, json_schema=SCHEMA):
            assert c.finish_reason == "stop", c
            check_schema(json.loads(c.text))


def test_json_schema_keeps_the_schemas_property_order(tiny_client):
    # A schema listing "score" first gets "score" first: the order is the schema author's (e.g. a plan before the
    # choices it explains), not alphabetical.
    reordered = {**SCHEMA, "properties": dict(reversed(list(SCHEMA["properties"].items())))}
    for schema in (SCHEMA, reordered):
        c = tiny_client.chat(HELLO, SamplingParams(max_tokens=64), json_schema=schema)
        assert list(json.loads(c.text)) == list(schema["properties"])


def test_json_schema_may_name_its_separators(tiny_client):
    # By default the grammar writes ", " and ": "; a schema naming [",", ":"] (the compact recipe form, which its
    # policy was trained on) gets exactly that text; the note is not JSON Schema and bad values are refused.
    from datachef.llm.base import SEPARATORS_KEY

    spaced = tiny_client.chat(HELLO, SamplingParams(max_tokens=64), json_schema=SCHEMA).text
    tight = tiny_client.chat(HELLO, SamplingParams(max_tokens=64), json_schema={**SCHEMA, SEPARATORS_KEY: [",", ":"]})
    assert '": ' in spaced and '": ' not in tight.text and '":' in tight.text
    assert json.loads(tight.text).keys() == json.loads(spaced).keys()
    with pytest.raises(LLMError, match=SEPARATORS_KEY):
        tiny_client.chat(HELLO, SamplingParams(max_tokens=4), json_schema={**SCHEMA, SEPARATORS_KEY: ","})


def test_json_schema_budget_exhausted_is_length(tiny_client):
    c = tiny_client.chat(HELLO, SamplingParams(max_tokens=4), json_schema=SCHEMA)
    assert c.finish_reason == "length" and c.completion_tokens == 4
    assert c.text.startswith("{")
    with pytest.raises(ValueError):
        json.loads(c.text)


def test_json_logits_processor_with_generate(tiny_client):
    from datachef.llm.constrained import JsonSchemaLogitsProcessor

    ids = torch.tensor([tiny_client.prompt_ids(HELLO)])
    proc = JsonSchemaLogitsProcessor(tiny_client.grammars(), SCHEMA, 1, tiny_client.pad_token_id)
    out = tiny_client.hf_model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=64,
                                        do_sample=False, logits_processor=[proc],
                                        pad_token_id=tiny_client.pad_token_id)
    text = tiny_client.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    check_schema(json.loads(text))


def manual_label_logprob(client: TransformersClient, messages, label: str) -> float:
    """Reference: one forward pass over prompt + label, no cache, no batching."""
    prompt = client.prompt_ids(messages)
    lab = client.tokenizer(label, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        logits = client.hf_model(input_ids=torch.tensor([prompt + lab])).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return sum(float(logp[len(prompt) - 1 + k, t]) for k, t in enumerate(lab))


def test_score_labels_matches_manual_computation(tiny_client):
    labels = ["Yes", "No", "maybe later", "definitely not, sorry"]
    scores = tiny_client.score_labels(SYSTEM, labels)
    assert list(scores) == labels
    for lab in labels:
        assert scores[lab] == pytest.approx(manual_label_logprob(tiny_client, SYSTEM, lab), abs=1e-4)
    assert all(v < 0 for v in scores.values())


def test_score_labels_bfloat16_close_to_fp32(tiny_model_dir, tiny_client):
    bf16 = TransformersClient(str(tiny_model_dir), dtype="bfloat16", num_threads=1)
    labels = ["Yes", "No", "maybe later"]
    a, b = bf16.score_labels(HELLO, labels), tiny_client.score_labels(HELLO, labels)
    for lab in labels:
        assert a[lab] == pytest.approx(b[lab], abs=0.15 * max(1.0, abs(b[lab])))


def test_request_cache_makes_repeats_free(tiny_model_dir, tmp_path):
    client = TransformersClient(str(tiny_model_dir), dtype="float32", num_threads=1,
                                cache=RequestCache(tmp_path / "llm.sqlite"))
    p = SamplingParams(max_tokens=6)
    first = client.chat(HELLO, p)
    spent = client.usage.as_dict()
    assert spent["prompt_tokens"] > 0 and spent["completion_tokens"] == first.completion_tokens
    again = client.chat(HELLO, p)
    assert again.cached and again.text == first.text
    after = client.usage.as_dict()
    assert after["prompt_tokens"] == spent["prompt_tokens"]
    assert after["completion_tokens"] == spent["completion_tokens"]
    assert after["cached_requests"] == 1 and after["requests"] == 2
    s1 = client.score_labels(HELLO, ["Yes", "No"])
    assert client.score_labels(HELLO, ["Yes", "No"]) == s1


def test_prompt_too_long_is_an_error_completion(tiny_client, monkeypatch):
    monkeypatch.setattr(tiny_client, "max_context", 20)
    out = tiny_client.chat_batch([HELLO, [{"role": "user", "content": "hi " * 50}]], SamplingParams(max_tokens=4))
    assert out[1].finish_reason == "error" and out[1].text == ""
    assert out[0].finish_reason == "error"  # the chat template alone is over 20 tokens
    monkeypatch.setattr(tiny_client, "max_context", 40)
    ok = tiny_client.chat(HELLO, SamplingParams(max_tokens=100))
    assert ok.finish_reason == "length" and ok.prompt_tokens + ok.completion_tokens == 40


def test_assistant_prefill_is_continued(tiny_client):
    ids = tiny_client.prompt_ids(HELLO + [{"role": "assistant", "content": "Sure"}])
    assert tiny_client.tokenizer.decode(ids).endswith("assistant\nSure")


def test_default_dtype_is_fp32_unless_the_cpu_has_native_bf16(tiny_model_dir):
    from datachef.llm.local import cpu_has_fast_bf16

    client = TransformersClient(str(tiny_model_dir), num_threads=1)
    assert client.dtype == (torch.bfloat16 if cpu_has_fast_bf16() else torch.float32)
    assert TransformersClient(str(tiny_model_dir), dtype="bf16", num_threads=1).dtype == torch.bfloat16


def test_unknown_dtype_and_missing_model(tiny_model_dir, tmp_path):
    with pytest.raises(LLMError, match="dtype"):
        TransformersClient(str(tiny_model_dir), dtype="int3")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LLMError, match="config.json"):
        TransformersClient(str(tmp_path / "empty"))


# -- the real embedded model (slow: converts the GGUF once, ~40 s, then ~10 s to load) ----------------------------
@pytest.fixture(scope="module")
def smollm2():
    return TransformersClient(None)


@pytest.mark.slow
def test_embedded_model_answers_sensibly(smollm2):
    c = smollm2.chat([{"role": "user", "content": "What is the capital of France?"}], SamplingParams(max_tokens=30))
    assert "Paris" in c.text and c.finish_reason == "stop"
    assert smollm2.model == "smollm2-135m-instruct"


@pytest.mark.slow
def test_embedded_model_json_schema(smollm2):
    q = [{"role": "user", "content": "Rate this answer to 'What is 2+2?': '4'. Reply as JSON with grade, reason, "
                                     "score."}]
    c = smollm2.chat(q, SamplingParams(max_tokens=80), json_schema=SCHEMA)
    assert c.finish_reason == "stop"
    check_schema(json.loads(c.text))


@pytest.mark.slow
def test_embedded_model_scores_the_right_label_higher(smollm2):
    q = [{"role": "user", "content": "What is the capital of France? Answer with one word."}]
    s = smollm2.score_labels(q, ["Paris", "London", "Berlin"])
    assert s["Paris"] > s["London"] and s["Paris"] > s["Berlin"]
    s = smollm2.score_labels([{"role": "user", "content": "What is 2+2? Answer with a number."}], ["4", "5", "22"])
    assert s["4"] > s["5"] and s["4"] > s["22"]
    # SmolLM2-135M prefers "No" to almost any yes/no question (even "Is 2+2=4?"), so a bare Yes/No judge is useless;
    # what does carry signal is how the Yes-No margin moves between a true and a false statement.
    shots = [{"role": "user", "content": "Is fire hot? Answer Yes or No."}, {"role": "assistant", "content": "Yes"},
             {"role": "user", "content": "Is ice hot? Answer Yes or No."}, {"role": "assistant", "content": "No"}]

    def margin(q: str) -> float:
        s = smollm2.score_labels(shots + [{"role": "user", "content": q + " Answer Yes or No."}], ["Yes", "No"])
        return s["Yes"] - s["No"]

    assert margin("Is the sun hot?") > margin("Is snow hot?")
