"""VDC scoring, from per-item records (``items.jsonl``) to the official numbers, under any preset's rules.

Stage 1, ``score_item``: one (dimension, video) record's verdicts become the video's mean accuracy and score, or a
reason it is left out. Stage 2, ``aggregate``: per dimension the unweighted mean over kept videos (the official
macro average), the per-question pooled (micro) average beside it, bootstrap intervals over videos, and the
unweighted mean of the dimensions (the papers' convention; no official script computes it).
The recipe's score step, ``score``, runs stage 2 over a run's records (every judge repeat).

Verdicts are parsed here from the judge's raw answers, so a run judged once can be re-scored under another preset.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from owlcap.eval.bootstrap import interval, resampled_means
from owlcap.eval.config import ReportConfig
from owlcap.eval.report import Scores, score_repeats
from owlcap.eval.vdc.config import VDCScoring
from owlcap.eval.vdc.data import DIMENSIONS

FAILED_CALLS = ("judge_unavailable", "judge_rejected")


def score(records: list[dict[str, Any]], scoring: VDCScoring, settings: ReportConfig) -> Scores:
    """A run's numbers under ``scoring``: the first repeat's ``aggregate`` with bootstrap intervals (``settings``),
    and the spread of every headline figure over the judge repeats."""
    return score_repeats(records, scoring, settings, aggregate=aggregate, headline=headline)


@dataclass(frozen=True)
class Verdict:
    """One question's outcome: ``ok`` (with ``yes`` and ``score``), ``skipped``, ``judge_error``, or a parse
    failure: ``unparsable``, ``missing_key``, ``bad_score``."""

    status: str
    yes: bool = False
    score: float = 0.0


def literal_verdict(text: str) -> str:
    """The ``Task.parse`` of the verdict call: the answer must be a Python literal (``ast.literal_eval``), which every
    official VDC scorer requires first. What the literal means is decided later, by the preset's rules."""
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a Python literal ({type(exc).__name__}): {text[:200]!r}") from None
    return text


def _cast(value: Any, how: str) -> float | None:
    if how == "int_trunc":
        try:
            return float(int(value))
        except (TypeError, ValueError, OverflowError):
            return 0.0  # lmms_gpt's parse_score: any failure is 0
    if how == "numeric_only":
        return float(value) if isinstance(value, int | float) else None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def parse_verdict(raw: str | None, scoring: VDCScoring) -> Verdict:
    """Read one verdict answer the way the preset's scorer does (see ``VDCScoring`` for each switch)."""
    try:
        value = ast.literal_eval(raw) if raw is not None else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return Verdict("unparsable")
    if not isinstance(value, dict):
        return Verdict("unparsable")
    if "pred" not in value or "score" not in value:
        if scoring.on_missing_key == "failure":
            return Verdict("missing_key")
        if scoring.on_missing_key == "skip_question":
            return Verdict("skipped")
    score = _cast(value.get("score", 0), scoring.score_cast)
    if score is None:
        return Verdict("bad_score")
    if scoring.clamp_score:
        score = min(5.0, max(0.0, score))
    pred = value.get("pred", "no")
    yes = pred == "yes" if scoring.yes_match == "exact" else str(pred).strip().casefold() == "yes"
    return Verdict("ok", yes, score)


def question_verdict(question: dict[str, Any], scoring: VDCScoring) -> Verdict:
    """A question record's verdict: a failed judge call is a ``judge_error``; an answer that never parsed is read
    from its last raw text (it is ``unparsable`` under every preset)."""
    answer, verdict = question.get("answer_call") or {}, question.get("verdict_call")
    if answer.get("error") or verdict is None or verdict.get("error_kind") in FAILED_CALLS:
        return Verdict("judge_error")
    return parse_verdict(verdict.get("raw"), scoring)


@dataclass
class VideoScore:
    """One video in one dimension: ``kept`` with its means, or left out (``dropped``/``withheld``) with a reason."""

    dimension: str
    video_id: str
    status: str
    reason: str | None = None
    acc: float | None = None
    score: float | None = None
    counted: int = 0
    yes: int = 0
    score_sum: float = 0.0
    verdicts: Counter = field(default_factory=Counter)


