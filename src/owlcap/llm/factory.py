"""``from_spec``: one string (``openai:<model>@<url>[,<url>...]``, ``hf:<path>``, ``rules``) to a ready ``LLM``."""

from __future__ import annotations

from owlcap.llm.base import LLM
from owlcap.llm.config import LLMConfig, ModelSpec, parse_spec


def from_spec(spec: str | ModelSpec | LLM, config: LLMConfig | None = None) -> LLM:
    """Build the backend a spec names. An ``LLM`` passes through unchanged (so APIs can take either)."""
    if isinstance(spec, LLM):
        return spec
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.backend == "rules":
        from owlcap.llm.rules import RulesBackend

        return RulesBackend(config)
    if parsed.backend == "openai":
        from owlcap.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(parsed.model, parsed.base_url, config, base_urls=parsed.base_urls or None)
    from owlcap.llm.hf_backend import HFBackend

    return HFBackend(parsed.model, config)
