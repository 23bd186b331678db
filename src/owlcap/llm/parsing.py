"""Turning a model's text into a validated object: strip ``<think>``, find the JSON, validate, ask for a repair."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
Message = dict[str, Any]

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """``schema.model_json_schema()``, computed once per class (pydantic takes about a millisecond each time).
    The dict is shared: do not modify it."""
    return schema.model_json_schema()


def strip_think(text: str) -> str:
    """Remove reasoning: every ``<think>...</think>`` block, an unterminated ``<think>`` tail, and everything before
    a lone ``</think>`` (Qwen3 templates put the opening tag in the prompt, so only the closing one comes back)."""
    text = _THINK_BLOCK.sub("", text)
    if "</think>" in text.lower():
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]
    lowered = text.lower()
    if "<think>" in lowered:
        text = text[: lowered.index("<think>")]
    return text.strip()


def extract_json(text: str) -> object:
    """Parse the JSON value in ``text``: the whole text, a fenced block, or the outermost ``{...}``.

    Raises ``ValueError`` saying what was wrong.
    """
    candidates = [text.strip()]
    candidates += [match.strip() for match in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    error = "no JSON object found"
    for candidate in candidates:
        if not candidate:
            continue
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    raise ValueError(error)


def parse_structured(text: str, schema: type[ModelT]) -> ModelT:
    """Strip reasoning, extract the JSON and validate it against ``schema``; ``ValueError`` explains a failure."""
    data = extract_json(strip_think(text))
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ValueError(f"JSON does not match the schema: {problems}") from exc


def repair_messages(
    messages: list[Message], answer: str, problem: str, schema: type[BaseModel] | None
) -> list[Message]:
    """The conversation for a repair round: the invalid answer, what is wrong, and the schema to follow (when the
    answer has one; otherwise the original instructions stand)."""
    if schema is None:
        request = f"Your answer could not be used: {problem}. Reply again, following the instructions exactly."
    else:
        schema_text = json.dumps(json_schema(schema), ensure_ascii=False)
        request = (
            f"Your answer could not be used: {problem}. Reply again with only one JSON object that follows this "
            f"JSON schema, with no other text:\n{schema_text}"
        )
    return [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": request}]


def response_format(schema: type[BaseModel], mode: str) -> dict | None:
    """The OpenAI ``response_format`` for ``schema`` (``json_schema``/``json_object``), or ``None`` when off."""
    if mode == "off":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema(schema)}}


def message_chars(messages: list[Message]) -> int:
    """Characters of text in ``messages`` (image and video parts are not counted)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(part.get("text", "")) for part in content if part.get("type") == "text")
    return total
