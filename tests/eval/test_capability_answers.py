"""CAPability: raw judge answers read as the official scorers read them (ali-vilab/CAPability evaluation/eval.py,
identical in lmms-eval's task), the scores they give, and the metrics with their zero divisions."""

from __future__ import annotations

import json

import pytest

from owlcap.eval.capability import prompts as cap_prompts
from owlcap.eval.capability.answers import read_literal, score_answer, validate_call
from owlcap.eval.capability.config import PRESETS, TASKS, CapProtocol, scoring_for
from owlcap.eval.capability.scoring import aggregate, metrics, score_item
from owlcap.eval.prompt_sets import load_prompt_set

REPO, LMMS = scoring_for("capability"), scoring_for("lmms")


def read(task, raw, annotation, rules=REPO, index=0):
    """The official outcome of one raw answer: its score, or None when the official code refuses it."""
    try:
        response = read_literal(raw, strip=rules.strip_answer)
        return score_answer(
            task, validate_call(task, response, annotation, index, strict_match=rules.strict_match), annotation
        )
    except ValueError:
        return None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"event": "x", "score": "1", "reason": "r"}', 1),
        ("{'event': 'x', 'score': -1}", -1),
        ('```json\n{"event": "x", "score": 0}\n```', 0),
        ('Sure:\n```json\n{"score": "1"}\n```\nDone', 1),  # the text after the last ```json up to the next fence
        ('```\n{"score": "-1"}\n```', -1),  # a bare fence: the first block
        ('```python\n{"score": 1.0}\n```', 1),  # 1.0 in [1, 0, -1]
        ('{"score": true}', None),  # JSON true is not a Python literal
        ("{'score': True}", 1),  # True == 1
        ('{"score": "+1"}', None),
        ('{"score": 2}', None),
        ('{"score": " 1"}', None),
        ('{"event": "x"}', None),  # no score
        ('["x", 1]', None),  # not a dict
        ("The caption mentions it.", None),
        ('{"score": "1"} trailing', None),
        ("\n {'score': 1}", None),  # IndentationError, unless stripped first (lmms-eval)
    ],
)
def test_score_answers_read_like_the_repository_scorer(raw, expected):
    assert read("event", raw, "A man walks.") == expected


def test_lmms_eval_strips_the_answer_first():
    assert read("event", "\n {'score': 1}", "x", LMMS) == 1
    assert read("event", "\n {'score': 1}", "x", REPO) is None


def test_strict_match_compares_the_copied_annotation():
    strict = scoring_for("capability", {"strict_match": True})
    assert read("scene", '{"scene": " park ", "score": 1}', "park", strict) == 1
    assert read("scene", '{"scene": "a park", "score": 1}', "park", strict) is None
    assert read("scene", '{"scene": "a park", "score": 1}', "park") == 1


@pytest.mark.parametrize(
    ("task", "raw", "expected"),
    [
        ("object_number", "{'object_number': '{chair: 2}', 'score': '1'}", 1),
        ("object_number", "{'object_number': 'chair: two', 'score': '1'}", None),  # int('two')
        ("object_number", "{'object_number': 'a:b:2', 'score': '1'}", None),  # three parts do not unpack
        ("object_number", "{'object_number': 'chair 2', 'score': '1'}", None),  # no colon
        ("object_number", "{'object_number': {'chair': '2'}, 'score': '-1'}", -1),  # a dict with a string value
        ("object_number", "{'object_number': {'chair': 2}, 'score': '-1'}", None),  # int has no .strip()
        ("object_color", "{'object_color': '{car: dark: red}', 'score': 0}", 0),  # the colour after the last colon
        ("object_color", "{'object_color': {'car': 'red'}, 'score': 1}", 1),
        ("object_color", "{'object_color': {'car': 1}, 'score': 1}", None),
        ("dynamic_object_number", "{'object_number': '{chair: 2}', 'score': 1}", 1),
        ("dynamic_object_number", "{'object_number': {'chair': '2'}, 'score': 1}", None),  # response['object_number']
    ],
)
def test_count_and_colour_answers(task, raw, expected):
    annotation = {"car": "red"} if task == "object_color" else {"chair": 2}
    assert read(task, raw, annotation) == expected


@pytest.mark.parametrize(
    ("task", "raw", "annotation", "expected"),
    [
        ("camera_movement", '{"pred": ["left"]}', "left", 1),
        ("camera_movement", "{\"pred\": \"['left', 'in']\"}", "in", 1),  # a list written as a string
        ("camera_movement", '{"pred": ["right"]}', "left", -1),
        ("camera_movement", '{"pred": "N/A"}', "left", 0),
        ("camera_movement", '{"pred": ["left", "N/A"]}', "left", 0),  # 'N/A' anywhere makes it ['N/A']
        ("camera_movement", '{"pred": "no movement (N/A)"}', "fixed", 0),  # a substring too
        ("camera_movement", '{"pred": []}', "left", -1),  # an empty list passes and scores -1
        ("camera_movement", '{"pred": ["Left"]}', "left", None),
        ("camera_movement", '{"pred": "left"}', "left", None),  # literal_eval('left') fails
        ("camera_movement", '{"pred": 3}', "left", None),
        ("camera_movement", '{"reason": "x"}', "left", None),
        ("camera_movement", json.dumps({"pred": [cap_prompts.CATEGORIES["camera_movement"][0]]}), "left", None),
        ("style", json.dumps({"pred": [cap_prompts.CATEGORIES["style"][1]]}), "animated", 1),  # explanation -> name
        ("camera_angle", '{"pred": ["high angle", "low angle"]}', "low angle", 1),
    ],
)
def test_classification_answers(task, raw, annotation, expected):
    assert read(task, raw, annotation) == expected


