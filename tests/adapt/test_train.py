"""SFT: corpus loading, assistant-only label masking, end-to-end training with checkpoints, resume and LoRA."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from datachef.adapt import AdaptError, TrainConfig, load_chat_records, tokenize_chat, train_sft
from datachef.adapt.train import PadCollator, load_tokenizer, sample_records

from .conftest import chat_record

CONVERSATION = [
    {"role": "system", "content": "You are a careful math tutor."},
    {"role": "user", "content": "What is 2 plus 3?"},
    {"role": "assistant", "content": "2 + 3 = 5\n#### 5"},
    {"role": "user", "content": "And 10 times 4?"},
    {"role": "assistant", "content": "10 * 4 = 40\n#### 40"},
]


# ------------------------------------------------------------------------------------------------------ corpus

def test_load_chat_records_forms_and_errors(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "data.jsonl").write_text(json.dumps(chat_record(0)) + "\n\n" + json.dumps(chat_record(1)) + "\n")
    assert len(load_chat_records(run)) == 2  # a `datachef run` output folder

    sharegpt = tmp_path / "sg.jsonl"
    sharegpt.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"},
                                                      {"from": "gpt", "value": "hello"}]}) + "\n")
    assert load_chat_records(sharegpt) == [[{"role": "user", "content": "hi"},
                                            {"role": "assistant", "content": "hello"}]]

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(chat_record(0)) + "\n{oops\n")
    with pytest.raises(AdaptError, match=r"bad.jsonl:2: invalid JSON"):
        load_chat_records(bad)
    bad.write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(AdaptError, match=r"bad.jsonl:1: field 'messages': record has no 'messages'"):
        load_chat_records(bad)
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "q"}]})
                   + "\n")
    with pytest.raises(AdaptError, match="no assistant turn"):
        load_chat_records(bad)
    bad.write_text(json.dumps({"messages": [{"role": "bot", "content": "q"}, {"role": "assistant", "content": "a"}]})
                   + "\n")
    with pytest.raises(AdaptError, match="message 0: role"):
        load_chat_records(bad)
    with pytest.raises(AdaptError, match="no data.jsonl"):
        load_chat_records(tmp_path)


def test_budget_sampling_is_seeded():
    rows = list(range(100))
    a = sample_records(rows, 10, seed=1)
    assert a == sample_records(rows, 10, seed=1) and a == sorted(a) and len(set(a)) == 10
    assert a != sample_records(rows, 10, seed=2)
    assert sample_records(rows, None, 0) == rows and sample_records(rows, 500, 0) == rows


def test_profiles():
    gpu, cpu = TrainConfig.profile("gpu"), TrainConfig.profile("cpu", lr=3e-4)
    assert (gpu.max_samples, gpu.epochs, gpu.lr, gpu.effective_batch_size, gpu.lora) == (10_000, 3, 2e-5, 64, False)
    assert (cpu.max_samples, cpu.lora, cpu.max_seq_len, cpu.lr) == (64, True, 256, 3e-4)
    with pytest.raises(AdaptError, match="unknown training profile"):
        TrainConfig.profile("tpu")
    with pytest.raises(AdaptError, match="batch_size"):
        TrainConfig.profile("cpu", batch_size=0)


# ----------------------------------------------------------------------------------------------------- masking

def test_loss_mask_covers_assistant_turns_only(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    enc = tokenize_chat(tok, CONVERSATION)
    ids, labels = enc["input_ids"], enc["labels"]
    assert len(ids) == len(labels)
    # The template renders the whole conversation; the tokens are the same text.
    assert tok.decode(ids) == tok.apply_chat_template(CONVERSATION, tokenize=False)

    unmasked = [i for i, lab in zip(ids, labels) if lab != -100]
    assert all(lab in (-100, i) for i, lab in zip(ids, labels))
    # Exactly the assistant tokens: each reply's content plus its end-of-turn token, nothing of system/user turns.
    assistant = [m["content"] + "<|im_end|>" for m in CONVERSATION if m["role"] == "assistant"]
    expected = sum(len(tok(a, add_special_tokens=False)["input_ids"]) for a in assistant)
    assert len(unmasked) == expected
    assert tok.decode(unmasked) == "".join(assistant)
    assert "tutor" not in tok.decode(unmasked) and "plus" not in tok.decode(unmasked)

    # The collator keeps the mask (pads with -100) and truncation cuts both sequences alike.
    batch = PadCollator(tok.pad_token_id)([enc, tokenize_chat(tok, CONVERSATION[:3])])
    assert int((batch["labels"][0] != -100).sum()) == expected
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()
    short = tokenize_chat(tok, CONVERSATION, max_seq_len=10)
    assert len(short["input_ids"]) == len(short["labels"]) == 10

    content = tokenize_chat(tok, CONVERSATION[1:3], content_only=True)
    assert tok.decode([i for i, lab in zip(content["input_ids"], content["labels"]) if lab != -100]) == \
        CONVERSATION[2]["content"]


def test_template_that_is_not_prefix_stable_is_refused(tiny_model):
    tok = load_tokenizer(str(tiny_model))
    # A template that drops earlier assistant turns (like reasoning models that strip old thoughts).
    tok.chat_template = ("{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}{{ m['role'] + ': ' + "
                         "m['content'] + '\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}assistant: "
                         "{% endif %}")
    with pytest.raises(AdaptError, match="not prefix-stable"):
        tokenize_chat(tok, CONVERSATION)


# ---------------------------------------------------------------------------------------------------- training

def _config(**kw) -> TrainConfig:
    base = dict(max_samples=None, epochs=1, lr=1e-3, batch_size=4, effective_batch_size=4, max_seq_len=128,
                lora=False, save_steps=2, logging_steps=1, warmup_ratio=0.0, bf16=False)
    return TrainConfig(**{**base, **kw})


def test_train_checkpoints_resume_and_final(tiny_model, corpus, tmp_path):
    out = tmp_path / "run"
    logs: list[str] = []
    r = train_sft(corpus, str(tiny_model), out, _config(max_steps=4), log=logs.append)
    assert r.samples == 20 and r.steps == 4
    assert all(math.isfinite(p["loss"]) for p in r.losses) and len(r.losses) == 4
    assert r.final_loss is not None and math.isfinite(r.final_loss)
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert (out / "final" / "config.json").is_file() and (out / "final" / "tokenizer_config.json").is_file()
    assert not (out / "final.tmp").exists()
    info = json.loads((out / "train.json").read_text())
    assert info["status"] == "done" and info["samples"] == 20 and info["steps"] == 4
    assert info["config"]["lr"] == 1e-3 and len(info["losses"]) == 4 and info["seconds"] > 0
    assert info["label_tokens"] > 0 and info["effective_batch_size"] == 4
    assert any("loss" in line for line in logs)

    # Without resume, a folder holding checkpoints is refused; with another lr, resuming is refused.
    with pytest.raises(AdaptError, match="already holds checkpoints"):
        train_sft(corpus, str(tiny_model), out, _config(max_steps=4))
    with pytest.raises(AdaptError, match=r"config.lr"):
        train_sft(corpus, str(tiny_model), out, _config(max_steps=4, lr=5e-4), resume=True)

    # A run killed after its first checkpoint picks up from it.
    shutil.rmtree(out / "checkpoints" / "checkpoint-4")
    shutil.rmtree(out / "final")
    r2 = train_sft(corpus, str(tiny_model), out, _config(max_steps=4), resume=True)
    assert r2.resumed_from and r2.resumed_from.endswith("checkpoint-2")
    assert r2.steps == 4 and (out / "final" / "config.json").is_file()
    # The loss curve carries over from the checkpoint: steps 1-2 from the first run, 3-4 from this one.
    assert [p["step"] for p in r2.losses] == [1, 2, 3, 4]
    assert r2.losses[:2] == r.losses[:2]


def test_lora_budget_and_merge(tiny_model, corpus, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    cfg = TrainConfig.profile("cpu", max_samples=8, batch_size=4, effective_batch_size=8, lora_r=4, save_steps=50,
                             bf16=False)
    r = train_sft(corpus, str(tiny_model), out, cfg)
    assert r.samples == 8 and r.steps == 1  # 8 samples, effective batch 8 (2 micro-batches accumulated), 1 epoch
    info = json.loads((out / "train.json").read_text())
    assert info["grad_accum"] == 2 and info["records_sampled"] == 8 and info["config"]["lora"] is True
    final = out / "final"
    assert not (final / "adapter_config.json").exists()  # adapters are merged into a plain model
    model = AutoModelForCausalLM.from_pretrained(str(final))
    assert not any("lora" in name for name, _ in model.named_parameters())


def test_too_long_records_are_dropped(tiny_model, corpus, tmp_path):
    with pytest.raises(AdaptError, match="no record has an assistant token within max_seq_len=20"):
        train_sft(corpus, str(tiny_model), tmp_path / "x", _config(max_seq_len=20, max_steps=1))
