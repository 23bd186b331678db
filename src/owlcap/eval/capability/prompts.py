"""CAPability judge prompts: one call per annotated file (one per object for dynamic_object_number), a system
message and a user message per dimension, filled from the prompt set; and the offline ``rules`` recipes.

The texts are the official ones (``evaluation/prompt.py`` of the repository, identical in lmms-eval's task), shipped
as data in ``official_prompts.json``: ``{CAPTION}`` is the caption, ``{ANNOTATION}`` the annotation as text, and
``{OBJECT}``/``{NUMBER}``/``{COLOR}`` the object and its number or colour (the prompt shows them as
``{object: number}``). The three classification dimensions (camera angle, camera movement, style) show only the
caption; their categories are part of the text, and ``CATEGORIES`` holds them for reading the answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from owlcap.eval.capability.config import TASKS, CapProtocol
from owlcap.eval.prompt_sets import PromptSet, fill
from owlcap.llm.rules_text import TextRules

VERSION = "1"

CATEGORIES = {
    "camera_angle": (
        "level angle: Horizontal shooting of the subject (flat shot)",
        "high angle: Shooting from above the subject (overhead shot)",
        "low angle: Shooting from below the subject (upward shot)",
        "dutch angle: The lens has a certain angle of deflection along the central axis, making the horizon crooked",
    ),
    "camera_movement": (
        "left: the camera angle swings left (pan left), or the camera moves left (track left)",
        "right: the camera angle swings right (pan right), or the camera moves right (track right)",
        "up: the camera angle swings up (tilt up), or the camera moves up (boom up)",
        "down: the camera angle swings down (tilt down), or the camera moves down (boom down)",
        "in: camera pushes toward the subject (dolly in), or enlarges the frame (zoom in)",
        "out: camera moves away the subject (dolly out), or expands the visible area, makeing the subject appear "
        "smaller (zoom out)",
        "fixed: camera is almost fixed and does not change",
    ),
    "style": (
        "realistic: Represents subjects truthfully with lifelike detail and accuracy.",
        "animated: Created using 2D images or 3D computer-generated imagery (CGI), e.g., cartoon, anime",
        "special effect: Creates illusions through practical or digital techniques to enhance visuals.",
        "old-fashioned: Emulates historical aesthetics like vintage or classical artistic styles.",
        "pixel art: Retro digital art using blocky pixels for a nostalgic, low-res look.",
        "sketch art: Rough, expressive drawings emphasizing line work and spontaneity.",
        "abstract art: Non-representational art focused on shapes, colors, and emotions over realism.",
        "impressionism art: Captures fleeting light/moments with visible brushstrokes and vibrant color dabs.",
        "cubism art: Depicts subjects through fragmented geometric planes and multiple perspectives.",
    ),
}
"""The classification dimensions' categories as the official prompts explain them ('name: explanation'); the
names (before the colon) are the answers the official check accepts."""

PLACEHOLDERS = {
    "object_number": ("CAPTION", "OBJECT", "NUMBER"),
    "dynamic_object_number": ("CAPTION", "OBJECT", "NUMBER"),
    "object_color": ("CAPTION", "OBJECT", "COLOR"),
    "camera_angle": ("CAPTION",),
    "camera_movement": ("CAPTION",),
    "style": ("CAPTION",),
}

REQUIRED = {
    ("caption_prompts", "video"): (),
    ("caption_prompts", "image"): (),
    **{("judge", task, "system"): () for task in TASKS},
    **{("judge", task, "user"): PLACEHOLDERS.get(task, ("CAPTION", "ANNOTATION")) for task in TASKS},
}
"""Every text a CAPability prompt set must hold, with the placeholders it must contain."""


def kind(task: str) -> str:
    return f"capability.{task}"


def prompt_caption(caption: str, protocol: CapProtocol) -> str:
    return caption.strip() if protocol.strip_caption else caption


def judge_messages(prompts: PromptSet, task: str, caption: str, annotation: Any, protocol: CapProtocol):
    """The messages of each call for one file: one call, or one per ``{object: number}`` for
    dynamic_object_number (in the annotation's order); each a system and a user message."""
    system, user = prompts.get("judge", task, "system"), prompts.get("judge", task, "user")
    text = prompt_caption(caption, protocol)
    if task in ("object_number", "dynamic_object_number", "object_color"):
        value_name = "COLOR" if task == "object_color" else "NUMBER"
        pairs = list(annotation.items()) if task == "dynamic_object_number" else list(annotation.items())[:1]
        users = [fill(user, CAPTION=text, OBJECT=str(name), **{value_name: str(value)}) for name, value in pairs]
    elif task in CATEGORIES:
        users = [fill(user, CAPTION=text)]
    else:
        users = [fill(user, CAPTION=text, ANNOTATION=str(annotation))]
    return [[{"role": "system", "content": system}, {"role": "user", "content": one}] for one in users]


# ------------------------------------------------------------------------------------------ offline recipes
# What the ``rules`` judge answers (demos and tests; weak by design, see owlcap.llm.rules_text), written in the
# official answer formats so the official checks read them as they read a model's.

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve").split()
_MOVEMENT_CUES = {
    "left": ("pan left", "pans left", "track left", "tracks left", "moves left"),
    "right": ("pan right", "pans right", "track right", "tracks right", "moves right"),
    "up": ("tilt up", "tilts up", "boom up", "booms up", "pans up"),
    "down": ("tilt down", "tilts down", "boom down", "booms down", "pans down"),
    "in": ("zoom in", "zooms in", "dolly in", "push in", "pushes in", "close-up"),
    "out": ("zoom out", "zooms out", "dolly out", "pulls back", "pull back"),
    "fixed": ("static", "fixed", "stationary", "still camera"),
}
_ANGLE_CUES = {
    "level angle": ("level angle", "eye level", "eye-level"),
    "high angle": ("high angle", "overhead", "from above"),
    "low angle": ("low angle", "from below"),
    "dutch angle": ("dutch angle", "tilted horizon"),
}
_STYLE_CUES = {
    "realistic": ("realistic", "live-action", "photorealistic"),
    "animated": ("animated", "animation", "cartoon", "anime"),
    "old-fashioned": ("vintage", "black and white", "old-fashioned"),
}


def _mentions(text: str, cue: str) -> bool:
    return re.search(rf"\b{re.escape(cue)}\b", text.lower()) is not None


def _number_in(text: str, number: int) -> bool:
    words = [str(number)] + ([_NUMBER_WORDS[number]] if 0 <= number < len(_NUMBER_WORDS) else [])
    return any(_mentions(text, word) for word in words)


def offline_answer(task: str, caption: str, annotation: Any, index: int) -> Callable[[TextRules], str]:
    """The rules judge's answer to one call (``index``: the object of a dynamic_object_number call): scores from
    word overlap (supported: 1; half supported: -1; else 0), counts and colours found next to a mentioned object,
    categories found by cue words ('N/A' when none)."""

    def answer(rules: TextRules) -> str:
        if task in CATEGORIES:
            cues = {"camera_movement": _MOVEMENT_CUES, "camera_angle": _ANGLE_CUES}.get(task, _STYLE_CUES)
            found = [name for name, words in cues.items() if any(_mentions(caption, word) for word in words)]
            return json.dumps({"pred": found or "N/A", "reason": "cue words found in the caption (rules)"})
        if task in ("object_number", "dynamic_object_number", "object_color"):
            name, value = list(annotation.items())[index]
            field = "object_color" if task == "object_color" else "object_number"
            if rules.support_score(str(name), caption) < rules.threshold:
                score = 0
            elif task == "object_color":
                score = 1 if _mentions(caption, str(value)) else -1
            else:
                score = 1 if _number_in(caption, int(value)) else -1
            return json.dumps({field: f"{{{name}: {value}}}", "score": str(score), "reason": "rules"})
        share = rules.support_score(str(annotation), caption)
        score = 1 if share >= rules.threshold else -1 if share >= rules.threshold / 2 else 0
        return json.dumps({task: str(annotation), "score": str(score), "reason": f"{share:.0%} word overlap (rules)"})

    return answer
