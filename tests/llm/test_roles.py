"""`make_role_client`: the argument rules every command shares, the shared embedded model, the lazy local judge."""
from __future__ import annotations

import pytest

from datachef.llm import ClientSpec, LLMClient, LLMError, RoleFlags, make_role_client
from datachef.llm.models import EMBEDDED_NAME, embedded_chef_name
from datachef.llm.openai_client import OpenAIClient


class InProcess(LLMClient):
    """Stands for a loaded transformers model (nothing is loaded)."""

    backend = "transformers"

    def _chat_batch(self, batch, params, json_schema):
        raise AssertionError("not called")


@pytest.mark.parametrize("role, kind, model, base_url, message", [
    ("chef", "openai", None, "http://127.0.0.1:1/v1", "--chef openai needs --model and --base-url"),
    ("judge", "openai", "m", None, "--judge openai needs --judge-model and --judge-base-url"),
    ("coder", "local", "m", "http://127.0.0.1:1/v1", "--base-url is for --chef openai"),
    ("served", "ollama", None, None, "--kind must be local or openai, not 'ollama'"),
    ("llm", None, "m", None, "--model needs --llm local|openai"),
    ("llm", None, None, "http://127.0.0.1:1/v1", "--base-url needs --llm local|openai"),
])
def test_argument_errors_name_the_roles_flags(role, kind, model, base_url, message, tmp_path):
    with pytest.raises(LLMError, match=message):
        make_role_client(role, kind, model, base_url, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists()  # nothing created for a bad call


def test_flags_override_names_other_spellings():
    with pytest.raises(LLMError, match="--judge openai needs --model and --base-url"):
        make_role_client("judge", "openai", flags=RoleFlags("--judge", "--model", "--base-url"))


def test_no_kind_means_no_client():
    assert make_role_client("llm", None) is None


def test_local_judge_is_lazy_and_shares_the_chefs_model(tmp_path):
    assert make_role_client("judge", "local") == "local"  # the Verifier loads it on first use
    assert make_role_client("judge", "local", "smollm2") == "local"  # an alias of the embedded model
    embedded = InProcess(EMBEDDED_NAME)
    assert make_role_client("judge", "local", share=embedded) is embedded
    assert make_role_client("coder", "local", "embedded", share=embedded) is embedded
    folder = tmp_path / "model"
    other = InProcess(str(folder.resolve()))
    assert make_role_client("judge", "local", str(folder), share=other) is other
    assert make_role_client("judge", "local", share=other) == "local"  # a different model: not shared
    # The embedded chef (base + packaged adapter) is another model: the judge stays the base model.
    chef = InProcess(embedded_chef_name())
    assert make_role_client("judge", "local", share=chef) == "local"
    assert make_role_client("coder", "local", "chef", share=chef) is chef


def test_openai_roles_build_a_client_and_never_share(tmp_path):
    embedded = InProcess(EMBEDDED_NAME)
    c = make_role_client("judge", "openai", "m", "http://127.0.0.1:1/v1", share=embedded, cache_dir=False)
    assert isinstance(c, OpenAIClient) and c.model == "m" and c.cache is None
    chef = make_role_client("chef", "openai", "m", "http://127.0.0.1:1/v1", cache_dir=tmp_path / "c")
    assert make_role_client("judge", "openai", "m", "http://127.0.0.1:1/v1", share=chef) is not chef


def test_a_spec_is_checked_when_made_and_built_later():
    with pytest.raises(LLMError, match="--judge openai needs"):
        ClientSpec("judge", "openai", "m")
    spec = ClientSpec("chef", "local")
    embedded = InProcess(EMBEDDED_NAME)
    assert spec.build(share=embedded) is embedded
