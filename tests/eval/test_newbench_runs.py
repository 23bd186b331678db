"""CaReBench and CAPability whole runs against the scripted judge in its own process: the numbers equal the
official rules (transcribed below, independently of owlcap's scoring code) to 1e-9, failures, retry rounds and
empty lists included; re-scoring under another preset; a faulty judge; the sample files with the rules judge."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest
from helpers.scripted_judges import dream_label
from helpers.scripted_newbench import (
    cap_categories,
    cap_score,
    care_events,
    care_objects,
)
from test_eval_runs import judge_settings

from owlcap.eval import evaluate_capability, evaluate_carebench, reaggregate
from owlcap.eval.capability.config import TASKS
from owlcap.eval.capability.data import load as load_cap
from owlcap.eval.carebench.data import load as load_care
from owlcap.eval.dream1k.data import load as load_dream
from owlcap.eval.runs import read_items

# ------------------------------------------------------------------------------------- the official rules


def official_care(items, captions, failed=()):
    """dream_gpt.py on the scripted judge's answers: per sample and kind, R over the reference's units (the
    annotation's, else extracted from the lowercased reference), P over the prediction's; only entailment counts;
    1.0 for an empty list; failed samples out; np.average over the single subtask; F1 of the means."""
    rows = {"events": [], "objects": []}
    for item in items:
        if item.id not in captions or item.id in failed:
            continue
        response, prediction = item.caption.lower(), captions[item.id].lower()
        for kind, extract in (("events", care_events), ("objects", care_objects)):
            annotated = item.events if kind == "events" else item.objects
            reference = list(annotated) if annotated is not None else extract(response.replace('"', "'"))
            predicted = extract(prediction.replace('"', "'"))

            def score(units, description):
                if not units:
                    return 1.0
                return sum(dream_label(description, u) == "entailment" for u in units) / len(units)

            rows[kind].append((score(reference, prediction), score(predicted, response)))
    table = {}
    for kind, values in rows.items():
        recall, precision = np.average([r for r, _ in values]), np.average([p for _, p in values])
        table[kind] = (2 * recall * precision / (recall + precision), recall, precision)
    return table


def official_cap_read(task, raw, anno, strip):
    """call_and_parse_single_meaasge + post_validate_format_<task> + post_process_<task>, for the answer shapes the
    scripted judge writes; None when the official code refuses the answer."""
    text = raw.strip() if strip else raw
    if "```json" in text:
        text = text.split("```json")[-1].split("```")[0].strip()
    try:
        response = ast.literal_eval(text)
    except (SyntaxError, ValueError):
        return None
    if task in ("camera_angle", "camera_movement", "style"):
        pred = response["pred"]
        if pred == "N/A" or "N/A" in pred:
            return 0
        pred = ast.literal_eval(pred) if isinstance(pred, str) else pred
        names = {"camera_angle": ["level angle", "high angle", "low angle", "dutch angle"],
                 "camera_movement": ["left", "right", "up", "down", "in", "out", "fixed"],
                 "style": ["realistic", "animated", "special effect", "old-fashioned", "pixel art", "sketch art",
                           "abstract art", "impressionism art", "cubism art"]}[task]  # fmt: skip
        if not all(p in names for p in pred):
            return None  # an explanation: .split on the list (camera dimensions) or not a name
        return 1 if anno in pred else -1
    if task in ("object_number", "dynamic_object_number"):
        value = response["object_number"]
        if not isinstance(value, str):
            return None  # a dict with an int value: .strip() fails (and dynamic looks the key up on the outer dict)
    score = response["score"]
    score = int(score) if score in ("-1", "0", "1") else score
    return score if score in (1, 0, -1) else None


def official_capability(data, captions, *, rounds, allow, strip=False, zero="crash"):
    """evaluate_scores_by_task + calculate_metric: rounds of one answer per remaining file, a dimension stopping
    once at most ``allow`` files remain; the metrics over the saved files; the mean over dimensions. Returns the
    table (None where the official script divides by zero) and the number of judge requests."""
    table, requests = {}, 0
    for task, records in data.tasks.items():
        saved: dict[str, list[int]] = {}
        for _ in range(rounds):
            remaining = [r for r in records if r.file_id not in saved]
            if not remaining or len(remaining) <= allow:
                break
            for record in remaining:
                caption = captions[record.file_id]
                scores = []
                annos = list(record.annotation.items()) if task == "dynamic_object_number" else [None]
                for index, _ in enumerate(annos):
                    requests += 1
                    read = official_cap_read(
                        task, scripted_cap(task, caption, record.annotation, index), record.annotation, strip
                    )
                    if read is None:
                        break
                    scores.append(read)
                if len(scores) == len(annos):
                    saved[record.file_id] = scores
        scores = np.array([s for values in saved.values() for s in values])
        total, hit, correct = len(scores), int(np.count_nonzero(scores != 0)), int(np.count_nonzero(scores == 1))
        if total == 0 or (zero == "crash" and (hit == 0 or correct == 0)):
            table[task] = None
            continue
        precision = 0 if hit == 0 else 100 * correct / hit
        recall = 100 * correct / total
        f1 = 0 if precision == 0 else 2 * precision * recall / (precision + recall)
        table[task] = {"precision": precision, "recall": recall, "f1": f1, "hit_rate": 100 * hit / total}
    return table, requests


def scripted_cap(task, caption, annotation, index):
    """The scripted judge's answer to one call (the same functions its server answers with)."""
    from helpers import scripted_newbench as s

    if task in ("camera_angle", "camera_movement", "style"):
        return s.cap_classify_answer(task, caption)
    if task in ("object_number", "dynamic_object_number", "object_color"):
        name, value = list(annotation.items())[index if task == "dynamic_object_number" else 0]
        return s.cap_pair_answer(task, caption, name, str(value))
    return s.cap_scored_answer(task, caption, str(annotation))


# ------------------------------------------------------------------------------------------------ fixtures


def care_files(samples_dir, tmp_path, *, skip=()):
    """12 CaReBench records made of DREAM-1K sample references (3 with the events and objects lists), and a
    caption per record: one with an unparsable object extraction, one with nothing to extract."""
    references = load_dream(samples_dir / "dream1k" / "DREAM-1k.sample.jsonl").items[:12]
    records, captions = [], {}
    for index, item in enumerate(references):
        record = {"video": f"v_{index:03d}.mp4", "caption": item.reference, "category": item.dataset.split("/")[1]}
        if index % 4 == 1:
            record["events"], record["objects"] = list(item.events), [f"There is a {w}." for w in ("man", "dog")]
        records.append(record)
        if f"v_{index:03d}" in skip:
            continue
        captions[f"v_{index:03d}"] = (
            "[objgarbage] A man waves."
            if index == 5
            else ""
            if index == 7
            else item.reference.split(".")[0] + '. A "tall" man waves. The camera pans left.'
        )
    (tmp_path / "metadata.json").write_text(json.dumps(records))
    (tmp_path / "captions.jsonl").write_text(
        "".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items())
    )
    return tmp_path / "metadata.json", captions


