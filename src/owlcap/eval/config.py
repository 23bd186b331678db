"""The settings every benchmark run shares: where captions come from, the run folder, the report, presets.

A benchmark config (``VDCEvalConfig``, ``DreamEvalConfig``) adds its data, its judge protocol and its scoring
switches. ``preset`` fills every field the user did not set with the preset's value (``apply_preset``), so a YAML
file or a command line only names what differs from the official protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.caption.config import CaptioningConfig
from owlcap.config import deep_merge
from owlcap.errors import ConfigError
from owlcap.llm import parse_spec


class CaptionSource(BaseModel):
    """A caption file to judge (owlcap's ``caption`` output or another tool's JSONL: map its fields here)."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(..., description="JSONL of captions (or, for VDC, a folder with one <dimension>.jsonl each).")
    id_field: str = Field("id", description="Field holding the benchmark id (dotted path for nested fields).")
    caption_field: str = Field("caption", description="Field holding the caption text (dotted path allowed).")
    dimension_field: str = Field(
        "dimension", description="VDC: field naming the dimension; without it the id must read '<dimension>/<id>'."
    )


class ReportConfig(BaseModel):
    """What the report computes beyond the official numbers."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_samples: int = Field(
        1000, ge=0, description="Bootstrap resamples over videos for the intervals (0: none)."
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Coverage of the bootstrap intervals.")
    seed: int = Field(0, description="Seed of the bootstrap resampling.")
    plots: bool = Field(True, description="Write PNG bar plots beside report.md.")


class EvalRunConfig(BaseModel):
    """Fields every benchmark run has. Give ``captions`` (judge a file) or ``captioning`` (caption first)."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(..., description="Run folder: run.json, captions, items.jsonl, report.json/md, plots.")
    prompts: str = Field(
        "official",
        description="Prompt set: official (the official_prompts.json beside the annotations, else the exact official "
        "texts shipped with owlcap; 'auto' is an old name of it), owlcap, or the path of a JSON file in the official "
        "layout.",
    )
    captions: CaptionSource | None = Field(None, description="Captions to judge (skips captioning).")
    captioning: CaptioningConfig | None = Field(None, description="Caption the videos first (when no captions).")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Intervals and plots.")
    limit: int | None = Field(None, ge=1, description="Judge only the first N benchmark items (smoke runs).")
    overwrite: bool = Field(
        False, description="Start the run folder afresh even if it was made with another judge or prompt set."
    )
    rejudge_failed: bool = Field(
        True, description="On a re-run, judge again the items whose judge calls failed (else keep their failure)."
    )

    @model_validator(mode="after")
    def _one_caption_source(self) -> EvalRunConfig:
        if self.captions is None and self.captioning is None:
            raise ValueError("give captions (--captions FILE) or captioning (--videos DIR --model M)")
        if self.captions is not None and self.captioning is not None:
            raise ValueError("give either captions (judge a file) or captioning (caption videos), not both")
        return self


def apply_preset(data: Any, presets: dict[str, dict[str, Any]], default: str) -> Any:
    """Merge the named preset's values under ``data`` (a dict from YAML/CLI): what the user set wins."""
    if not isinstance(data, dict):
        return data
    name = data.get("preset", default)
    if name not in presets:
        raise ConfigError(f"preset: unknown preset {name!r}; choose from {', '.join(presets)}")
    return deep_merge(presets[name], {**data, "preset": name})


def deviations(values: dict[str, Any], preset_values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The fields of ``values`` whose value differs from the preset's (dotted names), for the report."""
    changed: dict[str, Any] = {}
    for key, official in preset_values.items():
        value = values.get(key)
        if isinstance(official, dict) and isinstance(value, dict):
            changed |= deviations(value, official, f"{prefix}{key}.")
        elif value != official:
            changed[f"{prefix}{key}"] = {"value": value, "preset": official}
    return changed


def judge_deviations(judge: Any, official: dict[str, Any]) -> dict[str, Any]:
    """The settings of ``judge`` (a ``JudgeConfig``) that differ from a preset's official ones; the model is
    compared by name, not endpoint."""
    official = dict(official)
    actual = judge.model_dump(include=set(official))
    official["model"] = str(parse_spec(official["model"]).model)
    actual["model"] = str(parse_spec(actual["model"]).model)
    return deviations(actual, official, "judge.")
