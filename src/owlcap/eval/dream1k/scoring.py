"""DREAM-1K scoring, from per-item records (``items.jsonl``) to Tarsier's table, under any switch values.

Stage 1, ``score_item``: a sample's recall (share of GT events the judge labelled "entailment" against the
prediction) and precision (share of the prediction's events entailed by the reference); a sample succeeds only if
its three calls did. Stage 2, ``aggregate``: per category the mean recall and precision and the F1 of those means;
OVERALL the mean over categories (macro) of recall and precision and their F1; buckets by n_subjects, n_shots,
n_events pooled over all successful samples; micro (pooled) beside macro; bootstrap intervals within categories.
The recipe's score step, ``score``, runs stage 2 over a run's records (every judge repeat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from owlcap.eval.bootstrap import f1, interval
from owlcap.eval.config import ReportConfig
from owlcap.eval.dream1k.config import DreamScoring
from owlcap.eval.report import Scores, score_repeats

BUCKETS: dict[str, tuple[tuple[str, Any], ...]] = {
    "subjects": (
        ("<=1", lambda n: n <= 1),
        ("==2", lambda n: n == 2),
        ("==3", lambda n: n == 3),
        (">=4", lambda n: n >= 4),
    ),
    "shots": (
        ("<=1", lambda n: n <= 1),
        ("==2", lambda n: n == 2),
        ("==3", lambda n: n == 3),
        (">=4", lambda n: n >= 4),
    ),
    "events": (
        ("<=3", lambda n: n <= 3),
        ("in [4, 5]", lambda n: n in (4, 5)),
        ("in [6, 7]", lambda n: n in (6, 7)),
        (">=8", lambda n: n >= 8),
    ),
}
"""Tarsier's buckets, tested in order, first match wins; a value matching none (e.g. 4.5 events) is left out."""

CALLS = ("extraction", "recall", "precision")


def score(records: list[dict[str, Any]], scoring: DreamScoring, settings: ReportConfig) -> Scores:
    """A run's numbers under ``scoring``: the first repeat's ``aggregate`` with bootstrap intervals (``settings``),
    and the spread of every headline figure over the judge repeats."""
    return score_repeats(records, scoring, settings, aggregate=aggregate, headline=headline)


@dataclass
class SampleScore:
    """One sample: ``success`` with recall and precision, ``failed`` (a judge call failed) or ``no_caption``."""

    id: str
    dataset: str
    status: str
    recall: float | None = None
    precision: float | None = None
    counts: dict[str, float] | None = None

    def f1(self) -> float:
        return f1(self.recall, self.precision, zero_division=0.0)


def hits(judged: list[dict[str, Any]], positive: tuple[str, ...]) -> int:
    return sum(1 for event in judged if event.get("relationship") in positive)


def score_item(record: dict[str, Any], scoring: DreamScoring) -> SampleScore:
    """Stage 1 for one record (see the module docstring); a failed sample scores 0/0 when failed_samples='zero'."""
    sample = SampleScore(record["id"], record["dataset"], record.get("status", "failed"), counts=record.get("counts"))
    if sample.status == "no_caption":
        return sample
    calls = [record.get(name) or {} for name in CALLS]
    if any(call.get("error") or call.get("value") is None for call in calls):
        sample.status = "failed"
        if scoring.failed_samples == "zero":
            sample.recall = sample.precision = 0.0
        return sample
    extraction, recall, precision = calls
    gt_events = record.get("events_gt") or []
    pred_events = extraction["value"]["events"]
    if gt_events:
        sample.recall = hits(recall["value"], ("entailment",)) / len(gt_events)
    else:
        sample.recall = scoring.empty_events_score
    positive = ("entailment", "neutral") if scoring.precision_counts_neutral else ("entailment",)
    if pred_events:
        sample.precision = hits(precision["value"], positive) / len(pred_events)
    else:
        sample.precision = scoring.empty_events_score
    sample.status = "success"
    return sample


def _counted(samples: list[SampleScore]) -> list[SampleScore]:
    return [s for s in samples if s.recall is not None and s.precision is not None]


def _mean(values: list[float]) -> float:
    """``np.average`` semantics: NaN for an empty list (numpy warns; the official table shows nan)."""
    return float(sum(values) / len(values)) if values else math.nan


def _summary(samples: list[SampleScore], scoring: DreamScoring) -> dict[str, Any]:
    counted = _counted(samples)
    recall = _mean([s.recall for s in counted])
    precision = _mean([s.precision for s in counted])
    zero = math.nan if scoring.f1_zero_division is None else scoring.f1_zero_division
    if scoring.f1_mode == "of_means":
        score = f1(recall, precision, zero_division=zero)
    else:
        score = _mean([s.f1() for s in counted])
    return {"f1": score, "recall": recall, "precision": precision, "count": len(counted)}


