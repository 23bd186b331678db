"""DREAM-1K (AutoDQ) judge prompts and the official parsers of their answers.

Three calls per sample: events extracted from the prediction; the GT events judged against the prediction
(recall); the extracted events judged against the reference (precision). Each answer is parsed exactly as Tarsier's
``evaluate_dream_gpt.py`` does (``parse_events``, ``clean_entailment``, ``entailment_parser``); an answer that does
not parse is sampled again, up to the judge's ``parse_attempts`` (official 10), by ``owlcap.llm``.
``offline_events`` / ``offline_entailment`` are the calls' recipes for the offline ``rules`` judge (demos, tests).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any

from owlcap.eval.dream1k.config import DreamProtocol
from owlcap.eval.prompt_sets import PromptSet, fill
from owlcap.llm import Message
from owlcap.llm.rules_text import TextRules

EXTRACT_KIND, ENTAIL_KIND = "dream1k.events", "dream1k.entailment"
VERSION = "1"
LABELS = ("entailment", "neutral", "contradiction")

REQUIRED = {
    ("caption_prompt",): (),
    ("judge", "event_extraction", "user"): ("CAPTION",),
    ("judge", "entailment", "user"): ("DESCRIPTION", "EVENTS_PYTHON_REPR"),
}
"""Every text a DREAM-1K prompt set must hold, with the placeholders it must contain."""

_FENCES = ("```json", "```python")


def _unfence(text: str) -> str:
    """The official fence removal: only when the text *starts* with a fence, every fence and ``` go."""
    for fence in _FENCES:
        if text.startswith(fence):
            return text.replace(fence, "").replace("```", "").strip()
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def parse_listing(text: str, key: str) -> dict[str, Any]:
    """An extraction answer: fences removed, ``ast.literal_eval(text)[key]``, a list whose first item (if any) is a
    string (only the first is checked, as officially). Returns the items (under ``key``) and their Python repr
    (what the entailment prompt shows, exactly as ``str(list)`` would)."""
    body = _unfence(text)
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a Python literal ({type(exc).__name__}): {text[:200]!r}") from None
    try:
        items = value[key]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"no {key!r} in the answer: {text[:200]!r}") from None
    if not isinstance(items, list) or (items and not isinstance(items[0], str)):
        raise ValueError(f"{key!r} is not a list of strings: {text[:200]!r}")
    return {key: _jsonable(items), "repr": str(items)}


def parse_events(text: str) -> dict[str, Any]:
    """Event extraction's answer (``parse_listing`` under ``events``): Tarsier's ``parse_events``."""
    return parse_listing(text, "events")


def clean_entailment(text: str, marker: str = "{Events:") -> str:
    """The official clean-up of an entailment answer before ``json.loads``, step by step in the official order
    (``\\s+`` turns every newline into a space first, so the later newline patterns never match); ``marker`` is
    the prefix removed last (CaReBench's object judging removes ``{Objects:``)."""
    text = text.strip()
    text = re.sub(r"\n+", "\n", text)
    text = re.sub(r"\s+", " ", text)
    text = _unfence(text)
    if not text.startswith("{"):
        text = "{" + text
    if not text.endswith("}"):
        text = text + "}"
    text = text.replace("True", "true").replace("False", "false")
    text = text.replace("} {", "}, {").replace("}{", "}, {")
    for closing in ("}", "]"):
        for dangling in (",\n", ", \n"):
            text = text.replace(dangling + closing, "\n" + closing)
        text = text.replace(", " + closing, closing).replace("," + closing, closing)
    text = text.replace("[Placeholder]", "null")
    return text.replace(marker, "").strip()


