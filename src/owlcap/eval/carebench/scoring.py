"""CaReBench scoring, from per-sample records (``items.jsonl``) to the official numbers under any scoring switches.

Stage 1, ``score_item``: per aspect (events, objects) a sample's recall (share of the reference's units the judge
labelled "entailment" against the prediction) and precision (share of the prediction's units entailed by the
reference); an empty list scores ``empty_list_score``. A sample succeeds only if all its calls did (the official
``process_one_sample`` raises on the first failure). Stage 2, ``aggregate``: per aspect the mean recall and
precision over the successful samples and the F1 of those means (the official code puts every sample in one
subtask, "overall", so its OVERALL row is that same figure); a breakdown by the annotation's category (owlcap's, not
official); bootstrap intervals over samples.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from owlcap.eval.bootstrap import f1, interval, resampled_means
from owlcap.eval.carebench.config import ASPECTS, CareScoring
from owlcap.eval.config import ReportConfig
from owlcap.eval.report import Scores, score_repeats

CALLS = ("reference_extraction", "extraction", "recall", "precision")
"""The calls of one aspect of one sample (``reference_extraction`` only when the annotation has no list)."""


def score(records: list[dict[str, Any]], scoring: CareScoring, settings: ReportConfig) -> Scores:
    """A run's numbers under ``scoring``: the first repeat's ``aggregate`` with bootstrap intervals (``settings``),
    and the spread of every headline figure over the judge repeats."""
    return score_repeats(records, scoring, settings, aggregate=aggregate, headline=headline)


@dataclass
class AspectScore:
    recall: float | None = None
    precision: float | None = None
    ok: bool = False

    def f1(self) -> float:
        return f1(self.recall, self.precision, zero_division=0.0)


@dataclass
class SampleScore:
    """One sample: ``success`` (every call answered), ``failed`` or ``no_caption``; its two aspects' scores."""

    id: str
    category: str | None
    status: str
    aspects: dict[str, AspectScore] = field(default_factory=dict)

    def counted(self, aspect: str) -> bool:
        score = self.aspects.get(aspect)
        return score is not None and score.recall is not None and score.precision is not None


def _calls(part: dict[str, Any]) -> list[dict[str, Any]]:
    calls = [part.get(name) for name in CALLS[1:]]
    if part.get("reference_units") is None:
        calls.insert(0, part.get("reference_extraction"))
    return [call or {} for call in calls]


def _hits(judged: list[dict[str, Any]], positive: tuple[str, ...]) -> int:
    return sum(1 for unit in judged if unit.get("relationship") in positive)


def score_aspect(part: dict[str, Any], aspect: str, scoring: CareScoring) -> AspectScore:
    """One aspect of one record: its recall and precision, or not ``ok`` when one of its calls failed."""
    calls = _calls(part)
    if any(call.get("error") or call.get("value") is None for call in calls):
        return AspectScore()
    reference_units = part.get("reference_units")
    if reference_units is None:
        reference_units = part["reference_extraction"]["value"][aspect]
    predicted_units = part["extraction"]["value"][aspect]
    positive = ("entailment", "neutral") if scoring.precision_counts_neutral else ("entailment",)
    recall = (
        _hits(part["recall"]["value"], ("entailment",)) / len(reference_units)
        if reference_units
        else scoring.empty_list_score
    )
    precision = (
        _hits(part["precision"]["value"], positive) / len(predicted_units)
        if predicted_units
        else scoring.empty_list_score
    )
    return AspectScore(recall, precision, ok=True)


def score_item(record: dict[str, Any], scoring: CareScoring) -> SampleScore:
    """Stage 1 for one record (see the module docstring); ``failure_scope`` decides whether a failed call fails the
    whole sample (official) or only its aspect, ``failed_samples`` whether a failure is left out or scored 0."""
    sample = SampleScore(record["id"], record.get("category"), record.get("status", "failed"))
    if sample.status == "no_caption":
        return sample
    sample.aspects = {aspect: score_aspect(record.get(aspect) or {}, aspect, scoring) for aspect in ASPECTS}
    all_ok = all(score.ok for score in sample.aspects.values())
    sample.status = "success" if all_ok else "failed"
    for score in sample.aspects.values():
        if score.ok and (all_ok or scoring.failure_scope == "aspect"):
            continue
        score.recall = score.precision = 0.0 if scoring.failed_samples == "zero" else None
    return sample


