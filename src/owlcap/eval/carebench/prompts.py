"""CaReBench judge prompts and the official parsers of their answers.

Per sample and aspect (events, objects): the units extracted from the prediction (and from the reference when the
annotation has none); the reference's units judged against the prediction (recall); the prediction's units judged
against the reference (precision). The answers are read exactly as ``MCG-NJU/CaReBench`` ``utils/dream_gpt.py``
reads them, which is Tarsier's DREAM-1K code with an objects copy (``owlcap.eval.dream1k.prompts``: fences removed
then ``ast.literal_eval(...)[key]`` for extraction; the clean-up, ``json.loads`` and the label check for
entailment, the objects answer cleaned of ``{Objects:`` instead of ``{Events:``). An answer that does not parse is
sampled again, up to the judge's ``parse_attempts`` (official 10). ``offline_*`` are the recipes of the offline
``rules`` judge (demos, tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from owlcap.eval.carebench.config import CareProtocol
from owlcap.eval.dream1k.prompts import entailment_parser, parse_events, parse_listing
from owlcap.eval.prompt_sets import PromptSet, fill
from owlcap.llm import Message
from owlcap.llm.rules_text import TextRules

VERSION = "1"
MAX_UNITS = 10  # the extraction prompts' "at most 10 key events/objects"


def parse_objects(text: str) -> dict[str, Any]:
    """Object extraction's answer (``parse_listing`` under ``objects``): the official ``extract_objects``."""
    return parse_listing(text, "objects")


@dataclass(frozen=True)
class Aspect:
    """One kind of unit: its prompt texts, the placeholder of its list, the answer's key and the parsers."""

    name: str
    extraction: str
    entailment: str
    placeholder: str
    marker: str
    parse_extraction: Callable[[str], dict[str, Any]]

    @property
    def singular(self) -> str:
        return self.name[:-1]

    def entailment_parser(self, expected: int) -> Callable[[str], list[dict[str, Any]]]:
        return entailment_parser(expected, key=self.name, marker=self.marker)


ASPECTS = {
    "events": Aspect("events", "event_extraction", "event_entailment", "EVENTS_PYTHON_REPR", "{Events:", parse_events),
    "objects": Aspect(
        "objects", "object_extraction", "object_entailment", "OBJECTS_PYTHON_REPR", "{Objects:", parse_objects
    ),
}

REQUIRED = {
    ("caption_prompt",): (),
    ("judge", "event_extraction", "user"): ("CAPTION",),
    ("judge", "object_extraction", "user"): ("CAPTION",),
    ("judge", "event_entailment", "user"): ("DESCRIPTION", "EVENTS_PYTHON_REPR"),
    ("judge", "object_entailment", "user"): ("DESCRIPTION", "OBJECTS_PYTHON_REPR"),
}
"""Every text a CaReBench prompt set must hold, with the placeholders it must contain."""


def kind(aspect: str, call: str) -> str:
    return f"carebench.{aspect}.{call}"


def extraction_caption(caption: str, protocol: CareProtocol) -> str:
    text = caption.lower() if protocol.lowercase_captions else caption
    return text.replace('"', "'") if protocol.quote_replace_in_extraction else text


def extraction_messages(prompts: PromptSet, caption: str, aspect: Aspect, protocol: CareProtocol) -> list[Message]:
    """Units extracted from ``caption`` (the prediction or the reference): one user message, no system message."""
    user = fill(prompts.get("judge", aspect.extraction, "user"), CAPTION=extraction_caption(caption, protocol))
    return [{"role": "user", "content": user}]


def _render(units: list[Any], units_repr: str | None, protocol: CareProtocol) -> str:
    if protocol.units_render == "json":
        return json.dumps(units, ensure_ascii=False)
    return units_repr if units_repr is not None else str(units)


def shown_units(units: list[Any], other_caption: str, protocol: CareProtocol) -> list[Any]:
    """The list the entailment prompt shows: ``units``, or for an empty list ``[other caption]`` (lowercased as the
    captions are, newlines as spaces), as the official code substitutes it."""
    if units:
        return units
    lower = str.lower if protocol.lowercase_captions else str
    return [lower(other_caption).replace("\n", " ")]


def entailment_messages(
    prompts: PromptSet,
    aspect: Aspect,
    description: str,
    units: list[Any],
    other_caption: str,
    protocol: CareProtocol,
    *,
    units_repr: str | None = None,
) -> list[Message]:
    """Judge ``units`` against ``description`` (see ``shown_units`` for an empty list)."""
    lower = str.lower if protocol.lowercase_captions else str
    shown = shown_units(units, other_caption, protocol)
    rendered = _render(shown, units_repr if units else None, protocol)
    user = fill(
        prompts.get("judge", aspect.entailment, "user"),
        DESCRIPTION=lower(description),
        **{aspect.placeholder: rendered},
    )
    return [{"role": "user", "content": user}]


# ------------------------------------------------------------------------------------------ offline recipes
# What the ``rules`` judge answers (demos and tests; weak by design, see owlcap.llm.rules_text), in the official
# formats, so the official parsers read them as they read a model's.


def offline_extraction(caption: str, aspect: Aspect, protocol: CareProtocol) -> Callable[[TextRules], str]:
    """Extraction offline: the caption's sentences and clauses (``TextRules.split``, on the caption's own casing),
    the first ``MAX_UNITS``, as the official Python dict. The rules cannot tell an action from an object: every
    clause is a unit of both kinds."""

    def extract(rules: TextRules) -> str:
        units = [extraction_caption(unit, protocol) for unit in rules.split(caption)[:MAX_UNITS]]
        return repr({aspect.name: units})

    return extract


def offline_entailment(
    aspect: Aspect, description: str, units: list[Any], other_caption: str, protocol: CareProtocol
) -> Callable[[TextRules], str]:
    """Entailment offline: each unit shown is "entailment" when ``TextRules.support_score`` reaches the rules'
    threshold in the description, else "neutral" (the rules never see a contradiction); the official JSON."""
    shown = [str(unit) for unit in shown_units(units, other_caption, protocol)]

    def judge(rules: TextRules) -> str:
        judged = []
        for unit in shown:
            share = rules.support_score(unit, description)
            relationship = "entailment" if share >= rules.threshold else "neutral"
            reason = f"{share:.0%} of its content words occur together in the description"
            judged.append({aspect.singular: unit, "relationship": relationship, "reason": reason})
        return json.dumps({aspect.name: judged}, ensure_ascii=False, indent=2)

    return judge