def test_metrics_and_their_zero_divisions():
    assert metrics(3, 4, 6, "withhold") == pytest.approx(
        {"precision": 0.75, "recall": 0.5, "f1": 0.6, "hit_rate": 4 / 6}
    )
    assert metrics(0, 0, 5, "withhold") == {"precision": None, "recall": 0.0, "f1": None, "hit_rate": 0.0}
    assert metrics(0, 0, 5, "zero") == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "hit_rate": 0.0}
    assert metrics(0, 3, 5, "withhold")["f1"] is None and metrics(0, 3, 5, "zero")["f1"] == 0.0
    assert metrics(0, 0, 0, "zero") == dict.fromkeys(("precision", "recall", "f1", "hit_rate"))


def _record(task, file_id, raws, annotation, status="judged"):
    calls = [{"raw": raw, "error": None} for raw in raws]
    return {"task": task, "file_id": file_id, "annotation": annotation, "status": status, "calls": calls}


def test_aggregate_pools_scores_per_dimension_and_averages_dimensions():
    records = [
        _record("event", "e1", ['{"score": 1}'], "a"),
        _record("event", "e2", ['{"score": -1}'], "b"),
        _record("event", "e3", ['{"score": 0}'], "c"),
        _record("event", "e4", ["garbage"], "d", status="failed"),
        _record("event", "e5", [], "e", status="skipped"),
        _record(
            "dynamic_object_number",
            "d1",
            ["{'object_number': '{a: 1}', 'score': 1}", "{'object_number': '{b: 2}', 'score': '-1'}"],
            {"a": 1, "b": 2},
        ),
        _record("dynamic_object_number", "d2", ["{'object_number': '{a: 1}', 'score': 1}"], {"a": 1, "b": 3}),
    ]
    results = aggregate(records, REPO)
    event = results["dimensions"]["event"]
    assert (event["precision"], event["recall"], event["hit_rate"]) == pytest.approx((1 / 2, 1 / 3, 2 / 3))
    assert event["left_out"] == {"failed": 1, "skipped": 1}
    counting = results["dimensions"]["dynamic_object_number"]
    assert counting["scores"] == {"all": 2, "hit": 2, "correct": 1} and counting["files_scored"] == 1  # d2 lacks a call
    f1 = [2 * 0.5 * (1 / 3) / (0.5 + 1 / 3), 0.5]
    assert results["average"]["f1"] == pytest.approx(sum(f1) / 2)
    assert score_item(records[3], REPO).status == "failed"


def test_prompts_fill_every_placeholder_and_split_counts_into_one_call_per_object():
    prompts = load_prompt_set("official", benchmark="capability", search_dirs=[], required=cap_prompts.REQUIRED)
    assert prompts.name == "official"  # the shipped file hashes to OFFICIAL_SHA256["capability"]
    own = load_prompt_set("owlcap", benchmark="capability", search_dirs=[], required=cap_prompts.REQUIRED)
    assert own.sha256[:16] == "79148251416f6e00"  # owlcap's own texts change only on purpose (and documented)
    assert "Video Caption: {CAPTION}" in own.get("judge", "dynamic_object_number", "user")
    protocol = CapProtocol(**PRESETS["capability"]["protocol"])
    calls = cap_prompts.judge_messages(
        prompts, "dynamic_object_number", " A {NUMBER} room. ", {"table": 4, "chair": 2}, protocol
    )
    assert len(calls) == 2 and [m["role"] for m in calls[0]] == ["system", "user"]
    assert "Image Caption:  A {NUMBER} room. \nObject Number: {table: 4}\n" in calls[0][1]["content"]
    assert "Object Number: {chair: 2}\n" in calls[1][1]["content"]
    stripped = CapProtocol(strip_caption=True)
    event = cap_prompts.judge_messages(prompts, "event", " A man. ", "He runs.", stripped)
    assert "Video Caption: A man.\nEvent: He runs.\nPlease analyze the video caption." in event[0][1]["content"]
    movement = cap_prompts.judge_messages(prompts, "camera_movement", "Pan.", "left", protocol)[0][1]["content"]
    assert "categories: ['left', 'right', 'up', 'down', 'in', 'out', 'fixed']\nHere are" in movement
    for task in TASKS:  # every official text is filled without a placeholder left over
        annotation = {"x": 1} if "number" in task else {"x": "red"} if task == "object_color" else "a"
        for messages in cap_prompts.judge_messages(prompts, task, "cap", annotation, protocol):
            assert "{CAPTION}" not in messages[1]["content"] and "{ANNOTATION}" not in messages[1]["content"]
