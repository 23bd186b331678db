"""A ``LoopbackLLMServer`` responder that answers owlcap's judge requests like a model would, using ``TextRules``.

It reads the data blocks out of each request (``<caption>``, ``<units>``, ``<reference>``...), so the answers have
realistic sizes and content: the unit tasks get owlcap's compact JSON, the official CSER protocol gets the released
``Pred_units``/``Gt_units`` form. The benchmark uses it too, so both protocols are judged by the same rules.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from helpers.llm_server import RecordedRequest, Reply
from owlcap.llm.rules_text import TextRules

_OFFICIAL = re.compile(r"This is the pred_caption:\s*(.*?)\.?\s*This is the gt_caption:\s*(.*?)\s*$", re.DOTALL)


def block(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return html.unescape(match.group(1)) if match else None


def numbered_units(text: str | None) -> list[str]:
    if not text:
        return []
    return [re.sub(r"^\d+\.\s*", "", line).strip() for line in text.splitlines() if line.strip()]


def answer_for(request: RecordedRequest, rules: TextRules) -> dict[str, Any] | None:
    """The JSON answer to one owlcap judge request, or ``None`` when the request is not one."""
    user = request.text_of("user")
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    name = request.schema_name
    if name == "UnitList":
        return {"units": rules.split(block(user, "caption") or "")}
    if name == "VerdictList":
        units, text = numbered_units(block(user, "units")), block(user, "text")
        # A video request has no text block: this responder cannot see video, so it agrees with every unit.
        return {"verdicts": [yes(text is None or rules.supports(u, text)) for u in units]}
    if name == "PairJudgement":
        prediction, reference = block(user, "prediction") or "", block(user, "reference") or ""
        pred_units = rules.split(prediction)
        return {
            "pred_units": pred_units,
            "pred_supported": [yes(rules.supports(u, reference)) for u in pred_units],
            "ref_covered": [yes(rules.supports(u, prediction)) for u in numbered_units(block(user, "reference_units"))],
        }
    match = _OFFICIAL.search(user)
    if match:
        prediction, reference = match.group(1), match.group(2)
        as_units = lambda units, other: [  # noqa: E731
            {"units": u, "response": "Yes" if rules.supports(u, other) else "No"} for u in units
        ]
        return {
            "Pred_units": as_units(rules.split(prediction), reference),
            "Gt_units": as_units(rules.split(reference), prediction),
        }
    return None


def rules_responder(*, rules: TextRules | None = None, think: str | None = None, fence: bool = False):
    """A responder answering judge requests with ``rules``; ``think`` prepends a ``<think>`` block, ``fence``
    wraps the JSON in a markdown code fence (both must be tolerated by the client). Other requests get "ok"."""
    rules = rules or TextRules()

    def respond(request: RecordedRequest) -> Reply:
        data = answer_for(request, rules)
        if data is None:
            return Reply.ok("ok")
        text = json.dumps(data, ensure_ascii=False)
        if fence:
            text = f"```json\n{text}\n```"
        if think is not None:
            text = f"<think>{think}</think>\n{text}"
        return Reply.ok(text)

    return respond
