"""The settings of ``owlcap data pairs``: which sources, how each makes pairs, and how the pairs are balanced.

One YAML file (``--config``) or the command's options; every field is also ``--section.field VALUE``. A source with
nothing listed is left out; at least one must be given.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.llm import LLMConfig
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT
from owlcap.reward import CSERConfig, LengthRewardConfig


class HMDPairsConfig(BaseModel):
    """Pairs from HMD builds: FGE's rejected units removed (chosen) against the caption as fused (rejected), and the
    motion caption against the fused caption where their verified coverage differs."""

    model_config = ConfigDict(extra="forbid")

    builds: list[str] = Field(
        [], description="HMD build folders (their records.jsonl) or record files (records.jsonl, hmd.jsonl)."
    )
    rejoin_model: str | None = Field(
        None,
        description="Model that rewrites the caption without its unsupported units (the fusion model, any owlcap.llm "
        "spec); null = plain removal: the chosen caption is the supported units joined in order.",
    )
    judge: str | None = Field(
        None,
        description="Text judge that says which of the fused caption's units the motion caption states (owlcap.llm "
        "spec; rules = offline word overlap); null = no motion vs fused pairs.",
    )
    p_yes_cut: float | None = Field(
        None,
        ge=0,
        le=1,
        description="For records whose verdicts carry p_yes (FGE decision: probability): a unit counts as "
        "unsupported when its p_yes is below this; null = the recorded verdicts.",
    )
    max_removed_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Make no removal pair when more than this share of a caption's units would go: the chosen "
        "caption would be so much shorter that the pair teaches brevity more than faithfulness.",
    )
    min_margin: float = Field(
        0.1,
        ge=0,
        description="Motion vs fused: keep the pair when the two captions' verified coverage differs by at least "
        "this (a share of the fused caption's units).",
    )


class GRPOPairsConfig(BaseModel):
    """Pairs from the completions a GRPO run logged (``log_completions: true``): per group, best against worst."""

    model_config = ConfigDict(extra="forbid")

    runs: list[str] = Field(
        [],
        description="GRPO output folders (they hold completions/*.parquet and owlcap_config.yaml), or their "
        "completions/ folders.",
    )
    min_margin: float = Field(
        0.2,
        ge=0,
        description="Keep a group's pair when the best completion's total reward beats the worst's by more than this "
        "(the run's weighted reward: CSER 0-2 + length 0.2-1 by default).",
    )


class CaptionPairsConfig(BaseModel):
    """Pairs from two or more caption files of the same videos, each caption scored against its reference with
    CSER (+ the length reward): per video, the best-scored caption against the worst."""

    model_config = ConfigDict(extra="forbid")

    files: list[str] = Field(
        [], description="Caption files (owlcap caption output: id, caption; a line with error is a failed caption)."
    )
    references: str | None = Field(
        None,
        description="Reference captions with their videos: HMD records or SFT conversation files (id, video, "
        "caption); a caption file's id must match one.",
    )
    judge: str = Field("rules", description="CSER judge spec: rules (offline), openai:<model>@<url>, hf:<path>.")
    cser: CSERConfig = Field(default_factory=CSERConfig, description="How CSER is computed (owlcap.reward).")
    length_weight: float = Field(
        1.0,
        ge=0,
        description="Score = CSER reward + this x length reward (1 = the paper's GRPO reward; 0 = CSER only).",
    )
    length: LengthRewardConfig = Field(default_factory=LengthRewardConfig, description="Length reward tiers.")
    min_margin: float = Field(0.2, ge=0, description="Keep a video's pair when best - worst score exceeds this.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(self.files) == 1:
            raise ValueError("captions.files: give two or more caption files of the same videos (one cannot be paired)")
        if self.files and self.references is None:
            raise ValueError("captions.files are scored against references: set captions.references")
        return self


class PairsConfig(BaseModel):
    """Everything ``owlcap data pairs`` reads; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    hmd: HMDPairsConfig = Field(default_factory=HMDPairsConfig, description="Pairs from HMD builds (FGE verdicts).")
    grpo: GRPOPairsConfig = Field(default_factory=GRPOPairsConfig, description="Pairs from GRPO completions.")
    captions: CaptionPairsConfig = Field(
        default_factory=CaptionPairsConfig, description="Pairs from CSER-scored caption files."
    )
    prompt: str = Field(
        DEFAULT_CAPTION_PROMPT,
        min_length=1,
        description="The prompt of pairs whose source carries none (HMD records without one, caption files: the "
        "plain prompt the captions are trained under, as AVC-DPO's prompt-contrast pairs).",
    )
    max_pairs_per_video: int = Field(
        4, ge=1, description="Cap per video clip; the sources take turns, each offering its widest margins first."
    )
    concurrency: int = Field(16, ge=1, description="Source items (records, videos) processed at once.")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Model and judge calls: timeouts, retries, cache.")

    @model_validator(mode="after")
    def _something_to_pair(self) -> Self:
        if not (self.hmd.builds or self.grpo.runs or self.captions.files):
            raise ValueError(
                "no source given: list HMD builds (--hmd), GRPO runs (--grpo) or caption files (--captions)"
            )
        return self
