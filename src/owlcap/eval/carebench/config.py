"""CaReBench run config and its preset. Every quirk of the official scorer is a named field (docs/eval-carebench.md).

Preset ``care`` (the only official scorer: ``MCG-NJU/CaReBench`` ``tasks/captioning.py`` + ``utils/dream_gpt.py``,
run by ``scripts/captioning.sh``): DREAM-1K's AutoDQ extended to objects. The judge is ``deepseek-chat`` at
``https://api.deepseek.com/v1`` with the service's default sampling (no field sent), up to 10 answers per call;
events and objects are extracted from the lowercased prediction (and from the reference when the annotation has no
lists); recall and precision count only "entailment" for both; an empty list scores 1.0; one subtask ("overall"):
recall and precision are means over the samples whose every call succeeded, F1 the F1 of those means, for actions
(events) and for objects apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.eval.config import EvalRunConfig, apply_preset
from owlcap.eval.judging import JudgeConfig

ASPECTS = ("events", "objects")
"""The two kinds of units CaReBench judges: events (the paper's temporal side, "Action") and objects (spatial)."""

PRESETS: dict[str, dict[str, Any]] = {
    "care": {
        "judge": {
            "model": "openai:deepseek-chat@https://api.deepseek.com/v1",
            "temperature": 1.0,
            "top_p": None,
            "max_tokens": 4096,
            "parse_attempts": 10,
        },
        "protocol": {
            "lowercase_captions": True,
            "quote_replace_in_extraction": True,
            "units_render": "python_repr",
            "judge_empty_lists": True,
            "reference_units": "annotation_or_extract",
        },
        "scoring": {
            "empty_list_score": 1.0,
            "precision_counts_neutral": False,
            "f1_mode": "of_means",
            "failed_samples": "exclude",
            "failure_scope": "sample",
            "f1_zero_division": None,
        },
    }
}
"""The judge's sampling: the official code sends no temperature or max_tokens (DeepSeek's defaults apply:
temperature 1.0, at most 4096 new tokens); owlcap sends those values explicitly (see the parity notes)."""


class CareProtocol(BaseModel):
    """How the judge is asked. Changing these changes the judge's inputs (the items are judged again)."""

    model_config = ConfigDict(extra="forbid")

    lowercase_captions: bool = Field(
        ..., description="Lowercase the prediction and the reference before every call (official; lists stay as is)."
    )
    quote_replace_in_extraction: bool = Field(
        ..., description="Replace every '\"' by \"'\" in the caption given to extraction (official)."
    )
    units_render: Literal["python_repr", "json"] = Field(
        ..., description="Events/objects in the entailment prompt as Python's list repr (official) or a JSON array."
    )
    judge_empty_lists: bool = Field(
        ...,
        description="An empty list is still judged with the other caption in its place (official: the answer must "
        "parse, its labels are ignored); false scores it at once without a call.",
    )
    reference_units: Literal["annotation_or_extract", "extract"] = Field(
        ...,
        description="The reference's events and objects: the annotation's 'events'/'objects' lists when they are "
        "lists, else extracted by the judge from the reference caption (official); 'extract' always extracts.",
    )


class CareScoring(BaseModel):
    """How judge labels become numbers. Pure aggregation: ``owlcap eval report`` can recompute under other values."""

    model_config = ConfigDict(extra="forbid")

    empty_list_score: float = Field(
        ...,
        ge=0,
        le=1,
        description="Recall when the reference has no events (objects), precision when the prediction has none "
        "(official 1.0, for free).",
    )
    precision_counts_neutral: bool = Field(
        ..., description="Count 'neutral' as a precision hit (the scorer's dead branch); official: only entailment."
    )
    f1_mode: Literal["of_means", "mean_of_f1"] = Field(
        ..., description="F1 of the mean recall and precision (official) or the mean of per-sample F1s."
    )
    failed_samples: Literal["exclude", "zero"] = Field(
        ..., description="A sample whose judge calls failed: left out of every mean (official) or scored 0."
    )
    failure_scope: Literal["sample", "aspect"] = Field(
        ...,
        description="A failed call fails the whole sample, events and objects alike (official: one exception ends "
        "process_one_sample), or only the aspect (events or objects) it belongs to.",
    )
    f1_zero_division: float | None = Field(
        ..., ge=0, le=1, description="F1 when recall + precision is 0: None gives NaN as numpy does (official)."
    )


class CareEvalConfig(EvalRunConfig):
    """One CaReBench evaluation: data, captions, judge, protocol, scoring and report settings."""

    preset: Literal["care"] = Field("care", description="Official protocol to follow.")
    annotations: Path = Field(..., description="CaReBench's annotation file (json/metadata.json, a JSON list).")
    judge: JudgeConfig = Field(..., description="Judge model, sampling and budgets (preset values by default).")
    protocol: CareProtocol = Field(..., description="How the judge is asked (preset values by default).")
    scoring: CareScoring = Field(..., description="How labels become numbers (preset values by default).")

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        return apply_preset(data, PRESETS, "care")


def scoring_for(preset: str, overrides: dict[str, Any] | None = None) -> CareScoring:
    """The scoring switches of ``preset`` with ``overrides`` applied (for re-aggregation)."""
    from owlcap.config import validate_config

    values = {**PRESETS[preset]["scoring"], **(overrides or {})}
    return validate_config(CareScoring, values, source=f"scoring ({preset})")