def score_item(record: dict[str, Any], scoring: VDCScoring) -> VideoScore:
    """Stage 1: one (dimension, video) record to its per-video accuracy and score, or the reason it is left out."""
    video = VideoScore(record["dimension"], record["video_id"], "kept")
    if record.get("status") == "no_caption":
        video.status, video.reason = "no_caption", "no caption"
        return video
    yes_flags: list[bool] = []
    scores: list[float] = []
    drop: str | None = None
    withhold: str | None = None
    for question in record["questions"]:
        verdict = question_verdict(question, scoring)
        video.verdicts[verdict.status] += 1
        if verdict.status == "ok":
            yes_flags.append(verdict.yes)
            scores.append(verdict.score)
            continue
        if verdict.status == "skipped":
            continue
        policy = scoring.on_judge_error if verdict.status == "judge_error" else scoring.on_parse_failure
        if policy == "zero":
            yes_flags.append(False)
            scores.append(0.0)
        elif policy == "drop_video":
            drop = drop or verdict.status
        elif policy == "crash":
            withhold = withhold or verdict.status
    if withhold:
        video.status, video.reason = "withheld", withhold
    elif drop:
        video.status, video.reason = "dropped", drop
    elif not scores:
        video.status, video.reason = "dropped", "no_counted_question"
    if video.status != "kept":
        return video
    # Summed in question order and divided, as the official scorers do.
    video.counted, video.yes, video.score_sum = len(scores), sum(yes_flags), sum(scores)
    video.acc, video.score = video.yes / video.counted, video.score_sum / video.counted
    if scoring.exclude_zero_videos and not (video.score and video.acc):
        video.status, video.reason = "dropped", "zero"
    return video


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate_dimension(videos: list[VideoScore]) -> dict[str, Any]:
    """Stage 2 for one dimension: official macro means over kept videos, pooled micro means, and counts."""
    kept = [v for v in videos if v.status == "kept"]
    withheld = [v for v in videos if v.status == "withheld"]
    counted = sum(v.counted for v in kept)
    result: dict[str, Any] = {
        "acc": None if withheld else _mean([v.acc for v in kept]),
        "score": None if withheld else _mean([v.score for v in kept]),
        "micro_acc": sum(v.yes for v in kept) / counted if counted else None,
        "micro_score": sum(v.score_sum for v in kept) / counted if counted else None,
        "videos": len(videos),
        "videos_kept": len(kept),
        "videos_left_out": dict(Counter(v.reason for v in videos if v.status != "kept")),
        "questions": sum(sum(v.verdicts.values()) for v in videos),
        "questions_counted": counted,
        "verdicts": dict(sum((v.verdicts for v in videos), Counter())),
    }
    if withheld:
        result["withheld"] = (
            f"{len(withheld)} video(s) with {dict(Counter(v.reason for v in withheld))}: the official scorer "
            "stops here (on_*='crash'), so no number is given"
        )
    elif not kept:
        result["withheld"] = "no video kept (the official scorer divides by zero)"
    return result


def _intervals(per_dimension: dict[str, list[VideoScore]], samples: int, confidence: float, seed: int) -> dict:
    """Bootstrap over videos, jointly across dimensions (a resampled video brings all its dimensions)."""
    names = list(per_dimension)
    ids = sorted({v.video_id for videos in per_dimension.values() for v in videos if v.status == "kept"})
    if not ids or samples == 0:
        return {}
    index = {video_id: i for i, video_id in enumerate(ids)}
    acc = np.full((len(ids), len(names)), np.nan)
    score = np.full((len(ids), len(names)), np.nan)
    for column, name in enumerate(names):
        for video in per_dimension[name]:
            if video.status == "kept":
                acc[index[video.video_id], column] = video.acc
                score[index[video.video_id], column] = video.score
    rng = np.random.default_rng(seed)
    state = rng.bit_generator.state
    acc_reps = resampled_means(acc, samples, rng)
    rng.bit_generator.state = state  # the same resamples for both metrics
    score_reps = resampled_means(score, samples, rng)
    intervals = {
        name: {"acc": interval(acc_reps[:, c], confidence), "score": interval(score_reps[:, c], confidence)}
        for c, name in enumerate(names)
    }
    intervals["average"] = {
        "acc": interval(acc_reps.mean(axis=1), confidence),
        "score": interval(score_reps.mean(axis=1), confidence),
    }
    return intervals


def aggregate(
    records: list[dict[str, Any]],
    scoring: VDCScoring,
    *,
    bootstrap_samples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Stage 2: every dimension and the average, from one repeat's item records."""
    per_dimension: dict[str, list[VideoScore]] = {}
    for record in records:
        per_dimension.setdefault(record["dimension"], []).append(score_item(record, scoring))
    order = [d for d in DIMENSIONS if d in per_dimension]
    per_dimension = {name: per_dimension[name] for name in order}
    dimensions = {name: aggregate_dimension(videos) for name, videos in per_dimension.items()}
    available = [d for d in dimensions.values() if d["acc"] is not None]
    average: dict[str, Any] = {
        "acc": _mean([d["acc"] for d in available]),
        "score": _mean([d["score"] for d in available]),
        "micro_acc": _mean([d["micro_acc"] for d in available]),
        "micro_score": _mean([d["micro_score"] for d in available]),
        "dimensions": len(available),
    }
    if len(available) < len(dimensions):
        average["note"] = f"mean over {len(available)} of {len(dimensions)} dimensions"
    scored = {name: videos for name, videos in per_dimension.items() if dimensions[name]["acc"] is not None}
    intervals = _intervals(scored, bootstrap_samples, confidence, seed)
    for name, values in intervals.items():
        target = average if name == "average" else dimensions[name]
        target["acc_ci"], target["score_ci"] = values["acc"], values["score"]
    return {"dimensions": dimensions, "average": average}


def headline(results: dict[str, Any]) -> dict[str, float | None]:
    """The figures compared across repeats and runs: Acc and Score per dimension and on average."""
    figures: dict[str, float | None] = {}
    for name, values in [*results["dimensions"].items(), ("average", results["average"])]:
        figures[f"{name}.acc"] = values["acc"]
        figures[f"{name}.score"] = values["score"]
    return figures