def _mean(values: list[float]) -> float:
    """``np.average`` semantics: NaN for an empty list (the official table then shows nan)."""
    return float(sum(values) / len(values)) if values else math.nan


def summarize(samples: list[SampleScore], aspect: str, scoring: CareScoring) -> dict[str, Any]:
    """Mean recall and precision over the counted samples of ``aspect`` and their F1 (``f1_mode``)."""
    counted = [s.aspects[aspect] for s in samples if s.counted(aspect)]
    recall = _mean([s.recall for s in counted])
    precision = _mean([s.precision for s in counted])
    zero = math.nan if scoring.f1_zero_division is None else scoring.f1_zero_division
    score = (
        f1(recall, precision, zero_division=zero) if scoring.f1_mode == "of_means" else _mean([s.f1() for s in counted])
    )
    return {"f1": score, "recall": recall, "precision": precision, "count": len(counted)}


def status_counts(samples: list[SampleScore]) -> dict[str, int]:
    statuses = Counter(s.status for s in samples)
    return {name: statuses.get(name, 0) for name in ("success", "failed", "no_caption")}


def aggregate(
    records: list[dict[str, Any]],
    scoring: CareScoring,
    *,
    bootstrap_samples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Stage 2: both aspects overall (the official table), by category, and the intervals."""
    samples = [score_item(record, scoring) for record in records]
    results: dict[str, Any] = {aspect: summarize(samples, aspect, scoring) for aspect in ASPECTS}
    results["samples"] = status_counts(samples)
    by_category: dict[str, list[SampleScore]] = {}
    for sample in samples:
        by_category.setdefault(sample.category or "(none)", []).append(sample)
    results["categories"] = {
        name: {aspect: summarize(group, aspect, scoring) for aspect in ASPECTS} | status_counts(group)
        for name, group in sorted(by_category.items())
    }
    if bootstrap_samples:
        _add_intervals(results, samples, scoring, bootstrap_samples, confidence, seed)
    return results


def _add_intervals(
    results: dict[str, Any], samples: list[SampleScore], scoring: CareScoring, count: int, confidence: float, seed: int
) -> None:
    """Bootstrap over samples; a resampled sample brings both aspects (NaN where an aspect is not counted)."""
    rng = np.random.default_rng(seed)
    rows = [s for s in samples if any(s.counted(a) for a in ASPECTS)]
    if not rows:
        return
    values = np.full((len(rows), 3 * len(ASPECTS)), np.nan)
    for r, sample in enumerate(rows):
        for a, aspect in enumerate(ASPECTS):
            if sample.counted(aspect):
                score = sample.aspects[aspect]
                values[r, 3 * a : 3 * a + 3] = (score.recall, score.precision, score.f1())
    means = resampled_means(values, count, rng)
    zero = math.nan if scoring.f1_zero_division is None else scoring.f1_zero_division
    for a, aspect in enumerate(ASPECTS):
        recall, precision, per_sample_f1 = means[:, 3 * a], means[:, 3 * a + 1], means[:, 3 * a + 2]
        score = f1(recall, precision, zero) if scoring.f1_mode == "of_means" else per_sample_f1
        results[aspect]["ci"] = {
            "f1": interval(np.asarray(score, dtype=float), confidence),
            "recall": interval(recall, confidence),
            "precision": interval(precision, confidence),
        }


def headline(results: dict[str, Any]) -> dict[str, float | None]:
    """F1, recall and precision of actions (events) and objects: the figures compared across repeats and runs."""
    return {
        f"{aspect}.{metric}": results[aspect][metric] for aspect in ASPECTS for metric in ("f1", "recall", "precision")
    }