ANNOTATIONS = {
    "event": lambda i: f"A person does thing {i}.",
    "action": lambda i: f"waves {i}",
    "camera_movement": lambda i: ["left", "in", "fixed", "up"][i % 4],
    "dynamic_object_number": lambda i: {"chair": i % 3 + 1, "table": 2} if i % 2 else {"lamp": 1},
    "object_number": lambda i: {"cup": i % 4 + 1},
    "object_color": lambda i: {"car": ["red", "blue"][i % 2]},
    "camera_angle": lambda i: ["level angle", "high angle"][i % 2],
    "style": lambda i: ["realistic", "animated"][i % 2],
}


def cap_files(tmp_path, *, files=8, garbage=(), silent=()):
    """Annotation files of 8 dimensions (``files`` each; action annotates the first event videos, as officially)
    and one caption per file_id; ``garbage``/``silent`` name dimensions whose captions carry those markers."""
    root = tmp_path / "annotations"
    root.mkdir()
    captions = {}
    for task, annotate in ANNOTATIONS.items():
        media = "video" if task in ("event", "action", "camera_movement", "dynamic_object_number") else "image"
        prefix = "event" if task == "action" else task
        count = files - 1 if task == "action" else files
        lines = []
        for i in range(count):
            file_id = f"{prefix}_{i}"
            lines.append({"file_id": file_id, "file_path": f"data/{prefix}/{file_id}.mp4", "annotation": annotate(i),
                          "task": task, "data_type": media})  # fmt: skip
            marker = "[garbage]" if task in garbage and i % 4 != 3 else "[silent]" if task in silent else ""
            marker = marker or ("[dictnum]" if task == "object_number" and i == 2 else "")
            marker = marker or ("[explain]" if task == "camera_movement" and i == 1 else "")
            captions.setdefault(file_id, f"A {task} scene number {i}: a man moves.{marker}")
        (root / f"{task}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (tmp_path / "captions.jsonl").write_text(
        "".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items())
    )
    return root, captions


