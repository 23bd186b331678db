"""Scripted judges for the CaReBench and CAPability prompts: deterministic answers read from the prompts.

Like ``scripted_judges`` (VDC, DREAM-1K), every answer is a function of the prompt's content, so a test computes
what the official scorers make of it without asking the judge. Answers vary in the ways real judges' do (fences,
scores as strings, classification lists written as strings), and caption markers exercise the official rules:

- CaReBench: ``[objgarbage]`` in a caption makes its object extraction unparsable (every attempt): the sample
  fails, events and objects alike (the official ``process_one_sample`` raises).
- CAPability: ``[garbage]`` makes every answer about the caption unparsable; ``[dictnum]`` answers counts as a
  ``{object: n}`` dict with an integer (the official check calls ``.strip()`` on it and refuses it);
  ``[explain]`` answers a camera movement with the full category explanation (the official check fails on it);
  ``[silent]`` answers every question about the caption with 0 / 'N/A' (a dimension without a hit).
"""

from __future__ import annotations

import ast
import json
import re

from helpers.scripted_judges import dream_label, unit

# ------------------------------------------------------------------------------------------------ CaReBench

CARE_EXTRACT = re.compile(
    r"^Below is a description of a video clip:\nVideo Description: (.*?)\n\nExtract at most 10 key (events|objects)",
    re.DOTALL,
)
CARE_OBJECTS = re.compile(r"Video Description:\n(.*?)\n\nObjects: (.*?)\nOutput a JSON", re.DOTALL)


def care_events(caption: str) -> list[str]:
    """Event extraction's answer: the caption's sentences (at most 10)."""
    return [s.strip() for s in caption.split(".") if s.strip()][:10]


def care_objects(caption: str) -> list[str]:
    """Object extraction's answer: 'there is <word>' for the caption's long words (at most 6, first seen)."""
    words = dict.fromkeys(w for w in re.findall(r"[a-z]+", caption.lower()) if len(w) > 5)
    return [f"there is a {w}" for w in list(words)[:6]]


def care_extraction(caption: str, kind: str) -> str:
    if kind == "objects" and "[objgarbage]" in caption:
        return "The objects are: a man, a dog."
    units = care_events(caption) if kind == "events" else care_objects(caption)
    text = repr({kind: units})
    return f"```python\n{text}\n```" if unit(caption, "fence" + kind) < 0.3 else text


def care_object_entailment(description: str, objects: list[str]) -> str:
    items = [{"object": o, "relationship": dream_label(description, o), "reason": "scripted"} for o in objects]
    return json.dumps({"objects": items}, indent=2)


# ----------------------------------------------------------------------------------------------- CAPability

CAP_FIELDS = {
    "Event": "event",
    "Action": "action",
    "Object": "object_category",
    "Spatial Relationship": "spatial_relation",
    "Scene": "scene",
    "OCR Text": "OCR",
    "name": "character_identification",
}
_SCORED = re.compile(
    r"^Given an? (?:video|image) caption and .*?\n(?:Video|Image) Caption: (.*?)\n("
    + "|".join(CAP_FIELDS)
    + r"): (.*?)\nPlease analyze",
    re.DOTALL,
)
_PAIR = re.compile(
    r"^Given an? (video|image) caption and the (number|color) of an object.*?\n(?:Video|Image) Caption: (.*?)\n"
    r"Object (?:Number|Color): \{(.*?): (.*?)\}\n",
    re.DOTALL,
)
_CLASSIFY = re.compile(
    r"^Given an? (?:video|image) caption, your task is to determine which "
    r"(kind of camera angles|kind of camera movement|category of image style).*?\n(?:Video|Image) Caption: (.*?)\n"
    r"Please analyze",
    re.DOTALL,
)
CLASSIFY_TASKS = {
    "kind of camera angles": "camera_angle",
    "kind of camera movement": "camera_movement",
    "category of image style": "style",
}
CAP_CATEGORIES = {
    "camera_angle": ["level angle", "high angle", "low angle", "dutch angle"],
    "camera_movement": ["left", "right", "up", "down", "in", "out", "fixed"],
    "style": ["realistic", "animated", "special effect", "old-fashioned", "pixel art"],
}
MOVEMENT_EXPLAINED = "left: the camera angle swings left (pan left), or the camera moves left (track left)"


def cap_score(caption: str, task: str, value: str) -> int:
    if "[silent]" in caption:
        return 0
    return (1, 0, -1)[int(unit(f"{task}|{value}|{caption}", "score") * 3)]


def cap_scored_answer(task: str, caption: str, value: str) -> str:
    """A score answer: a JSON dict, its score an int or a string, sometimes fenced."""
    if "[garbage]" in caption:
        return "I think the caption mentions it."
    score = cap_score(caption, task, value)
    shown = str(score) if unit(caption + task, "strscore") < 0.5 else score
    text = json.dumps({task: value, "score": shown, "reason": "scripted"})
    return f"```json\n{text}\n```" if unit(caption + value, "fence") < 0.2 else text


def cap_pair_answer(task: str, caption: str, name: str, value: str) -> str:
    """A count or colour answer: ``{object: value}`` as a string, or (``[dictnum]``) a dict with an int."""
    if "[garbage]" in caption:
        return f"{{'object_number': '{{{name}: {value}}}', 'score': "  # cut off: not a literal
    field = "object_color" if task == "object_color" else "object_number"
    score = cap_score(caption, task, f"{name}:{value}")
    dict_form = "[dictnum]" in caption and field == "object_number"
    shown = {name: int(value)} if dict_form else f"{{{name}: {value}}}"
    return repr({field: shown, "score": str(score), "reason": "scripted"})


def cap_categories(task: str, caption: str) -> list[str] | str:
    """The categories a classification answer names: 'N/A' about a fifth of the time, else one or two names."""
    if task == "camera_movement" and "[explain]" in caption:
        return [MOVEMENT_EXPLAINED]
    value = unit(f"{task}|{caption}", "classify")
    if value < 0.2 or "[silent]" in caption:
        return "N/A"
    names = CAP_CATEGORIES[task]
    first = names[int(value * 7919) % len(names)]
    second = names[int(value * 104729) % len(names)]
    return [first] if value < 0.7 or first == second else [first, second]


def cap_classify_answer(task: str, caption: str) -> str:
    if "[garbage]" in caption:
        return "The camera pans left."
    pred = cap_categories(task, caption)
    shown = pred if pred == "N/A" or unit(caption, "liststr") < 0.5 else str(pred)
    return json.dumps({"pred": shown, "reason": "scripted"})


def respond(user: str) -> str | None:
    """The answer to a CaReBench or CAPability judge prompt, or ``None`` when the prompt is not one of theirs."""
    if (match := CARE_EXTRACT.search(user)) is not None:
        return care_extraction(match.group(1), match.group(2))
    if (match := CARE_OBJECTS.search(user)) is not None:
        return care_object_entailment(match.group(1), ast.literal_eval(match.group(2)))
    if (match := _PAIR.search(user)) is not None:
        media, kind, caption, name, value = match.groups()
        task = "object_color" if kind == "color" else ("dynamic_object_number" if media == "video" else "object_number")
        return cap_pair_answer(task, caption, name, value)
    if (match := _CLASSIFY.search(user)) is not None:
        return cap_classify_answer(CLASSIFY_TASKS[match.group(1)], match.group(2))
    if (match := _SCORED.search(user)) is not None:
        caption, field, value = match.groups()
        return cap_scored_answer(CAP_FIELDS[field], caption, value)
    return None