def aggregate(
    records: list[dict[str, Any]],
    scoring: DreamScoring,
    *,
    bootstrap_samples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Stage 2: categories, OVERALL (the configured mode, plus macro and micro), buckets and intervals."""
    samples = [score_item(record, scoring) for record in records]
    by_dataset: dict[str, list[SampleScore]] = {}
    for sample in samples:
        by_dataset.setdefault(sample.dataset, []).append(sample)
    categories: dict[str, dict[str, Any]] = {}
    for dataset in sorted(by_dataset):
        group = by_dataset[dataset]
        summary = _summary(group, scoring)
        if summary["count"] == 0:
            continue  # a category whose samples all failed is absent (official); its failures still count below
        categories[dataset] = summary | _status_counts(group)
    zero = math.nan if scoring.f1_zero_division is None else scoring.f1_zero_division
    macro_recall = _mean([c["recall"] for c in categories.values()])
    macro_precision = _mean([c["precision"] for c in categories.values()])
    if scoring.f1_mode == "of_means":
        macro_f1 = f1(macro_recall, macro_precision, zero_division=zero)
    else:
        macro_f1 = _mean([c["f1"] for c in categories.values()])
    macro = {"f1": macro_f1, "recall": macro_recall, "precision": macro_precision}
    micro = _summary(samples, scoring)
    overall = (macro if scoring.overall_mode == "macro" else micro) | _status_counts(samples)
    overall |= {"macro": macro, "micro": {k: micro[k] for k in ("f1", "recall", "precision")}}
    results: dict[str, Any] = {"categories": categories, "overall": overall, "buckets": buckets(samples, scoring)}
    if bootstrap_samples:
        _add_intervals(results, by_dataset, scoring, bootstrap_samples, confidence, seed)
    return results


def _status_counts(samples: list[SampleScore]) -> dict[str, int]:
    return {
        "success": sum(s.status == "success" for s in samples),
        "failed": sum(s.status == "failed" for s in samples),
        "no_caption": sum(s.status == "no_caption" for s in samples),
    }


def buckets(samples: list[SampleScore], scoring: DreamScoring) -> dict[str, dict[str, dict[str, Any]]]:
    """Tarsier's breakdowns, pooled over every counted sample whatever its category."""
    counted = [s for s in _counted(samples) if s.counts]
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for name, keys in BUCKETS.items():
        members: dict[str, list[SampleScore]] = {label: [] for label, _ in keys}
        for sample in counted:
            value = sample.counts.get(f"n_{name}")
            for label, test in keys:
                if value is not None and test(value):
                    members[label].append(sample)
                    break
        tables[name] = {label: _summary(group, scoring) for label, group in members.items()}
    return tables


def _add_intervals(
    results: dict[str, Any],
    by_dataset: dict[str, list[SampleScore]],
    scoring: DreamScoring,
    samples: int,
    confidence: float,
    seed: int,
) -> None:
    """Bootstrap within each category (its sample count stays fixed), so OVERALL's macro mean is resampled as the
    official table is built. F1 follows ``f1_mode``."""
    rng = np.random.default_rng(seed)
    zero = math.nan if scoring.f1_zero_division is None else scoring.f1_zero_division
    per_category = {}
    for dataset in results["categories"]:
        counted = _counted(by_dataset[dataset])
        values = np.array([[s.recall, s.precision, s.f1()] for s in counted])
        drawn = values[rng.integers(0, len(counted), size=(samples, len(counted)))]
        per_category[dataset] = (drawn.mean(axis=1), drawn)
    for dataset, (means, _) in per_category.items():
        category_f1 = f1(means[:, 0], means[:, 1], zero) if scoring.f1_mode == "of_means" else means[:, 2]
        results["categories"][dataset]["ci"] = _three(category_f1, means[:, 0], means[:, 1], confidence)
    if not per_category:
        return
    stacked = np.stack([means for means, _ in per_category.values()])  # categories x samples x 3
    pooled = np.concatenate([drawn for _, drawn in per_category.values()], axis=1).mean(axis=1)
    macro = stacked.mean(axis=0)
    macro_f1 = f1(macro[:, 0], macro[:, 1], zero) if scoring.f1_mode == "of_means" else macro[:, 2]
    micro_f1 = f1(pooled[:, 0], pooled[:, 1], zero) if scoring.f1_mode == "of_means" else pooled[:, 2]
    overall = results["overall"]
    overall["macro"]["ci"] = _three(macro_f1, macro[:, 0], macro[:, 1], confidence)
    overall["micro"]["ci"] = _three(micro_f1, pooled[:, 0], pooled[:, 1], confidence)
    overall["ci"] = overall["macro" if scoring.overall_mode == "macro" else "micro"]["ci"]


def _three(f1_values, recall, precision, confidence: float) -> dict[str, list[float] | None]:
    return {
        "f1": interval(np.asarray(f1_values, dtype=float), confidence),
        "recall": interval(recall, confidence),
        "precision": interval(precision, confidence),
    }


def headline(results: dict[str, Any]) -> dict[str, float | None]:
    """F1, recall and precision per category and overall: the figures compared across repeats and runs."""
    figures: dict[str, float | None] = {}
    for name, values in [*results["categories"].items(), ("overall", results["overall"])]:
        short = name.split("/")[-1]
        for metric in ("f1", "recall", "precision"):
            figures[f"{short}.{metric}"] = values[metric]
    return figures
