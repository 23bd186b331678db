"""Scripted judges for the VDC and DREAM-1K prompts: deterministic answers read from the prompts, plus faults.

The answers are functions of the prompt text (hashes), so a test can compute what the official scorers would make
of them independently. Faults are chosen per request content: ``transient`` ones happen the first time a content
is seen (a retry or a fresh sample then succeeds), ``persistent`` ones every time until ``healthy`` is set.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from helpers.llm_server import RecordedRequest, Reply

LABELS = ("entailment", "neutral", "contradiction")


def unit(text: str, salt: str = "") -> float:
    """A stable pseudo-random number in [0, 1) from ``text``."""
    return int(hashlib.sha256(f"{salt}|{text}".encode()).hexdigest()[:12], 16) / 16**12


# ------------------------------------------------------------------------------------------------------ VDC

_ANSWER = re.compile(r"detailed description: (.*?)(?:, |\n)question: (.*?)(?:\n\n)?DO NOT PROVIDE", re.DOTALL)
_VERDICT = re.compile(r"Question: (.*?)\nCorrect Answer: (.*?)\nPredicted Answer: (.*?)\n\nProvide", re.DOTALL)


MARKERS = ("[blank]", "[garbage]", "[keyless]", "[strscore]", "[indent]", "[listed]")
"""A caption holding one of these gets answers that exercise the scorers' rules: ``[blank]`` every verdict 'no'
with score 0 (a zero video), ``[garbage]`` an unparsable verdict for about a third of the questions (an
unparsable event extraction for DREAM-1K), ``[keyless]`` verdicts without a score for about a third,
``[strscore]`` string scores ('4') for about a third, ``[indent]`` verdicts after a newline and an indent (a
Python literal only once stripped) for about a third, ``[listed]`` verdicts written as a list (``['yes', 4]``)
for about a third."""


def vdc_answer(caption: str, question: str) -> str:
    """Call 1's answer; a leading space on some and a trailing newline on others, to show whether it reaches call 2
    untrimmed; the caption's marker."""
    prefix = " " if unit(question, "space") < 0.2 else ""
    suffix = "\n" if unit(question, "newline") < 0.3 else ""
    marker = next((m for m in MARKERS if m in caption), "")
    return f"{prefix}about {question[:24].lower()} ({unit(caption + question, 'a'):.3f}){marker}{suffix}"


def vdc_verdict(question: str, gt: str, predicted: str) -> str:
    """Call 2's answer: a Python dict; scores are sometimes floats (4.8), 'yes' sometimes capitalised."""
    third = unit(question, "third") < 0.34
    if "[blank]" in predicted:
        return "{'pred': 'no', 'score': 0}"
    if "[garbage]" in predicted and third:
        return "I would say {'pred': 'yes', 'score': 3}"
    if "[keyless]" in predicted and third:
        return "{'pred': 'yes'}"
    if "[strscore]" in predicted and third:
        return "{'pred': 'yes', 'score': '4'}"
    if "[listed]" in predicted and third:
        return "['yes', 4]"
    if "[indent]" in predicted and third:
        return "\n {'pred': 'yes', 'score': 4}"
    value = unit(question + "|" + predicted, "v")
    score = int(value * 6)
    if unit(question, "float") < 0.15:
        score = round(value * 5, 1)
    pred = "yes" if score >= 3 else "no"
    if unit(question, "case") < 0.05:
        pred = pred.capitalize()
    return repr({"pred": pred, "score": score})


# ------------------------------------------------------------------------------------------------- DREAM-1K

_EXTRACT = re.compile(r"Video Description: (.*?)\n\nExtract at most", re.DOTALL)
_ENTAIL = re.compile(r"Video Description:\n(.*?)\n\nEvents: (.*?)\nOutput a JSON", re.DOTALL)


def dream_events(caption: str) -> list[str]:
    """Extraction's answer: the caption's sentences (at most 10)."""
    return [s.strip() for s in caption.split(".") if s.strip()][:10]


def dream_label(description: str, event: str) -> str:
    value = unit(description + "|" + event, "label")
    return LABELS[0] if value < 0.5 else LABELS[1] if value < 0.8 else LABELS[2]


def dream_entailment(description: str, events: list[str]) -> str:
    items = [
        {
            "event": e,
            "relationship": (
                " Entailment "
                if dream_label(description, e) == "entailment" and unit(e, "case") < 0.1
                else dream_label(description, e)
            ),
            "reason": "scripted",
        }
        for e in events
    ]
    text = json.dumps({"events": items})
    return f"```json\n{text}\n```" if unit(description, "fence") < 0.2 else text


# ------------------------------------------------------------------------------------------------- captions


def caption_for(prompt: str) -> str:
    """A captioner's answer to a video request: two sentences that depend on the prompt."""
    return f"A person walks across the room. The person picks up a cup ({unit(prompt, 'caption'):.2f})."


def _has_images(request: RecordedRequest) -> bool:
    return any(
        isinstance(m.get("content"), list) and any(p.get("type") in ("image_url", "video_url") for p in m["content"])
        for m in request.messages
    )


# ---------------------------------------------------------------------------------------------------- faults


@dataclass
class Faults:
    """Which requests fail and how: ``transient`` maps a fault to the share of contents hit the first time they
    are seen; ``persistent`` to the share hit every time (until ``healthy``)."""

    transient: dict[str, float] = field(default_factory=dict)
    persistent: dict[str, float] = field(default_factory=dict)
    healthy: bool = False
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pick(self, content: str) -> str | None:
        if self.healthy:
            return None
        for fault, share in self.persistent.items():
            if unit(content, "p" + fault) < share:
                return fault
        with self.lock:
            first = content not in self.seen
            self.seen.add(content)
        if first:
            for fault, share in self.transient.items():
                if unit(content, "t" + fault) < share:
                    return fault
        return None


def fault_reply(fault: str) -> Reply:
    if fault == "garbage":
        return Reply.ok("Sure! Here is my evaluation: it looks mostly right")
    if fault == "429":
        return Reply.rate_limited(0.01)
    if fault == "500":
        return Reply.error(500)
    if fault == "hang":
        return Reply.never()
    raise ValueError(fault)


def responder(faults: Faults | None = None):
    """One responder for every benchmark's judge prompts (and the preflight ping)."""
    from helpers import scripted_newbench  # it builds on this module's answers

    def respond(request: RecordedRequest) -> Reply:
        user = request.text_of("user")
        fault = faults.pick(user) if faults is not None else None
        if fault == "garbage" and _ANSWER.search(user) and not _VERDICT.search(user):
            fault = None  # VDC's first call answers in free text: any text is an answer, not garbage
        if fault is not None:
            return fault_reply(fault)
        if (answer := scripted_newbench.respond(user)) is not None:  # CaReBench, CAPability
            return Reply.ok(answer)
        if (match := _VERDICT.search(user)) is not None:
            return Reply.ok(vdc_verdict(*match.groups()))
        if (match := _ANSWER.search(user)) is not None:
            return Reply.ok(vdc_answer(*match.groups()))
        if (match := _ENTAIL.search(user)) is not None:
            return Reply.ok(dream_entailment(match.group(1), ast.literal_eval(match.group(2))))
        if (match := _EXTRACT.search(user)) is not None:
            if "[garbage]" in match.group(1):
                return Reply.ok("Here are the events: " + repr({"events": dream_events(match.group(1))}))
            return Reply.ok(repr({"events": dream_events(match.group(1))}))
        if _has_images(request):
            return Reply.ok(caption_for(user))
        return Reply.ok("OK")

    return respond