def entailment_parser(expected: int, key: str = "events", marker: str = "{Events:") -> Callable[[str], list[dict]]:
    """The parser of an entailment answer for a list of ``expected`` items (0: the other caption stood in) under
    ``key``. The official length test is ``len(items) == len(answer) or (len(items) == 0 and len(answer) == 1)``:
    for an empty list one item (the stand-in) or none at all is accepted."""
    singular = key[:-1]

    def parse_entailment(text: str) -> list[dict[str, Any]]:
        cleaned = clean_entailment(text, marker)
        try:
            filled = json.loads(cleaned)[key]
        except (json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not the expected JSON ({type(exc).__name__}): {text[:200]!r}") from None
        count = len(filled) if isinstance(filled, list | dict | str) else None
        if count is None or not (count == expected or (expected == 0 and count == 1)):
            wanted = "1 (or 0)" if expected == 0 else str(expected)
            raise ValueError(f"{'no' if count is None else count} {key} judged, {wanted} expected")
        judged = []
        for item in filled:
            relationship = item.get("relationship") if isinstance(item, dict) else None
            if not isinstance(relationship, str) or relationship.strip().lower() not in LABELS:
                raise ValueError(f"invalid relationship in {str(item)[:120]!r}")
            judged.append(
                {
                    singular: _jsonable(item.get(singular)),
                    "relationship": relationship.strip().lower(),
                    "reason": _jsonable(item.get("reason")),
                }
            )
        return judged

    return parse_entailment


def extraction_caption(prediction: str, protocol: DreamProtocol) -> str:
    caption = prediction.lower() if protocol.lowercase_captions else prediction
    return caption.replace('"', "'") if protocol.quote_replace_in_extraction else caption


def extraction_messages(prompts: PromptSet, prediction: str, protocol: DreamProtocol) -> list[Message]:
    """Event extraction from the prediction: one user message, no system message (official)."""
    user = fill(prompts.get("judge", "event_extraction", "user"), CAPTION=extraction_caption(prediction, protocol))
    return [{"role": "user", "content": user}]


def render_events(events: list[Any], events_repr: str | None, protocol: DreamProtocol) -> str:
    if protocol.events_render == "json":
        return json.dumps(events, ensure_ascii=False)
    return events_repr if events_repr is not None else str(events)


def entailment_messages(
    prompts: PromptSet,
    description: str,
    events: list[Any],
    other_caption: str,
    protocol: DreamProtocol,
    *,
    events_repr: str | None = None,
) -> list[Message]:
    """Judge ``events`` against ``description``. An empty list is replaced by ``[other_caption]`` with newlines as
    spaces, as officially (the judge must still answer one item; its label is ignored)."""
    lower = str.lower if protocol.lowercase_captions else str
    if events:
        rendered = render_events(events, events_repr, protocol)
    else:
        rendered = render_events([lower(other_caption).replace("\n", " ")], None, protocol)
    user = fill(prompts.get("judge", "entailment", "user"), DESCRIPTION=lower(description), EVENTS_PYTHON_REPR=rendered)
    return [{"role": "user", "content": user}]


# ------------------------------------------------------------------------------------------ offline recipes
# What the ``rules`` judge answers (demos and tests; weak by design, see owlcap.llm.rules_text). The answers take the
# official formats, so the official parsers (parse_events, entailment_parser) read them as they read a model's.

MAX_EVENTS = 10  # the extraction prompt's "at most 10 key events"


def offline_events(prediction: str, protocol: DreamProtocol) -> Callable[[TextRules], str]:
    """Extraction offline: the caption split into sentences and clauses (``TextRules.split``; sentence ends are
    found on the caption's own casing, before the protocol lowercases it), the first ``MAX_EVENTS``, written as
    the official Python dict. The rules cannot tell an action from a static detail: every clause is an "event"."""

    def extract(rules: TextRules) -> str:
        events = [extraction_caption(unit, protocol) for unit in rules.split(prediction)[:MAX_EVENTS]]
        return repr({"events": events})

    return extract


def offline_entailment(
    description: str, events: list[Any], other_caption: str, protocol: DreamProtocol
) -> Callable[[TextRules], str]:
    """Entailment offline: each event shown (the other caption when the list is empty, as the prompt shows it) is
    "entailment" when ``TextRules.supports`` finds it in the description, else "neutral" (the rules never see a
    contradiction); written as the official JSON."""
    lower = str.lower if protocol.lowercase_captions else str
    shown = [str(event) for event in events] or [lower(other_caption).replace("\n", " ")]

    def judge(rules: TextRules) -> str:
        judged = []
        for event in shown:
            share = rules.support_score(event, description)
            relationship = "entailment" if share >= rules.threshold else "neutral"
            reason = f"{share:.0%} of the event's content words occur together in the description"
            judged.append({"event": event, "relationship": relationship, "reason": reason})
        return json.dumps({"events": judged}, ensure_ascii=False, indent=2)

    return judge
