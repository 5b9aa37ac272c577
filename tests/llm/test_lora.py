"""LoRA adapters as plain tensors: fitting one to a fine-tune's change, PEFT's file format, the peft-free merge, and
the adapter packaged as the embedded chef."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from datachef.llm import models  # noqa: E402
from datachef.llm.base import LLMError  # noqa: E402
from datachef.llm.lora import fit_lora, merge_adapter, read_adapter, write_adapter  # noqa: E402


def _load(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()


def _tuned(base_model, rank: int, seed: int = 0):
    """A copy of the base whose q_proj and down_proj weights moved by a rank-`rank` change (what LoRA training does)."""
    g = torch.Generator().manual_seed(seed)
    state = {k: v.clone() for k, v in base_model.state_dict().items()}
    for key in [k for k in state if k.endswith(("q_proj.weight", "down_proj.weight"))]:
        out_dim, in_dim = state[key].shape
        state[key] += 0.05 * torch.randn(out_dim, rank, generator=g) @ torch.randn(rank, in_dim, generator=g)
    return state


def test_a_change_of_rank_r_is_fitted_exactly_and_merges_back(tiny_model_dir, tmp_path):
    base = _load(tiny_model_dir)
    tuned = _tuned(base, rank=2)
    fit = fit_lora(base.state_dict(), tuned, rank=2)
    assert sorted({m.rsplit(".", 1)[1] for m in fit.a}) == ["down_proj", "q_proj"] and len(fit.a) == 4
    assert fit.relative_error < 1e-4 and min(fit.kept.values()) > 0.9999
    folder = write_adapter(fit, tmp_path / "adapter", base_name="tiny", dtype="float32")
    config, pairs = read_adapter(folder)
    assert config["r"] == 2 and config["lora_alpha"] == 2 and config["target_modules"] == ["down_proj", "q_proj"]
    assert merge_adapter(base, folder) == 4
    for key, value in base.state_dict().items():
        assert torch.allclose(value, tuned[key], atol=1e-5), key


def test_a_lower_rank_keeps_the_largest_part_and_says_how_much(tiny_model_dir):
    base = _load(tiny_model_dir)
    tuned = _tuned(base, rank=4)
    full, one = fit_lora(base.state_dict(), tuned, rank=4), fit_lora(base.state_dict(), tuned, rank=1)
    assert one.relative_error > 0.1 and all(0 < k < 1 for k in one.kept.values())
    assert one.parameters * 4 == full.parameters
    assert abs(one.relative_error ** 2 - (1 - sum(one.kept[m] * _sq(base, tuned, m) for m in one.kept)
                                          / sum(_sq(base, tuned, m) for m in one.kept))) < 1e-4


def _sq(base, tuned, module):
    key = module + ".weight"
    return float(((tuned[key] - base.state_dict()[key]) ** 2).sum())


def test_peft_loads_the_adapter_and_agrees_with_the_merge(tiny_model_dir, tmp_path):
    peft = pytest.importorskip("peft")
    base = _load(tiny_model_dir)
    fit = fit_lora(base.state_dict(), _tuned(base, rank=2), rank=2)
    folder = write_adapter(fit, tmp_path / "adapter", base_name=str(tiny_model_dir), dtype="float32")
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    with torch.no_grad():
        via_peft = peft.PeftModel.from_pretrained(_load(tiny_model_dir), str(folder)).eval()(ids).logits
        merged = _load(tiny_model_dir)
        merge_adapter(merged, folder)
        assert torch.allclose(via_peft, merged(ids).logits, atol=1e-4)
        assert not torch.allclose(via_peft, _load(tiny_model_dir)(ids).logits, atol=1e-3)


def test_changes_a_lora_cannot_carry_and_bad_adapters_are_refused(tiny_model_dir, tmp_path):
    base = _load(tiny_model_dir)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    norm = next(k for k in state if k.endswith("input_layernorm.weight"))
    state[norm] += 1.0
    with pytest.raises(LLMError, match="input_layernorm"):
        fit_lora(base.state_dict(), state, rank=2)
    with pytest.raises(LLMError, match="nothing to export"):
        fit_lora(base.state_dict(), base.state_dict(), rank=2)
    with pytest.raises(LLMError, match="rank"):
        fit_lora(base.state_dict(), state, rank=0)

    folder = write_adapter(fit_lora(base.state_dict(), _tuned(base, 2), rank=2), tmp_path / "a", base_name="tiny")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**cfg, "use_dora": True}))
    with pytest.raises(LLMError, match="use_dora") as e:
        read_adapter(folder)
    assert "adapter_config.json" in str(e.value)
    with pytest.raises(LLMError, match="adapter_config.json"):
        read_adapter(tmp_path)  # not an adapter folder
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    other = models.tiny_random_model(tmp_path / "wider", hidden=32)
    with pytest.raises(LLMError, match="does not fit"):
        merge_adapter(_load(other), folder)


def test_the_packaged_chef_adapter_fits_smollm2_135m():
    """The embedded chef's adapter (chef_adapter/) is a small LoRA over SmolLM2-135M-Instruct's projections: 30
    layers, hidden 576, 3 key/value heads of 64, MLP 1536 (the shapes merge_adapter will check against the model)."""
    folder = models.embedded_chef_adapter()
    config, pairs = read_adapter(folder)
    assert config["base_model_name_or_path"] == models.EMBEDDED_NAME
    assert (folder / "adapter_model.safetensors").stat().st_size < 8 * 2**20  # "a LoRA adapter of a few MB"
    assert (folder / "README.md").is_file()  # how it was trained
    out_in = {"q_proj": (576, 576), "k_proj": (192, 576), "v_proj": (192, 576), "o_proj": (576, 576),
              "gate_proj": (1536, 576), "up_proj": (1536, 576), "down_proj": (576, 1536)}
    layers = {int(m.split(".")[2]) for m in pairs}
    assert layers == set(range(30))
    for module, (a, b) in pairs.items():
        out_dim, in_dim = out_in[module.rsplit(".", 1)[1]]
        assert a.shape == (config["r"], in_dim) and b.shape == (out_dim, config["r"]), module
    assert models.embedded_chef_name().startswith(models.CHEF_NAME + "@")
    assert models.is_embedded_chef("chef") and not models.is_embedded_chef(None) and not models.is_embedded("chef")


@pytest.mark.slow
def test_the_embedded_chef_builds_once_and_changes_only_projections(tmp_path, monkeypatch):
    """The real merge into a fresh cache (after the GGUF conversion): projections moved, embeddings untouched."""
    from datachef.llm.local import TransformersClient

    monkeypatch.setenv("DATACHEF_CACHE", str(tmp_path))
    d = models.embedded_chef_dir()
    assert (d / "model.safetensors").is_file() and models.embedded_chef_dir() == d
    client = TransformersClient("chef", dtype="float32")
    assert client.model == models.embedded_chef_name()
    base = _load(models.embedded_model_dir())
    chef = _load(d)
    assert not torch.equal(base.model.layers[0].self_attn.q_proj.weight, chef.model.layers[0].self_attn.q_proj.weight)
    assert torch.equal(base.model.embed_tokens.weight, chef.model.embed_tokens.weight)
