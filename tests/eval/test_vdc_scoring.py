"""VDC aggregation against hand-computed values, per preset and per switch (docs/eval-parity.md §1.5-1.8), and each
preset's reading of a verdict against a transcription of its official code."""

import ast

import pytest

from owlcap.eval.config import ReportConfig
from owlcap.eval.vdc.config import PRESETS, scoring_for
from owlcap.eval.vdc.report import build_report
from owlcap.eval.vdc.scoring import aggregate, literal_verdict, parse_verdict, score_item

JUDGE_ERROR = object()


def question(raw):
    if raw is JUDGE_ERROR:
        failed = {"raw": None, "attempts": 3, "error": "gave up", "error_kind": "judge_unavailable"}
        return {"answer_call": {"raw": "an answer", "error": None}, "verdict_call": failed}
    return {"answer_call": {"raw": "an answer", "error": None}, "verdict_call": {"raw": raw, "error": None}}


def record(video, verdicts, dimension="camera"):
    return {"dimension": dimension, "video_id": video, "status": "judged", "questions": [question(v) for v in verdicts]}


CAMERA = [
    record("A", ["{'pred': 'yes', 'score': 4}", "{'pred': 'no', 'score': 2}", "{'pred': 'yes', 'score': 4.8}"]),
    record("B", ["{'pred': 'no', 'score': 0}", "{'pred': 'no', 'score': 1}"]),
    record("C", ["{'pred': 'yes', 'score': '4'}", "{'pred': 'Yes', 'score': 3}"]),
    record("D", ["{'pred': 'yes', 'score': 5}", "Sure! {'pred': 'yes'}"]),
    record("E", ["{'pred': 'yes'}", "{'pred': 'no', 'score': 3}", "{'pred': 'yes', 'score': 4}"]),
    record("F", ["{'pred': 'yes', 'score': 4.8}", JUDGE_ERROR]),
    {"dimension": "camera", "video_id": "G", "status": "no_caption", "questions": []},
]
SHORT = [record("A", ["{'pred': 'yes', 'score': 5}"], "short")]

# Hand-computed (see the comments for each video's mean accuracy and score under each preset).
EXPECTED = {
    # kept: A (2/3, 3.6), C (1/2 since 'Yes' != 'yes', '4' -> 4.0: 3.5); B zero, D unparsable, E missing key,
    # F judge error: dropped.
    "auroracap": {"acc": (2 / 3 + 1 / 2) / 2, "score": (3.6 + 3.5) / 2, "kept": 2, "micro_acc": 3 / 5},
    # kept: A (2/3, 3.6), B (0, 0.5), E (skips the keyless question: 1/2, 3.5); C's string score, D's
    # unparsable verdict and F's judge error drop them (lmms-eval would have crashed).
    "lmms": {"acc": (2 / 3 + 0 + 1 / 2) / 3, "score": (3.6 + 0.5 + 3.5) / 3, "kept": 3, "micro_acc": 3 / 7},
    # all six kept, failures as 0/'no', int() truncation: A (2/3, 10/3), B (0, 0.5), C (1/2, 3.5),
    # D (1/2, 2.5), E (pred yes with score 0: 2/3, 7/3), F (1/2, (4 + 0)/2).
    "lmms_gpt": {"acc": 17 / 36, "score": 85 / 36, "kept": 6, "micro_acc": 7 / 14},
}


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_each_preset_matches_the_hand_computed_numbers(preset):
    results = aggregate(CAMERA + SHORT, scoring_for(preset))
    camera, expected = results["dimensions"]["camera"], EXPECTED[preset]
    assert camera["acc"] == pytest.approx(expected["acc"], abs=1e-12)
    assert camera["score"] == pytest.approx(expected["score"], abs=1e-12)
    assert camera["videos_kept"] == expected["kept"] and camera["videos"] == 7
    assert camera["micro_acc"] == pytest.approx(expected["micro_acc"], abs=1e-12)
    assert camera["videos_left_out"].get("no caption") == 1
    average = results["average"]
    assert average["acc"] == pytest.approx((expected["acc"] + 1.0) / 2, abs=1e-12)
    assert average["score"] == pytest.approx((expected["score"] + 5.0) / 2, abs=1e-12)


