"""Bootstrap intervals for the headline numbers: resampling videos (or samples) with replacement.

The official scorers report point estimates only; with ~1,000 videos per benchmark and a judge that samples, a
difference of a point or two can be noise. These intervals show how much the number moves when the benchmark's
videos are resampled (judge noise itself is measured by ``--judge-repeats``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def interval(replicates: np.ndarray, confidence: float) -> list[float] | None:
    """The central ``confidence`` interval of ``replicates`` (NaN replicates ignored); ``None`` if none is finite."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [float(low), float(high)]


def resampled_means(values: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``samples`` bootstrap resamples of the rows of ``values`` (rows x columns; NaN = absent in that
    column), column by column: shape ``(samples, columns)``. A replicate whose column has no value gives NaN."""
    rows = values.shape[0]
    if rows == 0 or samples == 0:
        return np.full((samples, values.shape[1] if values.ndim == 2 else 1), np.nan)
    picks = rng.integers(0, rows, size=(samples, rows))
    drawn = values[picks]  # (samples, rows, columns)
    present = np.isfinite(drawn)
    totals = np.where(present, drawn, 0.0).sum(axis=1)
    counts = present.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def f1(recall: np.ndarray | float, precision: np.ndarray | float, zero_division: float = math.nan):
    """``2RP / (R + P)``; where ``R + P == 0`` the result is ``zero_division`` (NaN: what numpy gives officially)."""
    recall, precision = np.asarray(recall, dtype=float), np.asarray(precision, dtype=float)
    total = recall + precision
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(total != 0, 2 * recall * precision / np.where(total != 0, total, 1), zero_division)
    return float(result) if result.ndim == 0 else result


def bootstrap(
    statistic: Callable[[np.random.Generator], dict[str, np.ndarray]],
    *,
    seed: int,
    confidence: float,
) -> dict[str, list[float] | None]:
    """Run ``statistic`` (which draws its own resamples from the generator) and turn each replicate array into an
    interval."""
    rng = np.random.default_rng(seed)
    return {name: interval(replicates, confidence) for name, replicates in statistic(rng).items()}
