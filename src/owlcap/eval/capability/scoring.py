"""CAPability scoring, from per-file records (``items.jsonl``) to the official numbers under any scoring switches.

Stage 1, ``score_item``: one (dimension, file) record's answers read again under the rules (``answers``) become
its score (1 correct, 0 not mentioned, -1 wrong; one per object for dynamic_object_number), or the reason it is
left out: a call that failed or an answer the rules refuse (the official scorer leaves such files unjudged and
out of the numbers), a file the rounds never reached (``skipped``), no caption. Stage 2, ``aggregate``: per
dimension over all scores, ``precision = correct / hit``, ``recall = correct / all``, ``hit_rate = hit / all``
(hit: score not 0) and their F1, as the official ``calculate_metric`` computes them (in [0, 1]; the official prints
x100); the unweighted mean of each over the dimensions (the official summary), and over the video and image
dimensions apart; bootstrap intervals over files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from owlcap.eval.bootstrap import interval
from owlcap.eval.capability.answers import read_literal, score_answer, validate_call
from owlcap.eval.capability.config import GROUPS, TASKS, CapScoring
from owlcap.eval.config import ReportConfig
from owlcap.eval.report import Scores, score_repeats

METRICS = ("precision", "recall", "f1", "hit_rate")
FAILED_CALLS = ("judge_unavailable", "judge_rejected")


def score(records: list[dict[str, Any]], scoring: CapScoring, settings: ReportConfig) -> Scores:
    """A run's numbers under ``scoring``: the first repeat's ``aggregate`` with bootstrap intervals (``settings``),
    and the spread of every headline figure over the judge repeats."""
    return score_repeats(records, scoring, settings, aggregate=aggregate, headline=headline)


@dataclass
class FileScore:
    """One file of one dimension: ``scored`` with its scores, or left out with a reason."""

    task: str
    file_id: str
    status: str
    scores: list[int] = field(default_factory=list)
    reason: str | None = None


def expected_calls(task: str, annotation: Any) -> int:
    return len(annotation) if task == "dynamic_object_number" else 1


def score_item(record: dict[str, Any], scoring: CapScoring) -> FileScore:
    """Stage 1: one record's answers, read under ``scoring``'s rules. Only answers the run accepted are read (a call
    that failed during judging stays failed whatever the rules: its round's other answers were never asked)."""
    task, annotation = record["task"], record.get("annotation")
    result = FileScore(task, record["file_id"], "scored")
    status = record.get("status")
    if status in ("no_caption", "skipped"):
        result.status, result.reason = status, record.get("reason") or status
        return result
    calls = record.get("calls") or []
    if status != "judged" or len(calls) < expected_calls(task, annotation) or any(c.get("error") for c in calls):
        kinds = [c.get("error_kind") for c in calls if c.get("error")]
        result.status, result.reason = "failed", (kinds[0] if kinds else "failed")
        return result
    try:
        for index, call in enumerate(calls):
            response = read_literal(call.get("raw"), strip=scoring.strip_answer)
            validated = validate_call(task, response, annotation, index, strict_match=scoring.strict_match)
            result.scores.append(score_answer(task, validated, annotation))
    except ValueError as exc:
        result.status, result.reason, result.scores = "invalid", f"refused under these rules: {exc}", []
    return result


def metrics(correct: float, hit: float, total: float, zero_division: str) -> dict[str, float | None]:
    """The official ``calculate_metric`` (in [0, 1]). A zero denominator: ``withhold`` gives None where the
    repository's script raises ZeroDivisionError; ``zero`` gives lmms-eval's 0 for precision and F1 (recall over
    no score at all crashes both, so it is withheld either way)."""
    if total == 0:
        return dict.fromkeys(METRICS)
    recall, hit_rate = correct / total, hit / total
    precision = correct / hit if hit else (0.0 if zero_division == "zero" else None)
    if precision is None:
        f1 = None
    elif precision + recall == 0:
        f1 = 0.0 if zero_division == "zero" else None
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "hit_rate": hit_rate}


def _counts(files: list[FileScore]) -> tuple[int, int, int]:
    scores = [s for f in files for s in f.scores]
    return sum(s == 1 for s in scores), sum(s != 0 for s in scores), len(scores)