def test_left_out_reasons_are_counted_per_preset():
    auroracap = aggregate(CAMERA, scoring_for("auroracap"))["dimensions"]["camera"]
    assert auroracap["videos_left_out"] == {
        "zero": 1, "unparsable": 1, "missing_key": 1, "judge_error": 1, "no caption": 1,
    }  # fmt: skip
    assert auroracap["verdicts"] == {"ok": 11, "unparsable": 1, "missing_key": 1, "judge_error": 1}
    lmms = aggregate(CAMERA, scoring_for("lmms"))["dimensions"]["camera"]
    assert lmms["verdicts"]["skipped"] == 1 and lmms["verdicts"]["bad_score"] == 1


@pytest.mark.parametrize(
    ("overrides", "acc", "score"),
    [
        # 'Yes' counts: C becomes (1, 3.5).
        ({"yes_match": "casefold"}, (2 / 3 + 1) / 2, (3.6 + 3.5) / 2),
        # B (0, 0.5) is kept.
        ({"exclude_zero_videos": False}, (2 / 3 + 0 + 1 / 2) / 3, (3.6 + 0.5 + 3.5) / 3),
        # D keeps its parsed question (1, 5), E its two scored ones (1/2, 3.5).
        ({"on_parse_failure": "drop_question"}, (2 / 3 + 1 / 2 + 1 + 1 / 2) / 4, (3.6 + 3.5 + 5 + 3.5) / 4),
        # D's unparsable verdict and E's keyless one score 0/'no': D (1/2, 2.5), E (1/3, 7/3).
        ({"on_parse_failure": "zero"}, (2 / 3 + 1 / 2 + 1 / 2 + 1 / 3) / 4, (3.6 + 3.5 + 2.5 + 7 / 3) / 4),
        # F's failed judge call scores 0/'no': F (1/2, 2.4).
        ({"on_judge_error": "zero"}, (2 / 3 + 1 / 2 + 1 / 2) / 3, (3.6 + 3.5 + 2.4) / 3),
        # int() truncation: A's 4.8 -> 4: (4 + 2 + 4) / 3.
        ({"score_cast": "int_trunc"}, (2 / 3 + 1 / 2) / 2, (10 / 3 + 3.5) / 2),
    ],
)
def test_each_switch_changes_only_what_it_names(overrides, acc, score):
    camera = aggregate(CAMERA, scoring_for("auroracap", overrides))["dimensions"]["camera"]
    assert camera["acc"] == pytest.approx(acc, abs=1e-12)
    assert camera["score"] == pytest.approx(score, abs=1e-12)


def test_clamp_and_crash_and_empty_dimensions():
    wild = [record("H", ["{'pred': 'yes', 'score': 7}", "{'pred': 'yes', 'score': -1}"])]
    assert aggregate(wild, scoring_for("auroracap"))["dimensions"]["camera"]["score"] == 3.0
    assert aggregate(wild, scoring_for("auroracap", {"clamp_score": True}))["dimensions"]["camera"]["score"] == 2.5
    judge_crash = aggregate(CAMERA, scoring_for("auroracap", {"on_judge_error": "crash"}))["dimensions"]["camera"]
    assert judge_crash["acc"] is None and "judge_error" in judge_crash["withheld"]
    crashed = aggregate(CAMERA + SHORT, scoring_for("lmms", {"on_parse_failure": "crash"}))
    assert crashed["dimensions"]["camera"]["acc"] is None and "withheld" in crashed["dimensions"]["camera"]
    assert crashed["average"]["acc"] == 1.0 and crashed["average"]["note"] == "mean over 1 of 2 dimensions"
    nothing = aggregate([record("B", ["{'pred': 'no', 'score': 0}"])], scoring_for("auroracap"))
    assert nothing["dimensions"]["camera"]["acc"] is None
    assert "divides by zero" in nothing["dimensions"]["camera"]["withheld"]


@pytest.mark.parametrize(
    ("raw", "preset", "status", "yes", "score"),
    [
        ("{'pred': 'yes', 'score': 4}\n", "auroracap", "ok", True, 4.0),
        ("```python\n{'pred': 'yes', 'score': 4}\n```", "auroracap", "unparsable", False, 0.0),
        ("{'pred': 'yes', 'score': 4}.", "auroracap", "unparsable", False, 0.0),
        ("['yes', 4]", "auroracap", "not_a_dict", False, 0.0),
        ("{'pred': 'yes', 'score': 'high'}", "auroracap", "bad_score", False, 0.0),
        ("{'pred': 'yes', 'score': '4.5'}", "auroracap", "ok", True, 4.5),
        ("{'pred': 'yes', 'score': '4.5'}", "lmms", "bad_score", False, 0.0),
        ("{'pred': 'yes', 'score': '4.5'}", "lmms_gpt", "ok", True, 0.0),
        ("{'pred': ' yes', 'score': 3}", "auroracap", "ok", False, 3.0),
        ("{'score': 3}", "lmms", "skipped", False, 0.0),
        ("{'score': 3}", "lmms_gpt", "ok", False, 3.0),
        (None, "auroracap", "unparsable", False, 0.0),
    ],
)
def test_parse_verdict(raw, preset, status, yes, score):
    verdict = parse_verdict(raw, scoring_for(preset))
    assert (verdict.status, verdict.yes, verdict.score) == (status, yes, score)


