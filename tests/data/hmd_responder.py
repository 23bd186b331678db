"""A loopback-server responder that plays every HMD model: motion captioner, fusion model, splitter and verifier.

It recognises each request by its shape (the response_format schema, the data blocks of owlcap's prompts), so one
scripted server can stand in for all four stages. Answers are deterministic functions of the request, so two runs
(or two engines) over the same inputs produce the same records. ``reject`` lists unit texts (or substrings) the
verifier answers "no" to; every other unit is "yes".
"""

from __future__ import annotations

import json
import re

from helpers.judge_responder import block, numbered_units
from helpers.llm_server import RecordedRequest, Reply

from owlcap.llm.rules_text import TextRules

MOTION = "A person walks to a table, picks up a cup and drinks from it."
DETAIL = "The person wears a red shirt. The table is wooden. The camera stays still."


def _frames(request: RecordedRequest) -> int:
    content = request.messages[-1].get("content") if request.messages else None
    if not isinstance(content, list):
        return 0
    return sum(part.get("type") == "image_url" for part in content)


def hmd_responder(*, reject: tuple[str, ...] = (), rules: TextRules | None = None):
    rules = rules or TextRules()

    def rejected(unit: str) -> bool:
        return any(pattern.lower() in unit.lower() for pattern in reject)

    def respond(request: RecordedRequest) -> Reply | str:
        user = request.text_of("user")
        system = request.text_of("system")
        name = request.schema_name
        if name == "UnitList":
            return json.dumps({"units": rules.split(block(user, "caption") or "")})
        if name == "VerdictList":
            units = numbered_units(block(user, "units"))
            return json.dumps({"verdicts": ["no" if rejected(u) else "yes" for u in units]})
        if "one information unit" in system:
            unit = block(user, "unit") or ""
            return "no" if rejected(unit) else "yes"
        if "<motion_caption>" in user:
            motion = block(user, "motion_caption") or ""
            return f"{motion} {DETAIL}"
        if "Describe this video" in user:
            return f"{MOTION} The clip has {_frames(request)} frames."
        return Reply.error(400, "unexpected request")

    return respond


def spec_for(server) -> dict[str, str]:
    """The four model specs of a build, all pointing at one loopback server."""
    url = server.base_url
    return {
        "motion": f"openai:motion@{url}",
        "fusion": f"openai:fusion@{url}",
        "splitter": f"openai:splitter@{url}",
        "verifier": f"openai:verifier@{url}",
    }


UNIT_PATTERN = re.compile(r"\d+\. ")
