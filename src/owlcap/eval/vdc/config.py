"""VDC run config and its presets. Every quirk of the official scorers is a named field (docs/eval-parity.md §1.8).

Presets:

- ``auroracap`` (default): AuroraCap's ``post_eval/process_vdc_result.py``, the paper's scorer: Llama-3.1-8B-Instruct
  judge at temperature 1.0 (SGLang's default), 256 tokens; a video with any unparsable verdict is dropped; videos
  whose mean score or accuracy is 0 are dropped; scores cast with ``float``.
- ``lmms``: lmms-eval 0.7.3's SGLang VDC task: the same judge; a verdict missing a key is skipped; non-numeric
  scores and unparsable verdicts crash lmms-eval, where owlcap drops the video and reports what would have crashed;
  zero videos are kept.
- ``lmms_gpt``: lmms-eval's first GPT-judge VDC (Oct 2024): gpt-4o-mini at temperature 0, 64 tokens; every failure
  (unparsable, missing key, judge error) silently scores 0 / "no" there, which owlcap reproduces and counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.eval.config import EvalRunConfig, apply_preset
from owlcap.eval.judging import JudgeConfig
from owlcap.eval.vdc.data import DIMENSIONS

Dimension = Literal["camera", "short", "background", "main_object", "detailed"]

_LLAMA_SGLANG = "openai:meta-llama/Llama-3.1-8B-Instruct@http://127.0.0.1:30000/v1"

_SGLANG_JUDGE = {"model": _LLAMA_SGLANG, "temperature": 1.0, "top_p": 1.0, "max_tokens": 256, "parse_attempts": 1}

PRESETS: dict[str, dict[str, Any]] = {
    "auroracap": {
        "judge": _SGLANG_JUDGE,
        "scoring": {
            "exclude_zero_videos": True,
            "on_parse_failure": "drop_video",
            "on_missing_key": "failure",
            "score_cast": "float",
            "clamp_score": False,
            "yes_match": "exact",
            "on_judge_error": "drop_video",
        },
    },
    "lmms": {
        "judge": _SGLANG_JUDGE,
        "scoring": {
            "exclude_zero_videos": False,
            "on_parse_failure": "drop_video",
            "on_missing_key": "skip_question",
            "score_cast": "numeric_only",
            "clamp_score": False,
            "yes_match": "exact",
            "on_judge_error": "drop_video",
        },
    },
    "lmms_gpt": {
        "judge": {
            "model": "openai:gpt-4o-mini",
            "temperature": 0.0,
            "top_p": None,
            "max_tokens": 64,
            "parse_attempts": 1,
        },
        "scoring": {
            "exclude_zero_videos": False,
            "on_parse_failure": "zero",
            "on_missing_key": "default",
            "score_cast": "int_trunc",
            "clamp_score": False,
            "yes_match": "exact",
            "on_judge_error": "zero",
        },
    },
}


class VDCScoring(BaseModel):
    """How verdicts become numbers. Pure aggregation: ``owlcap eval report`` can recompute under other values."""

    model_config = ConfigDict(extra="forbid")

    exclude_zero_videos: bool = Field(
        ..., description="Drop a video whose mean score or mean accuracy is 0 from the mean (AuroraCap: true)."
    )
    on_parse_failure: Literal["drop_video", "zero", "drop_question", "crash"] = Field(
        ...,
        description="An unparsable verdict (or a score the cast rejects): drop its whole video (AuroraCap), "
        "score it 0/'no' (lmms_gpt), drop only that question, or crash: withhold the dimension's number (what "
        "lmms-eval 0.7.3 does, without stopping owlcap).",
    )
    on_missing_key: Literal["failure", "skip_question", "default"] = Field(
        ...,
        description="A verdict without 'pred' or 'score': a parse failure (AuroraCap), skipped and not counted "
        "(lmms), or the defaults 'no' / 0 (lmms_gpt).",
    )
    score_cast: Literal["float", "numeric_only", "int_trunc"] = Field(
        ...,
        description="float(score) ('4' works, 'high' fails; AuroraCap), numbers only (a string fails; lmms), "
        "or int(score) truncating 4.8 to 4 with 0 on failure (lmms_gpt).",
    )
    clamp_score: bool = Field(False, description="Clamp scores to [0, 5] (no official scorer does).")
    yes_match: Literal["exact", "casefold"] = Field(
        ..., description="A 'yes' verdict is pred == 'yes' exactly (every official scorer) or after strip+casefold."
    )
    on_judge_error: Literal["drop_video", "zero", "crash"] = Field(
        ...,
        description="A question whose judge call failed (timeouts, 5xx, retries spent): drop its video, score "
        "it 0/'no' (lmms_gpt's empty answer), or withhold the dimension's number. Always counted in the report.",
    )


class VDCProtocol(BaseModel):
    """How the judge is asked. Changing these changes the judge's inputs (the items are judged again)."""

    model_config = ConfigDict(extra="forbid")

    caption_prompts: Literal["seeded_per_video", "sequential", "fixed"] = Field(
        "seeded_per_video",
        description="Captioning: one prompt per video and dimension drawn from the dimension's "
        "pool, seeded per video (stable for any subset); 'sequential' draws from one seeded stream in file order "
        "(lmms-eval's shape; its exact order is its dataset's); 'fixed' always takes caption_prompt_index.",
    )
    caption_prompt_seed: int = Field(0, description="Seed of the prompt draw (lmms-eval seeds Python random with 0).")
    caption_prompt_index: int = Field(0, ge=0, description="Pool index used by caption_prompts='fixed'.")
    raw_answer_in_verdict: bool = Field(
        True, description="Insert the first call's answer untrimmed into the second call (official); else stripped."
    )


class VDCEvalConfig(EvalRunConfig):
    """One VDC evaluation: data, captions, judge, protocol, scoring and report settings."""

    preset: Literal["auroracap", "lmms", "lmms_gpt"] = Field("auroracap", description="Official protocol to follow.")
    qa_dir: Path = Field(..., description="Folder of the VDC question files camera.jsonl ... detailed.jsonl.")
    dimensions: list[Dimension] = Field(list(DIMENSIONS), min_length=1, description="Dimensions to evaluate.")
    duplicate_keys: Literal["last", "first", "error"] = Field(
        "last", description="A video repeated in a question file: the last line wins (official dict.update)."
    )
    judge: JudgeConfig = Field(..., description="Judge model, sampling and budgets (preset values by default).")
    protocol: VDCProtocol = Field(default_factory=VDCProtocol, description="How the judge is asked.")
    scoring: VDCScoring = Field(..., description="How verdicts become numbers (preset values by default).")

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        return apply_preset(data, PRESETS, "auroracap")


def scoring_for(preset: str, overrides: dict[str, Any] | None = None) -> VDCScoring:
    """The scoring switches of ``preset`` with ``overrides`` applied (for re-aggregation)."""
    from owlcap.config import validate_config

    values = {**PRESETS[preset]["scoring"], **(overrides or {})}
    return validate_config(VDCScoring, values, source=f"scoring ({preset})")