def test_the_verdict_task_accepts_any_python_literal_and_rejects_the_rest():
    assert literal_verdict("{'pred': 'no'}") == "{'pred': 'no'}"
    with pytest.raises(ValueError, match="not a Python literal"):
        literal_verdict("The answer is {'pred': 'no', 'score': 1}")


def test_score_item_reports_the_per_video_values():
    video = score_item(CAMERA[0], scoring_for("auroracap"))
    assert (video.status, video.counted, video.yes) == ("kept", 3, 2)
    assert video.score == pytest.approx(3.6)


def test_bootstrap_intervals_bracket_the_estimate_and_are_seeded():
    many = [record(f"v{i}", [f"{{'pred': '{'yes' if i % 3 else 'no'}', 'score': {1 + i % 5}}}"] * 2) for i in range(60)]
    first = aggregate(many, scoring_for("lmms"), bootstrap_samples=300, seed=1)
    again = aggregate(many, scoring_for("lmms"), bootstrap_samples=300, seed=1)
    camera = first["dimensions"]["camera"]
    assert camera["acc_ci"] == again["dimensions"]["camera"]["acc_ci"]
    assert camera["acc_ci"][0] < camera["acc"] < camera["acc_ci"][1]
    assert camera["score_ci"][0] < camera["score"] < camera["score_ci"][1]
    assert first["average"]["acc_ci"] == camera["acc_ci"]  # one dimension: the average is that dimension


def test_every_preset_sets_every_scoring_switch():
    fields = set(scoring_for("auroracap").model_dump())
    for name, preset in PRESETS.items():
        assert set(preset["scoring"]) == fields, name


# ------------------------------------------------------------------- one verdict, as each official scorer reads it
# Transcribed from the official code (docs/eval-parity.md §1.5); each returns what becomes of one question: counted
# (with its 'yes' and score), skipped (lmms-eval: the video's denominator shrinks), the whole video dropped
# (AuroraCap's try/except around a video), or a crash of the whole run (lmms-eval 0.7.3's UnboundLocalError after any
# error).


def official_auroracap(raw):
    """post_eval/process_vdc_result.py: ``qa.update(ast.literal_eval(answer))``, ``float(qa['score'])``,
    ``qa['pred'] == 'yes'``; any exception drops the video."""
    qa = {"question": "q", "answer": "a", "response": "r"}
    try:
        qa.update(ast.literal_eval(raw))
        return ("counted", qa["pred"] == "yes", float(qa["score"]))
    except Exception:
        return ("drop_video",)


def official_lmms(raw):
    """lmms_eval/tasks/vdc/utils.py (0.7.3, SGLang): ``response = ast.literal_eval(answer)``; kept only ``if 'pred'
    in response and 'score' in response``; ``total_score += response['score']`` (no cast); any exception crashes."""
    try:
        response = ast.literal_eval(raw)
        if "pred" in response and "score" in response:
            score, acc = response["score"], response["pred"]
            total = 0 + score
            return ("counted", acc == "yes", float(total))
        return ("skipped",)
    except Exception:
        return ("crash",)


def official_lmms_gpt(raw):
    """lmms-eval's GPT-judge VDC (924814c2): the answer stripped on receipt (``gpt_match``), then ``parse_score``
    (``int(literal.get('score', 0))``, any exception 0) and ``parse_acc`` (``str(literal.get('pred', 'no'))``, any
    exception 'no'); every question counts."""
    review = raw.strip()
    try:
        score = int(ast.literal_eval(review).get("score", 0))
    except Exception:
        score = 0
    try:
        acc = str(ast.literal_eval(review).get("pred", "no"))
    except Exception:
        acc = "no"
    return ("counted", acc == "yes", float(score))


OFFICIAL = {"auroracap": official_auroracap, "lmms": official_lmms, "lmms_gpt": official_lmms_gpt}


