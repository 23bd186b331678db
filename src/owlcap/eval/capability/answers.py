"""Reading CAPability judge answers exactly as the official scorers do, and the score each one gives.

``read_literal`` is ``call_and_parse_single_meaasge``: the text after the last ```` ```json ```` up to the next
fence; then, in what is left, the text after the last ```` ```python ````, or else the first fenced block; then
``ast.literal_eval``. ``validate_call`` is the dimension's ``post_validate_format_*`` with its quirks kept (see
docs/eval-capability.md): a score must be -1, 0 or 1 (or the strings "-1", "0", "1"); an object number must read
``{object: n}`` (a dict passes only with a string value, since the official check calls ``.strip()`` on it, and
never for dynamic_object_number, whose check looks the key up on the wrong object); a category list is checked
against the category names, and for a camera angle or movement an item written as the full category explanation
fails (the official code calls ``.split`` on the list). ``score_answer`` is ``post_process_*``: 1 correct, -1
wrong, 0 not mentioned. Everything raises ``ValueError`` for an answer the official code would not accept, so one
function serves the judge (a call that fails is asked again next round) and the re-scoring of a finished run.
"""

from __future__ import annotations

import ast
from typing import Any

from owlcap.eval.capability.prompts import CATEGORIES

SCORES = (1, 0, -1)
CLASSIFICATION = ("camera_angle", "camera_movement", "style")
COPY_FIELD = {
    "event": "event",
    "action": "action",
    "object_category": "object_category",
    "spatial_relation": "spatial_relation",
    "scene": "scene",
    "OCR": "OCR",
    "character_identification": "character_identification",
}
"""The field a score answer copies the annotation into (checked only under ``strict_match``)."""


def read_literal(text: str | None, *, strip: bool) -> Any:
    """The official fence handling and ``ast.literal_eval`` (``strip``: lmms-eval strips the answer first)."""
    if text is None:
        raise ValueError("no answer")
    if strip:
        text = text.strip()
    if "```json" in text:
        text = text.split("```json")[-1].split("```")[0].strip()
    if "```python" in text:
        text = text.split("```python")[-1].split("```")[0].strip()
    elif "```" in text:
        text = text.split("```")[1].strip()
    try:
        return ast.literal_eval(text)
    except (SyntaxError, ValueError) as exc:
        raise ValueError(f"not a Python literal ({type(exc).__name__}): {text[:200]!r}") from None
    except (TypeError, MemoryError, RecursionError) as exc:
        # literal_eval raising these would end the official run; owlcap counts the answer invalid instead
        raise ValueError(f"literal_eval raised {type(exc).__name__} (the official scorer would crash)") from None


def _score(response: dict[str, Any]) -> int:
    """The official score check: the strings "-1", "0", "1" become ints; then ``score in [1, 0, -1]`` (Python
    equality, so True/False and 1.0 pass). Returns the score as -1, 0 or 1."""
    value = _field(response, "score")
    if value in ("-1", "0", "1"):
        value = int(value)
    try:
        accepted = value in [1, 0, -1]
    except TypeError:
        accepted = False
    if not accepted:
        raise ValueError(f"score {value!r} is not 1, 0 or -1")
    return 1 if value == 1 else -1 if value == -1 else 0


def _pair_value(value: Any, numeric: bool, allow_dict: bool) -> Any:
    """``{object: n}`` as the official checks read it: a string split at ':' (a number must be the int after the
    only colon; a colour is what follows the last colon), or a one-pair dict whose value is a string (``.strip()``
    is called on it, so an integer value fails; dynamic_object_number refuses every dict, looking the key up on the
    wrong object)."""
    if isinstance(value, dict) and allow_dict:
        _, inner = list(value.items())[0]
        inner = inner.strip()
        return int(inner) if numeric else inner
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a '{{object: value}}' string (the official check refuses it)")
    if ":" not in value:
        raise ValueError(f"{value!r} has no ':'")
    parts = value.lstrip("{").rstrip("}").split(":")
    if numeric:
        if len(parts) != 2:
            raise ValueError(f"{value!r} does not split into object and number")
        return int(parts[1].strip())
    return parts[-1].strip()


def _field(response: dict[str, Any], name: str) -> Any:
    try:
        return response[name]
    except (KeyError, TypeError, IndexError):
        raise ValueError(f"no {name!r} in the answer") from None


def validate_call(task: str, response: Any, annotation: Any, index: int, *, strict_match: bool) -> dict[str, Any]:
    """One answer of ``task`` checked as ``post_validate_format_<task>`` does (``index``: the object's position for
    dynamic_object_number, one call per object); returns ``{"score": -1|0|1}`` or, for a classification,
    ``{"pred": [categories]}``. ``ValueError`` when the official code would refuse the answer."""
    try:
        if task in CLASSIFICATION:
            return {"pred": _categories(task, response)}
        if not isinstance(response, dict):
            raise ValueError(f"the answer is a {type(response).__name__}, not a dict")
        if task in ("object_number", "dynamic_object_number", "object_color"):
            field_name = "object_color" if task == "object_color" else "object_number"
            allow_dict = task != "dynamic_object_number"
            value = _pair_value(_field(response, field_name), numeric=task != "object_color", allow_dict=allow_dict)
            expected = list(annotation.values())[index]
            if strict_match and value != expected:
                raise ValueError(f"{field_name} {value!r} does not copy the annotation {expected!r}")
        elif strict_match:
            copied = _field(response, COPY_FIELD[task])
            if not isinstance(copied, str) or copied.strip() != str(annotation).strip():
                raise ValueError(f"{COPY_FIELD[task]} does not copy the annotation")
        return {"score": _score(response)}
    except ValueError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"the official check fails ({type(exc).__name__}: {exc})") from None


def _categories(task: str, response: Any) -> list[str]:
    """``post_validate_format_{camera_angle,camera_movement,style}``: ``pred`` holding 'N/A' becomes ['N/A'], a
    string is read with ``literal_eval``; every item must be 'N/A' or a category name. An item written as the full
    explanation becomes its category for style; for the camera dimensions the official code fails on it."""
    if not isinstance(response, dict):
        raise ValueError(f"the answer is a {type(response).__name__}, not a dict")
    pred = _field(response, "pred")
    if pred == "N/A" or "N/A" in pred:
        pred = ["N/A"]
    if isinstance(pred, str):
        try:
            pred = ast.literal_eval(pred)
        except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
            raise ValueError(f"pred {pred[:80]!r} is not a Python list ({type(exc).__name__})") from None
    if not isinstance(pred, list):
        raise ValueError(f"pred is a {type(pred).__name__}, not a list")
    explains, names = CATEGORIES[task], [c.split(":")[0] for c in CATEGORIES[task]]
    pred = list(pred)
    for i, item in enumerate(pred):
        if item in explains:
            if task != "style":
                raise ValueError("a category written as its explanation (the official code calls .split on the list)")
            pred[i] = item.split(":")[0].lower()
        if not (pred[i] == "N/A" or pred[i] in names):
            raise ValueError(f"{pred[i]!r} is not one of {names}")
    return pred


def score_answer(task: str, validated: dict[str, Any], annotation: Any) -> int:
    """``post_process_<task>``: a score answer's score; a classification: 0 for ['N/A'], 1 when the annotated
    category is in the list, else -1 (an empty list too)."""
    if task not in CLASSIFICATION:
        return validated["score"]
    pred = validated["pred"]
    if len(pred) == 1 and pred[0] == "N/A":
        return 0
    return 1 if annotation in pred else -1
