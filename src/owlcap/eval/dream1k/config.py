"""DREAM-1K run config and its preset. Every quirk of Tarsier's scorer is a named field (docs/eval-parity.md §2.10).

Preset ``tarsier`` (the only official scorer: ``evaluation/metrics/evaluate_dream_gpt.py``): gpt-35-turbo-0125
with the service's default sampling (temperature 1), up to 10 answers per call; events extracted from the
lowercased prediction; recall and precision count only "entailment"; empty event lists score 1.0; per category the
F1 of the mean recall and precision; OVERALL the macro mean over the five categories; failed samples excluded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.eval.config import EvalRunConfig, apply_preset
from owlcap.eval.judging import JudgeConfig

PRESETS: dict[str, dict[str, Any]] = {
    "tarsier": {
        "judge": {
            "model": "openai:gpt-3.5-turbo-0125",
            "temperature": 1.0,
            "top_p": None,
            "max_tokens": 2048,
            "parse_attempts": 10,
            "request_timeout_s": 60.0,
        },
        "protocol": {
            "lowercase_captions": True,
            "quote_replace_in_extraction": True,
            "events_render": "python_repr",
            "judge_empty_event_lists": True,
        },
        "scoring": {
            "empty_events_score": 1.0,
            "precision_counts_neutral": False,
            "f1_mode": "of_means",
            "overall_mode": "macro",
            "failed_samples": "exclude",
            "f1_zero_division": None,
        },
    }
}


class DreamProtocol(BaseModel):
    """How the judge is asked. Changing these changes the judge's inputs (the items are judged again)."""

    model_config = ConfigDict(extra="forbid")

    lowercase_captions: bool = Field(
        ..., description="Lowercase the prediction and the reference before judging (official; GT events stay as is)."
    )
    quote_replace_in_extraction: bool = Field(
        ..., description="Replace every '\"' by \"'\" in the prediction given to event extraction (official)."
    )
    events_render: Literal["python_repr", "json"] = Field(
        ..., description="Events in the entailment prompt as Python's list repr (official) or as a JSON array."
    )
    judge_empty_event_lists: bool = Field(
        ...,
        description="An empty event list is still judged with the other caption in its place (official: the "
        "answer must parse, its label is ignored); false scores it at once without a call.",
    )


class DreamScoring(BaseModel):
    """How judge labels become numbers. Pure aggregation: ``owlcap eval report`` can recompute under other values."""

    model_config = ConfigDict(extra="forbid")

    empty_events_score: float = Field(
        ...,
        ge=0,
        le=1,
        description="Recall of an item without GT events, precision of a prediction without "
        "events (official 1.0, for free).",
    )
    precision_counts_neutral: bool = Field(
        ..., description="Count 'neutral' as a precision hit (the scorer's dead branch); official: only entailment."
    )
    f1_mode: Literal["of_means", "mean_of_f1"] = Field(
        ..., description="F1 of the mean recall and precision (official) or the mean of per-sample F1s."
    )
    overall_mode: Literal["macro", "micro"] = Field(
        ..., description="OVERALL as the mean over categories (official) or pooled over samples."
    )
    failed_samples: Literal["exclude", "zero"] = Field(
        ..., description="A sample whose judge calls failed: left out of every mean (official) or scored 0."
    )
    f1_zero_division: float | None = Field(
        ..., ge=0, le=1, description="F1 when recall + precision is 0: None gives NaN as numpy does (official)."
    )


class DreamEvalConfig(EvalRunConfig):
    """One DREAM-1K evaluation: data, captions, judge, protocol, scoring and report settings."""

    preset: Literal["tarsier"] = Field("tarsier", description="Official protocol to follow.")
    annotations: Path = Field(..., description="The DREAM-1K annotation file (DREAM-1k.jsonl).")
    dataset_prefix: str = Field("DREAM", description="Keep rows whose dataset reads <prefix>/... (official: DREAM).")
    duplicate_ids: Literal["first", "last", "error"] = Field(
        "first", description="A repeated dataset/idx: the first row wins (official)."
    )
    judge: JudgeConfig = Field(..., description="Judge model, sampling and budgets (preset values by default).")
    protocol: DreamProtocol = Field(..., description="How the judge is asked (preset values by default).")
    scoring: DreamScoring = Field(..., description="How labels become numbers (preset values by default).")

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        return apply_preset(data, PRESETS, "tarsier")


def scoring_for(preset: str, overrides: dict[str, Any] | None = None) -> DreamScoring:
    """The scoring switches of ``preset`` with ``overrides`` applied (for re-aggregation)."""
    from owlcap.config import validate_config

    values = {**PRESETS[preset]["scoring"], **(overrides or {})}
    return validate_config(DreamScoring, values, source=f"scoring ({preset})")
