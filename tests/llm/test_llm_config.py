import pytest

from owlcap.config import validate_config
from owlcap.errors import ConfigError
from owlcap.llm import LLM, LLMConfig, from_spec, parse_spec
from owlcap.llm.openai_backend import OpenAIBackend
from owlcap.llm.rules import RulesBackend


@pytest.mark.parametrize(
    ("spec", "backend", "model", "url"),
    [
        ("openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1", "openai", "Qwen/Qwen3-32B", "http://127.0.0.1:8000/v1"),
        ("openai:judge@https://host/v1/", "openai", "judge", "https://host/v1"),
        ("openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        ("openai:org@team/model@http://h:1/v1", "openai", "org@team/model", "http://h:1/v1"),
        ("hf:Qwen/Qwen2.5-7B-Instruct", "hf", "Qwen/Qwen2.5-7B-Instruct", None),
        ("hf:./models/tiny", "hf", "./models/tiny", None),
        (" rules ", "rules", "rules", None),
    ],
)
def test_parse_spec(spec, backend, model, url):
    parsed = parse_spec(spec)
    assert (parsed.backend, parsed.model, parsed.base_url) == (backend, model, url)


@pytest.mark.parametrize("spec", ["", "gpt-4", "vllm:model@http://x", "openai:", "hf:", "rules:x", "openai:@http://h"])
def test_bad_specs_say_what_is_expected(spec):
    with pytest.raises(ConfigError, match="model spec|rules backend"):
        parse_spec(spec)


def test_from_spec_builds_backends_and_passes_llms_through():
    rules = from_spec("rules")
    assert isinstance(rules, RulesBackend) and rules.name == "rules"
    remote = from_spec("openai:judge@http://127.0.0.1:9/v1", LLMConfig(concurrency=3))
    assert isinstance(remote, OpenAIBackend)
    assert remote.name == "openai:judge@http://127.0.0.1:9/v1"
    assert remote.config.concurrency == 3
    assert from_spec(remote) is remote
    assert isinstance(remote, LLM)


def test_config_validation_says_what_to_change():
    with pytest.raises(ConfigError, match="raise backoff_max_s"):
        validate_config(LLMConfig, {"backoff_base_s": 10, "backoff_max_s": 1})
    with pytest.raises(ConfigError, match="concurrency"):
        validate_config(LLMConfig, {"concurrency": 0})
    with pytest.raises(ConfigError, match="retries"):
        validate_config(LLMConfig, {"retries": 3})  # a typo of max_retries is an error, not silently ignored


def test_every_config_field_is_documented():
    for name, field in LLMConfig.model_fields.items():
        assert field.description, f"LLMConfig.{name} has no description"


def test_api_key_is_read_from_env_and_never_shown(monkeypatch):
    monkeypatch.setenv("OWLCAP_API_KEY", "sk-secret-123")
    judge = from_spec("openai:judge@http://127.0.0.1:9/v1")
    assert "sk-secret-123" not in repr(judge)
    assert "sk-secret-123" not in judge.name
    assert "sk-secret-123" not in repr(judge.config)