def close(got, expected):
    """owlcap's [0, 1] figures against the official x100 ones (None where the official script crashes)."""
    if expected is None:
        return got["f1"] is None
    return all(abs(100 * got[m] - expected[m]) < 1e-9 for m in ("precision", "recall", "f1", "hit_rate"))


# ---------------------------------------------------------------------------------------------------- tests


def test_carebench_run_equals_the_official_rules(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations, captions = care_files(samples_dir, tmp_path, skip={"v_011"})
    result = evaluate_carebench(
        {
            "annotations": str(annotations),
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "judge": judge_settings(judge.spec("deepseek-chat"), parse_attempts=3),
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 200},
        }
    )
    items = load_care(annotations).items
    expected = official_care(items, captions, failed={"v_005"})
    for kind, values in expected.items():
        got = result.report["results"][kind]
        assert (got["f1"], got["recall"], got["precision"]) == pytest.approx(values, abs=1e-9), kind
    counts = result.report["counts"]
    assert (counts["judged"], counts["failed"], counts["no_caption"]) == (10, 1, 1)
    assert counts["failed_calls"] == {"invalid_answer": 1}
    records = {r["id"]: r for r in read_items(tmp_path / "run")}
    assert records["v_005"]["objects"]["extraction"]["attempts"] == 3 and records["v_005"]["status"] == "failed"
    assert records["v_005"]["events"]["recall"]["value"]  # its events were judged, and still do not count
    annotated = records["v_001"]["events"]
    assert annotated["reference_units"] and annotated["reference_extraction"] is None  # the annotation's list
    assert records["v_000"]["objects"]["reference_extraction"]["value"]["objects"]  # extracted from the reference
    assert records["v_007"]["scores"]["events"]["precision"] == 1.0  # nothing extracted: precision 1.0 for free
    report_md = (tmp_path / "run" / "report.md").read_text()
    assert "| **OVERALL** |" in report_md and "By category" in report_md
    assert (tmp_path / "run" / "carebench.png").stat().st_size > 10_000
    # the same judge answers, scored with a failed call failing only its own kind
    scoped = reaggregate(tmp_path / "run", scoring={"failure_scope": "aspect"})
    assert scoped.report["results"]["events"]["count"] == 11 and scoped.report["results"]["objects"]["count"] == 10
    assert scoped.out == tmp_path / "run" / "rescored-care-failure_scope=aspect"


def test_capability_run_equals_the_official_rules_with_its_rounds(judge_process, tmp_path):
    judge = judge_process()
    root, captions = cap_files(tmp_path, garbage={"event"}, silent={"style"})
    config = {
        "annotations": str(root),
        "dimensions": list(ANNOTATIONS),
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "judge": judge_settings(judge.spec("gpt-4-turbo"), cache=False),
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 200},
    }
    result = evaluate_capability(config)
    data = load_cap(root, list(ANNOTATIONS))
    expected, requests = official_capability(data, captions, rounds=6, allow=5)
    for task, values in expected.items():
        assert close(result.report["results"]["dimensions"][task], values), task
    assert result.report["last_run"]["cost"]["requests"] == requests  # the same rounds, the same answers asked
    available = [v for v in expected.values() if v is not None]
    assert 100 * result.report["results"]["average"]["f1"] == pytest.approx(np.mean([v["f1"] for v in available]))
    event = result.report["results"]["dimensions"]["event"]
    assert event["left_out"] == {"failed": 6} and event["files_scored"] == 2  # 6 rounds spent, then left out
    assert result.report["results"]["dimensions"]["style"]["withheld"]  # no hit: the official script crashes
    notes = " ".join(result.report["notes"])
    assert "style: no hit" in notes
    # lmms-eval's rules on the same answers: zero instead of a crash for style
    lmms = reaggregate(tmp_path / "run", "lmms").report["results"]["dimensions"]
    assert lmms["style"]["f1"] == 0.0 and lmms["style"]["precision"] == 0.0
    assert lmms["event"]["f1"] == pytest.approx(event["f1"])