def aggregate_task(files: list[FileScore], scoring: CapScoring) -> dict[str, Any]:
    """Stage 2 for one dimension: the official metrics over every score of its scored files, and counts."""
    scored = [f for f in files if f.status == "scored"]
    correct, hit, total = _counts(scored)
    result: dict[str, Any] = metrics(correct, hit, total, scoring.zero_division)
    result |= {
        "files": len(files),
        "files_scored": len(scored),
        "left_out": dict(Counter(f.status for f in files if f.status != "scored")),
        "scores": {"all": total, "hit": hit, "correct": correct},
    }
    if result["f1"] is None:
        why = "no file scored" if total == 0 else "no hit" if hit == 0 else "no correct answer"
        result["withheld"] = f"{why}: the official script divides by zero here, so no number is given"
    return result


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def average(tasks: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The unweighted mean of each metric over the dimensions of ``names`` that have a number (the official summary
    averages precision, recall, F1 and hit rate over the dimensions)."""
    present = [name for name in names if name in tasks]
    if not present:
        return None
    available = [tasks[name] for name in present if tasks[name]["f1"] is not None]
    result: dict[str, Any] = {m: _mean([t[m] for t in available]) for m in METRICS}
    result["dimensions"] = len(available)
    if len(available) < len(present):
        result["note"] = f"mean over {len(available)} of {len(present)} dimensions (the others have no number)"
    return result


def aggregate(
    records: list[dict[str, Any]],
    scoring: CapScoring,
    *,
    bootstrap_samples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Stage 2: every dimension, the average over them, and over the video and image dimensions."""
    by_task: dict[str, list[FileScore]] = {}
    for record in records:
        by_task.setdefault(record["task"], []).append(score_item(record, scoring))
    by_task = {task: by_task[task] for task in TASKS if task in by_task}
    tasks = {task: aggregate_task(files, scoring) for task, files in by_task.items()}
    averages = {name: average(tasks, GROUPS[name]) for name in ("all", "video", "image")}
    results: dict[str, Any] = {"dimensions": tasks, "average": averages["all"]}
    if averages["video"] and averages["image"]:
        results["video_average"], results["image_average"] = averages["video"], averages["image"]
    if bootstrap_samples:
        _add_intervals(results, by_task, scoring, bootstrap_samples, confidence, seed)
    return results


def _replicates(files: list[FileScore], samples: int, rng: np.random.Generator, zero: str) -> dict[str, np.ndarray]:
    counts = np.array([[sum(s == 1 for s in f.scores), sum(s != 0 for s in f.scores), len(f.scores)] for f in files])
    drawn = counts[rng.integers(0, len(files), size=(samples, len(files)))].sum(axis=1).astype(float)
    correct, hit, total = drawn[:, 0], drawn[:, 1], drawn[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall, hit_rate = correct / total, hit / total
        precision = np.where(hit > 0, correct / np.where(hit > 0, hit, 1), 0.0 if zero == "zero" else np.nan)
        total_pr = precision + recall
        f1 = np.where(total_pr > 0, 2 * precision * recall / np.where(total_pr > 0, total_pr, 1), np.nan)
    if zero == "zero":
        f1 = np.where(np.isnan(f1) & ~np.isnan(precision), 0.0, f1)
    return {"precision": precision, "recall": recall, "f1": f1, "hit_rate": hit_rate}


def _add_intervals(
    results: dict[str, Any],
    by_task: dict[str, list[FileScore]],
    scoring: CapScoring,
    samples: int,
    confidence: float,
    seed: int,
) -> None:
    """Bootstrap over files within each dimension (its file count fixed); the averages from the same replicates."""
    rng = np.random.default_rng(seed)
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for task, files in by_task.items():
        scored = [f for f in files if f.status == "scored"]
        if not scored or results["dimensions"][task]["f1"] is None:
            continue
        replicates[task] = _replicates(scored, samples, rng, scoring.zero_division)
        results["dimensions"][task]["ci"] = {m: interval(replicates[task][m], confidence) for m in METRICS}
    for key, group in (("average", "all"), ("video_average", "video"), ("image_average", "image")):
        members = [replicates[task] for task in GROUPS[group] if task in replicates]
        if results.get(key) and members:
            results[key]["ci"] = {m: interval(np.mean([r[m] for r in members], axis=0), confidence) for m in METRICS}


def headline(results: dict[str, Any]) -> dict[str, float | None]:
    """F1, precision and recall per dimension and on average: the figures compared across repeats and runs."""
    figures: dict[str, float | None] = {}
    rows = [*results["dimensions"].items(), ("average", results["average"] or {})]
    for name, values in rows:
        for metric in ("f1", "precision", "recall"):
            figures[f"{name}.{metric}"] = values.get(metric)
    return figures
