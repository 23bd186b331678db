"""A loopback-server responder that plays every HMD model: motion captioner, fusion model, splitter and verifier.

It recognises each request by its shape (the response_format schema, the data blocks of owlcap's prompts), so one
scripted server stands in for all four stages. Answers are deterministic functions of the request: the motion
caption names a ball whose colour comes from a digest of the first frame sent, so different videos get different
captions, and two runs (or two engines) over the same inputs get the same answers. The verifier answers "no" to
every unit containing one of ``reject`` (case-insensitive) and "yes" to the rest; per-unit requests can be answered
with logprobs (``logprobs=True``), as vLLM does.
"""

from __future__ import annotations

import hashlib
import json
import math

from helpers.judge_responder import block, numbered_units
from helpers.llm_server import RecordedRequest, Reply
from owlcap.llm.rules_text import TextRules

COLOURS = ("red", "green", "blue")
DETAIL = "The ball is made of rubber. The floor is wooden. The camera stays still."


def colour_of(request: RecordedRequest) -> str:
    """The colour a request's video gets: a digest of its first frame (the same video always gets the same one)."""
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") == "image_url":
                    digest = hashlib.sha1(part["image_url"]["url"].encode()).digest()
                    return COLOURS[digest[0] % len(COLOURS)]
    return "grey"


def motion_caption(colour: str) -> str:
    return f"A {colour} ball rolls across the floor and stops."


def logprob_body(text: str, p_yes: float) -> str:
    """A chat.completion body whose first token carries yes/no top_logprobs."""
    tops = [{"token": "yes", "logprob": math.log(p_yes), "bytes": None}]
    tops.append({"token": "no", "logprob": math.log(1 - p_yes), "bytes": None})
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": "stop",
        "logprobs": {"content": [{"token": text, "logprob": -0.05, "bytes": None, "top_logprobs": tops}]},
    }
    usage = {"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101}
    return json.dumps(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "verifier", "choices": [choice], "usage": usage}
    )


def hmd_responder(*, reject: tuple[str, ...] = (), logprobs: bool = False, rules: TextRules | None = None):
    rules = rules or TextRules()

    def rejected(unit: str) -> bool:
        return any(pattern.lower() in unit.lower() for pattern in reject)

    def respond(request: RecordedRequest) -> Reply | str:
        user, system, name = request.text_of("user"), request.text_of("system"), request.schema_name
        if name == "UnitList":
            return json.dumps({"units": rules.split(block(user, "caption") or "")})
        if name == "VerdictList":
            units = numbered_units(block(user, "units"))
            return json.dumps({"verdicts": ["no" if rejected(u) else "yes" for u in units]})
        if "one information unit" in system:
            verdict = "no" if rejected(block(user, "unit") or "") else "yes"
            if logprobs and (request.body or {}).get("logprobs"):
                return Reply(body=logprob_body(verdict, 0.2 if verdict == "no" else 0.85))
            return verdict
        if "<motion_caption>" in user:
            return f"{block(user, 'motion_caption')} {DETAIL}"
        if "Describe this video" in user:
            return motion_caption(colour_of(request))
        if user == "Reply with OK.":  # the build's check that each server answers
            return "OK"
        return Reply.error(400, "unexpected request")

    return respond


def specs_for(server) -> dict[str, str]:
    """The four model specs of a build, all pointing at one loopback server (one model name per stage)."""
    return {stage: f"openai:{stage}@{server.base_url}" for stage in ("motion", "fusion", "splitter", "verifier")}


def stage_of(request: RecordedRequest) -> str:
    """Which stage sent a recorded request (the model name of its spec)."""
    return (request.body or {}).get("model", "")