def owlcap_reading(raw, preset, **overrides):
    """What owlcap makes of one verdict under ``preset`` (and switch overrides), in the same terms."""
    scoring = scoring_for(preset, overrides)
    verdict = parse_verdict(raw, scoring)
    if verdict.status == "ok":
        return ("counted", verdict.yes, verdict.score)
    if verdict.status == "skipped":
        return ("skipped",)
    policy = scoring.on_parse_failure
    return ("counted", False, 0.0) if policy == "zero" else (policy,)


VERDICTS = [
    "{'pred': 'yes', 'score': 4}",
    "{'pred': 'yes', 'score': 4.8}\n",
    "\n {'pred': 'yes', 'score': 3}",  # a leading newline and indent: IndentationError unless stripped
    " {'pred': 'no', 'score': 2}",
    "['no', 2]",  # a list: lmms-eval's key test is False, the question is skipped
    "'no'",  # a string literal without the keys: skipped too
    "'the pred and the score'",  # a string holding both words: the test passes, indexing it crashes lmms-eval
    "['pred', 'score']",
    "[('pred', 'yes'), ('score', 4)]",  # pairs: AuroraCap's qa.update reads them as a dict
    "{1, 2}",
    "5",  # a number: the key test itself raises in lmms-eval
    "None",
    "b'pred score'",
    "{'pred': 'yes'}",
    "{'score': 3}",
    "{'pred': 'yes', 'score': '4'}",
    "{'pred': 'yes', 'score': '4.5'}",
    "{'pred': 'Yes', 'score': 3}",
    "{'pred': 'yes', 'score': True}",
    "{'pred': 'yes', 'score': None}",
    "Sure! {'pred': 'yes', 'score': 4}",
    "",
]


@pytest.mark.parametrize("raw", VERDICTS)
@pytest.mark.parametrize("preset", ["auroracap", "lmms_gpt"])
def test_each_verdict_reads_as_the_official_code_reads_it(preset, raw):
    assert owlcap_reading(raw, preset) == OFFICIAL[preset](raw)


@pytest.mark.parametrize("raw", VERDICTS)
def test_lmms_skips_and_crashes_where_lmms_eval_does(raw):
    """Under on_parse_failure='crash' owlcap withholds what lmms-eval 0.7.3 crashes on; the preset drops that video
    instead (a deliberate difference, noted in every lmms report)."""
    official = official_lmms(raw)
    assert owlcap_reading(raw, "lmms", on_parse_failure="crash") == official
    assert owlcap_reading(raw, "lmms") == (("drop_video",) if official == ("crash",) else official)


def test_the_issues_two_cases():
    # A list verdict: lmms-eval skips the question (it used to drop owlcap's whole video).
    assert parse_verdict("['no', 2]", scoring_for("lmms")).status == "skipped"
    # A verdict after a newline and an indent: 3/'yes' for lmms_gpt, which strips answers; unparsable as received.
    verdict = parse_verdict("\n {'pred': 'yes', 'score': 3}", scoring_for("lmms_gpt"))
    assert (verdict.status, verdict.yes, verdict.score) == ("ok", True, 3.0)
    assert parse_verdict("\n {'pred': 'yes', 'score': 3}", scoring_for("auroracap")).status == "unparsable"


def test_a_video_with_every_verdict_skipped_is_a_crash_for_lmms():
    """Every verdict of video B lacks a key: lmms-eval skips them all and divides by zero (a crash). The lmms report
    counts it; with on_parse_failure='crash' the dimension gets no number."""
    records = [
        record("A", ["{'pred': 'yes', 'score': 4}", "['no', 2]"]),
        record("B", ["{'score': 3}", "['no', 1]", "'no'"]),
    ]
    settings = ReportConfig(bootstrap_samples=0, plots=False)
    report = build_report({}, records, scoring_for("lmms"), "lmms", settings)
    camera = report["results"]["dimensions"]["camera"]
    assert camera["videos_left_out"] == {"no_counted_question": 1} and camera["acc"] == 1.0
    assert any("1 video(s) with every verdict skipped" in note for note in report["notes"])
    crashed = aggregate(records, scoring_for("lmms", {"on_parse_failure": "crash"}))["dimensions"]["camera"]
    assert crashed["acc"] is None and crashed["score"] is None and "no_counted_question" in crashed["withheld"]
    nothing_crashes = build_report({}, records[:1], scoring_for("lmms"), "lmms", settings)
    assert not any("would have crashed" in note for note in nothing_crashes["notes"])
