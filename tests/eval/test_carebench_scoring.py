"""CaReBench: the official prompt texts, the reading of raw judge answers and the scoring, each against what
MCG-NJU/CaReBench utils/dream_gpt.py does (transcribed here, independently of owlcap's code)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from owlcap.eval.carebench import prompts as care_prompts
from owlcap.eval.carebench.config import PRESETS, CareProtocol, scoring_for
from owlcap.eval.carebench.scoring import aggregate, score_item
from owlcap.eval.prompt_sets import fill, load_prompt_set

PROTOCOL = CareProtocol(**PRESETS["care"]["protocol"])
OBJECTS = care_prompts.ASPECTS["objects"]
EVENTS = care_prompts.ASPECTS["events"]


def official_set():
    return load_prompt_set("official", benchmark="carebench", search_dirs=[], required=care_prompts.REQUIRED)


def test_official_texts_keep_their_quirks():
    prompts = official_set()
    assert prompts.name == "official"  # the shipped file hashes to OFFICIAL_SHA256["carebench"]
    events = prompts.get("judge", "event_extraction", "user")
    objects = prompts.get("judge", "object_extraction", "user")
    assert events.startswith(
        "Below is a description of a video clip:\nVideo Description: {CAPTION}\n\n"
    )  # not "Bellow"
    assert "Requirements\n:- An event must include" in events
    assert "Requirements\n:- Replace pronouns" in objects
    assert "\n - If an object has multiple attributes" in objects  # a leading space, and no newline after it:
    assert 'a white beard".)- Every object is represented' in objects
    assert "object description.DO NOT PROVIDE" in objects and "dictionary string.For example" in objects
    entail = prompts.get("judge", "object_entailment", "user")
    assert 'Objects: {OBJECTS_PYTHON_REPR}\nOutput a JSON formed as:\n{\n  "objects": [\n' in entail
    assert '{"object": "copy an object here", "relationship": "put class name here",  "reason"' in entail
    assert prompts.get("caption_prompt") == "Describe the video in detail."
    dream = load_prompt_set("official", benchmark="dream1k", search_dirs=[], required={})
    same = prompts.get("judge", "event_entailment", "user").replace("{EVENTS_PYTHON_REPR}", "{X}")
    assert same == dream.get("judge", "entailment", "user").replace("{EVENTS_PYTHON_REPR}", "{X}")
    own = load_prompt_set("owlcap", benchmark="carebench", search_dirs=[], required=care_prompts.REQUIRED)
    assert "Requirements:\n- Replace pronouns" in own.get("judge", "object_extraction", "user")
    assert own.sha256[:16] == "260fd163a824b59b"  # owlcap's own texts change only on purpose (and documented)


def test_messages_lowercase_replace_quotes_and_stand_in_for_an_empty_list():
    prompts = official_set()
    extraction = care_prompts.extraction_messages(prompts, 'A Man says "Hi".', OBJECTS, PROTOCOL)
    assert extraction == [
        {"role": "user", "content": fill(prompts.get("judge", "object_extraction", "user"), CAPTION="a man says 'hi'.")}
    ]
    recall = care_prompts.entailment_messages(
        prompts, OBJECTS, "The PRED.", ["There is a Dog's ball", "X"], "GT", PROTOCOL
    )
    assert "Video Description:\nthe pred.\n\nObjects: [\"There is a Dog's ball\", 'X']\nOutput" in recall[0]["content"]
    empty = care_prompts.entailment_messages(prompts, EVENTS, "Desc", [], "Other\nCaption", PROTOCOL)
    assert "Events: ['other caption']\nOutput" in empty[0]["content"]
    shown = care_prompts.entailment_messages(prompts, EVENTS, "d", ["a"], "o", PROTOCOL, units_repr="['a' ]")
    assert "Events: ['a' ]\n" in shown[0]["content"]  # the extraction's own repr, as str(list) of the parsed list


@pytest.mark.parametrize(
    ("raw", "objects"),
    [
        ("{'objects': ['there is a cat', 'there is a hat']}", ["there is a cat", "there is a hat"]),
        ("```python\n{'objects': []}\n```", []),
        ('```json\n{"objects": ["a", 1]}\n```', ["a", 1]),  # only the first item is type-checked
    ],
)
def test_object_extraction_reads_like_extract_objects(raw, objects):
    assert care_prompts.parse_objects(raw)["objects"] == objects


@pytest.mark.parametrize(
    "raw",
    [
        "{'events': ['a']}",  # the other aspect's key
        " ```python\n{'objects': []}\n```",  # the fence is removed only when the text starts with it
        "Objects: {'objects': ['a']}",
        "{'objects': 'there is a cat'}",
        "{'objects': [1, 'a']}",
    ],
)
def test_object_extraction_refuses_what_extract_objects_refuses(raw):
    with pytest.raises(ValueError):
        care_prompts.parse_objects(raw)


def test_object_entailment_is_cleaned_of_its_own_marker_and_accepts_no_item_for_an_empty_list():
    parse = OBJECTS.entailment_parser(2)
    raw = (
        '{Objects: {"objects": [{"object": "a", "relationship": " Neutral "}, '
        '{"object": "b", "relationship": "entailment",}]}'
    )
    judged = parse(raw)
    assert [u["relationship"] for u in judged] == ["neutral", "entailment"] and judged[0]["object"] == "a"
    with pytest.raises(ValueError):  # '{Events:' is not removed from an objects answer
        parse(raw.replace("{Objects:", "{Events:"))
    empty = OBJECTS.entailment_parser(0)
    assert empty('{"objects": []}') == []  # len(objects) == len(answer) == 0 passes the official test
    assert len(empty('{"objects": [{"object": "x", "relationship": "neutral"}]}')) == 1
    with pytest.raises(ValueError):
        empty('{"objects": [{"relationship": "neutral"}, {"relationship": "neutral"}]}')
    with pytest.raises(ValueError):
        parse('{"objects": [{"object": "a", "relationship": "support"}, {"relationship": "neutral"}]}')
    with pytest.raises(ValueError):
        parse('{"events": [{"relationship": "neutral"}, {"relationship": "neutral"}]}')


# ------------------------------------------------------------------------------------------------ scoring


def call(value, error=None):
    return {"value": value, "error": error, "raw": "x", "attempts": 1}


def labels(*names):
    return call([{"relationship": name} for name in names])


def aspect(reference, predicted, recall_labels, precision_labels, extracted_reference=False):
    part = {
        "reference_units": None if extracted_reference else reference,
        "reference_extraction": call({"events": reference, "objects": reference}) if extracted_reference else None,
        "extraction": call({"events": predicted, "objects": predicted, "repr": str(predicted)}),
        "recall": labels(*recall_labels),
        "precision": labels(*precision_labels),
    }
    return part


def record(sample_id, events, objects, status="judged"):
    return {"id": sample_id, "category": "c", "status": status, "events": events, "objects": objects}


RECORDS = [
    record(
        "a",
        aspect(["e1", "e2"], ["p1", "p2", "p3"], ["entailment", "neutral"], ["entailment", "neutral", "entailment"]),
        aspect(["o1"], ["q1", "q2"], ["contradiction"], ["entailment", "neutral"], extracted_reference=True),
    ),
    record(  # no predicted events: precision 1.0 for free; no reference objects: recall 1.0 for free
        "b",
        aspect(["e1", "e2", "e3"], [], ["entailment"] * 3, ["neutral"]),
        aspect([], ["q1"], ["contradiction"], ["entailment"]),
    ),
    record(  # the object extraction failed: the sample fails, events and objects alike
        "c",
        aspect(["e1"], ["p1"], ["entailment"], ["entailment"]),
        {
            **aspect(["o1"], [], [], []),
            "extraction": call(None, "invalid answer after 10 attempt(s)"),
            "precision": None,
        },
        status="failed",
    ),
]


def official(rows):
    """dream_gpt.py: per sample R and P (only entailment counts, 1.0 for an empty list), failed samples out,
    np.average over the samples of the single subtask, F1 of the means."""
    out = {}
    for name, sample_rows in rows.items():
        recall = np.average([r for r, _ in sample_rows])
        precision = np.average([p for _, p in sample_rows])
        out[name] = (2 * recall * precision / (recall + precision), recall, precision)
    return out


def test_scores_equal_the_official_rules_and_a_failure_fails_the_whole_sample():
    expected = official(
        {
            "events": [(1 / 2, 2 / 3), (3 / 3, 1.0)],
            "objects": [(0 / 1, 1 / 2), (1.0, 1 / 1)],
        }
    )
    results = aggregate(RECORDS, scoring_for("care"))
    for name, values in expected.items():
        assert (results[name]["f1"], results[name]["recall"], results[name]["precision"]) == pytest.approx(values)
        assert results[name]["count"] == 2
    assert results["samples"] == {"success": 2, "failed": 1, "no_caption": 0}
    failed = score_item(RECORDS[2], scoring_for("care"))
    assert failed.status == "failed" and failed.aspects["events"].recall is None


def test_switches_move_the_numbers_as_named():
    aspect_scope = aggregate(RECORDS, scoring_for("care", {"failure_scope": "aspect"}))
    assert aspect_scope["events"]["count"] == 3 and aspect_scope["objects"]["count"] == 2
    zero = aggregate(RECORDS, scoring_for("care", {"failed_samples": "zero"}))
    assert zero["events"]["count"] == 3 and zero["events"]["recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    neutral = aggregate(RECORDS, scoring_for("care", {"precision_counts_neutral": True}))
    assert neutral["events"]["precision"] == pytest.approx((3 / 3 + 1.0) / 2)
    means = aggregate(RECORDS, scoring_for("care", {"f1_mode": "mean_of_f1"}))
    per_sample = [2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3), 1.0]
    assert means["events"]["f1"] == pytest.approx(sum(per_sample) / 2)
    nothing = [
        record("z", aspect(["e"], ["p"], ["neutral"], ["neutral"]), aspect(["o"], ["q"], ["neutral"], ["neutral"]))
    ]
    assert math.isnan(aggregate(nothing, scoring_for("care"))["events"]["f1"])  # 0/0 gives nan, as numpy does
    assert aggregate(nothing, scoring_for("care", {"f1_zero_division": 0.0}))["events"]["f1"] == 0.0
