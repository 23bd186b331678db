"""verl adapters: ``compute_score`` (one sample, verl's default reward manager) and ``compute_score_batch`` (verl's
batch reward manager; the samples are judged concurrently).

Point verl's ``custom_reward_function.path`` at this file's module and ``name`` at either function; options go in
``custom_reward_function.reward_kwargs``: ``judge`` (model spec, default ``rules``), ``protocol``
(fused/separate/official), ``length`` (add the length reward, default true) and ``failure_score``. verl has no
"no reward" value, so a judge failure raises ``JudgeError`` unless ``failure_score`` is set; then that score is used
and the sample is flagged ``judge_failed=1`` in the returned dict (verl logs extra keys as metrics).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from owlcap.errors import JudgeError
from owlcap.reward.config import CSERConfig
from owlcap.reward.cser import CSER
from owlcap.reward.length import length_reward
from owlcap.reward.result import CSERResult
from owlcap.reward.trl import reference_text

_SCORERS: dict[tuple[str, str], CSER] = {}
_LOCK = threading.Lock()


def _scorer(judge: str, protocol: str) -> CSER:
    # One CSER per (judge, protocol) per process, so reference units and connections are reused across calls.
    with _LOCK:
        key = (judge, protocol)
        if key not in _SCORERS:
            _SCORERS[key] = CSER(judge, CSERConfig(protocol=protocol))
        return _SCORERS[key]


def _as_dict(result: CSERResult, solution: str, length: bool, failure_score: float | None) -> dict[str, float]:
    length_value = length_reward(solution) if length else 0.0
    if result.failed:
        if failure_score is None:
            raise JudgeError(f"CSER judge failed ({result.error}); set reward_kwargs.failure_score to go on")
        return {
            "score": float(failure_score),
            "correctness": float("nan"),
            "completeness": float("nan"),
            "length": length_value,
            "judge_failed": 1.0,
        }
    return {
        "score": float(result.reward) + length_value,
        "correctness": float(result.correctness),
        "completeness": float(result.completeness),
        "length": length_value,
        "judge_failed": 0.0,
    }


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    *,
    judge: str = "rules",
    protocol: str = "fused",
    length: bool = True,
    failure_score: float | None = None,
    **_unused: Any,
) -> dict[str, float]:
    """CSER (+ length reward) of one response; ``ground_truth`` is the reference caption (or ``{"answer": ...}``)."""
    result = _scorer(judge, protocol).score_sync(solution_str, reference_text(ground_truth))
    return _as_dict(result, solution_str, length, failure_score)


def compute_score_batch(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict | None] | None = None,
    *,
    judge: str = "rules",
    protocol: str = "fused",
    length: bool = True,
    failure_score: float | None = None,
    **_unused: Any,
) -> list[dict[str, float]]:
    """``compute_score`` over a batch, judged concurrently (groups sharing a reference share its units)."""
    references = [reference_text(g) for g in ground_truths]
    results = _scorer(judge, protocol).score_batch_sync(list(solution_strs), references)
    return [_as_dict(r, s, length, failure_score) for r, s in zip(results, solution_strs, strict=True)]