def test_capability_stops_a_dimension_with_few_files_left_as_officially(judge_process, tmp_path):
    judge = judge_process()
    root, captions = cap_files(tmp_path, files=4)
    result = evaluate_capability(
        {
            "annotations": str(root),
            "dimensions": ["event", "object_number"],
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "judge": judge_settings(judge.spec("gpt-4-turbo")),
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    dimensions = result.report["results"]["dimensions"]
    assert dimensions["event"]["left_out"] == {"skipped": 4} and dimensions["event"]["f1"] is None
    assert result.report["counts"]["skipped"] == 8 and result.report["last_run"]["cost"]["requests"] == 0
    assert result.complete  # leaving them out is the official rule, said in the notes, not a failure
    assert any("left unjudged by the official retry rule" in note for note in result.report["notes"])
    again = evaluate_capability(
        {
            "annotations": str(root),
            "dimensions": ["event", "object_number"],
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "judge": judge_settings(judge.spec("gpt-4-turbo")),
            "retry": {"max_allow_missing": 0},
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    data = load_cap(root, ["event", "object_number"])
    expected, _ = official_capability(data, captions, rounds=6, allow=0)
    for task, values in expected.items():
        assert close(again.report["results"]["dimensions"][task], values), task
    assert again.report["deviations_from_preset"]["retry.max_allow_missing"] == {"value": 0, "preset": 5}


def test_capability_retries_a_faulty_judge_in_rounds(judge_process, tmp_path):
    root, captions = cap_files(tmp_path)
    faulty = judge_process({"transient": {"garbage": 0.3, "500": 0.1}})
    config = {
        "annotations": str(root),
        "dimensions": ["event", "dynamic_object_number", "camera_movement"],
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "judge": judge_settings(faulty.spec("gpt-4-turbo"), max_retries=0, stop_after_consecutive_failures=0),
        "retry": {"max_allow_missing": 0},
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    result = evaluate_capability(config)
    data = load_cap(root, ["event", "dynamic_object_number", "camera_movement"])
    expected, _ = official_capability(data, captions, rounds=6, allow=0)  # what a healthy judge gives
    for task, values in expected.items():
        assert close(result.report["results"]["dimensions"][task], values), task
    cost = result.report["last_run"]["cost"]
    assert cost["failed_calls"] > 0 and cost["requests"] > sum(len(r) for r in data.tasks.values())
    failed = [r["key"] for r in read_items(tmp_path / "run") if r["status"] == "failed"]
    assert failed == ["camera_movement/camera_movement_1#0"]  # [explain]: refused every round, as officially


def test_rules_judge_scores_the_samples_end_to_end(samples_dir, tmp_path):
    """The quickstart's setting: the sample annotations of both benchmarks, the sample captions, the offline judge
    answering in the official formats (read by the official parsers)."""
    hmd = samples_dir / "hmd" / "captions.jsonl"
    care = evaluate_carebench(
        {
            "annotations": str(samples_dir / "carebench" / "metadata.sample.json"),
            "captions": {"path": str(hmd)},
            "judge": {"model": "rules"},
            "out": str(tmp_path / "care"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    assert care.complete and care.report["counts"]["judged"] == 3
    assert 0 < care.report["results"]["events"]["recall"] < 1
    cap = evaluate_capability(
        {
            "annotations": str(samples_dir / "capability"),
            "dimensions": ["video"],
            "captions": {"path": str(hmd)},
            "judge": {"model": "rules"},
            "retry": {"max_allow_missing": 0},
            "out": str(tmp_path / "cap"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    assert cap.complete and cap.report["counts"]["judged"] == 12
    assert set(cap.report["results"]["dimensions"]) == {"dynamic_object_number", "action", "camera_movement", "event"}
    assert all(d["files_scored"] == 3 for d in cap.report["results"]["dimensions"].values())


def test_every_dimension_is_known_and_grouped():
    assert len(TASKS) == 13 and set(ANNOTATIONS) < set(TASKS)
    assert cap_categories("camera_movement", "x [explain]")[0].startswith("left:")
    assert cap_score("x", "event", "y") in (1, 0, -1)
