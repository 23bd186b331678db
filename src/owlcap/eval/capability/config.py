"""CAPability run config and its presets. Every quirk of the official scorers is a named field
(docs/eval-capability.md).

Presets:

- ``capability`` (default): the official repository's ``evaluation/eval.py`` (``ali-vilab/CAPability``), the
  paper's scorer: gpt-4-turbo with the service's default sampling; a file gets one answer per round, up to
  ``max_retry_times + 1`` = 6 rounds, and rounds stop once at most ``max_allow_missing`` = 5 files of a dimension
  are left unjudged (those files are left out); a dimension with no hit crashes the script (owlcap withholds its
  number).
- ``lmms``: lmms-eval's ``capability`` task, by the same authors, with the judge they moved to
  (gpt-4.1-2025-04-14): 11 rounds; captions and judge answers stripped; precision and F1 are 0 instead of a crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from owlcap.eval.config import EvalRunConfig, apply_preset
from owlcap.eval.judging import JudgeConfig

TASKS = (
    "object_category",
    "object_number",
    "object_color",
    "spatial_relation",
    "scene",
    "camera_angle",
    "OCR",
    "style",
    "character_identification",
    "dynamic_object_number",
    "action",
    "camera_movement",
    "event",
)
"""The 13 annotation files (the paper's 12 dimensions, counting action and event apart), in the official order."""

VIDEO_TASKS = ("dynamic_object_number", "action", "camera_movement", "event")
IMAGE_TASKS = tuple(task for task in TASKS if task not in VIDEO_TASKS)
GROUPS = {"all": TASKS, "video": VIDEO_TASKS, "image": IMAGE_TASKS}
"""Names that stand for several dimensions in ``dimensions``."""

_OPENAI_DEFAULT_SAMPLING = {"temperature": 1.0, "top_p": None, "max_tokens": 4096}

PRESETS: dict[str, dict[str, Any]] = {
    "capability": {
        "judge": {
            "model": "openai:gpt-4-turbo",
            **_OPENAI_DEFAULT_SAMPLING,
            "parse_attempts": 1,
            "request_timeout_s": 600.0,
        },
        "protocol": {"strip_caption": False},
        "retry": {"max_retry_times": 5, "max_allow_missing": 5},
        "scoring": {"strip_answer": False, "strict_match": False, "zero_division": "withhold"},
    },
    "lmms": {
        "judge": {
            "model": "openai:gpt-4.1-2025-04-14",
            **_OPENAI_DEFAULT_SAMPLING,
            "parse_attempts": 1,
            "request_timeout_s": 60.0,
        },
        "protocol": {"strip_caption": True},
        "retry": {"max_retry_times": 10, "max_allow_missing": 5},
        "scoring": {"strip_answer": True, "strict_match": False, "zero_division": "zero"},
    },
}
"""The judge's sampling: neither scorer sends temperature or max_tokens (the service's defaults apply: temperature
1, and the model's own output limit); owlcap sends these values explicitly (see the parity notes)."""


class CapProtocol(BaseModel):
    """How the judge is asked. Changing these changes the judge's inputs (the items are judged again)."""

    model_config = ConfigDict(extra="forbid")

    strip_caption: bool = Field(
        ...,
        description="Strip the caption before it goes into the prompt (lmms-eval); the repository's scorer does not.",
    )


class CapRetry(BaseModel):
    """The official retry rounds: every unjudged file of a dimension gets one more answer per round."""

    model_config = ConfigDict(extra="forbid")

    max_retry_times: int = Field(
        ..., ge=0, le=50, description="Rounds after the first (repository CLI default 5; lmms-eval 10)."
    )
    max_allow_missing: int = Field(
        ...,
        ge=0,
        description="A dimension stops (before any round, the first included) once at most this many of its files "
        "are unjudged; those files are left out of its numbers (official 5; 0 judges every file).",
    )


class CapScoring(BaseModel):
    """How answers become numbers. Pure aggregation: ``owlcap eval report`` can recompute under other values."""

    model_config = ConfigDict(extra="forbid")

    strip_answer: bool = Field(
        ..., description="Strip the judge's answer before reading it (lmms-eval does; the repository does not)."
    )
    strict_match: bool = Field(
        ...,
        description="The answer must copy the annotation (the scorers' strict_match; both official entry points "
        "set it false).",
    )
    zero_division: Literal["withhold", "zero"] = Field(
        ...,
        description="A dimension with no hit (or no correct answer): the repository's script crashes "
        "(ZeroDivisionError), so owlcap withholds that number; lmms-eval gives precision and F1 0.",
    )


def expand_dimensions(names: list[str]) -> list[str]:
    """``all``/``video``/``image`` expanded, duplicates dropped, in the official order."""
    wanted: set[str] = set()
    for name in names:
        wanted.update(GROUPS.get(name, (name,)))
    return [task for task in TASKS if task in wanted]


class CapEvalConfig(EvalRunConfig):
    """One CAPability evaluation: data, captions, judge, protocol, retry rounds, scoring and report settings."""

    preset: Literal["capability", "lmms"] = Field("capability", description="Official protocol to follow.")
    annotations: Path = Field(
        ..., description="Folder of the annotation files <dimension>.jsonl (the repository's annotations/)."
    )
    dimensions: list[str] = Field(
        ["all"],
        min_length=1,
        validate_default=True,
        description="Dimensions to evaluate: names of annotation files, or all (the 13), video (the 4 video "
        "dimensions: dynamic_object_number, action, camera_movement, event) or image (the 9 others).",
    )
    judge: JudgeConfig = Field(..., description="Judge model, sampling and budgets (preset values by default).")
    protocol: CapProtocol = Field(..., description="How the judge is asked (preset values by default).")
    retry: CapRetry = Field(..., description="The official retry rounds (preset values by default).")
    scoring: CapScoring = Field(..., description="How answers become numbers (preset values by default).")

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        return apply_preset(data, PRESETS, "capability")

    @field_validator("dimensions")
    @classmethod
    def _known_dimensions(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in TASKS and name not in GROUPS]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; choose from all, video, image, {', '.join(TASKS)}")
        return expand_dimensions(names)

    @model_validator(mode="after")
    def _videos_only_for_captioning(self) -> CapEvalConfig:
        images = [task for task in self.dimensions if task in IMAGE_TASKS]
        if self.captioning is not None and images:
            raise ValueError(
                f"captioning: owlcap captions videos, and {', '.join(images)} are image dimensions; caption only the "
                "video ones (dimensions: [video]) or give the captions of every dimension (--captions)"
            )
        return self


def scoring_for(preset: str, overrides: dict[str, Any] | None = None) -> CapScoring:
    """The scoring switches of ``preset`` with ``overrides`` applied (for re-aggregation)."""
    from owlcap.config import validate_config

    values = {**PRESETS[preset]["scoring"], **(overrides or {})}
    return validate_config(CapScoring, values, source=f"scoring ({preset})")
