"""The request/answer shapes shared by every backend: ``Task``, ``Generation`` and ``Outcome``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from owlcap.hashing import json_digest
from owlcap.llm.parsing import json_schema

if TYPE_CHECKING:
    from owlcap.llm.rules_text import TextRules

T = TypeVar("T")

Message = dict[str, Any]
"""An OpenAI-style chat message. ``content`` is a string or a list of parts: ``{"type": "text", "text": ...}``,
``{"type": "image_url", ...}`` or owlcap's ``{"type": "video", "video": SampledVideo, "path": optional str}``."""


@dataclass(frozen=True)
class Task:
    """One structured model call, described so that every backend can answer it and the cache can key it.

    ``kind`` and ``version`` name the prompt (a prompt change bumps the version, which invalidates cached answers);
    ``inputs`` are the JSON-able data the prompt was rendered from (the cache key and the ``rules`` backend read
    them); ``offline`` computes the answer with the deterministic text rules, or is ``None`` when only a model can
    answer (e.g. verification against a video). ``check`` raises ``ValueError`` when a schema-valid answer is still
    unusable (e.g. one verdict missing), which triggers a repair round.

    Answers come in three shapes: a ``schema`` instance (JSON found in the answer, validated by pydantic); with
    ``schema=None`` and a ``parse`` function, whatever ``parse(text)`` returns (it must be JSON-able, and raise
    ``ValueError`` for an unusable answer: an official scorer's own parser, say); with neither, the text itself.
    ``<think>`` blocks are stripped first in every case. An invalid answer is followed by a repair round that
    shows the model its answer (``on_invalid="repair"``) or by the same request again, as a fresh sample
    (``"resample"``: what official scorers do); ``max_attempts`` answers in all (default: 1 + the config's
    ``repair_rounds``), then ``JudgeError``.
    """

    kind: str
    version: str
    messages: list[Message]
    schema: type[BaseModel] | None
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    check: Callable[[Any], None] | None = None
    offline: Callable[[TextRules], Any] | None = None
    parse: Callable[[str], Any] | None = None
    on_invalid: Literal["repair", "resample"] = "repair"
    max_attempts: int | None = None
    cache: bool = True
    """``False``: never answered from the result cache nor written to it (a replay of a scorer that samples every
    request anew, e.g. the released OwlCap reward)."""

    def cache_key(self, backend: str, model: str) -> str:
        """Stable key over backend, model, prompt version, inputs, schema and sampling options."""
        payload = {
            "backend": backend,
            "model": model,
            "kind": self.kind,
            "version": self.version,
            "inputs": self.inputs,
            "schema": json_schema(self.schema) if self.schema is not None else None,
            "options": self.options,
        }
        if self.parse is not None:
            payload["parse"] = _callable_name(self.parse)
        return json_digest(payload)


def _callable_name(function: Callable[..., Any] | None) -> str | None:
    if function is None:
        return None
    return f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', repr(function))}"


@dataclass(frozen=True)
class Answer(Generic[T]):
    """``LLM.answer``'s result: the value (schema instance, parsed value or text), the raw answer it came from,
    how many answers were requested to get it (0 when it came from the cache) and whether it was cached."""

    value: T
    raw: str | None
    attempts: int
    cached: bool = False


@dataclass(frozen=True)
class Generation:
    """What a backend returns for one request: the raw text and token counts when the backend reports them."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """Result of one item of ``chat_many``: a value, or the error that ended it (never both)."""

    index: int
    value: T | None
    error: str | None
    latency_s: float

    @property
    def ok(self) -> bool:
        return self.error is None
