"""The settings of captioning: one run over a video set (``CaptionConfig``), and a benchmark's captioning step
(``CaptioningConfig``: which videos, which model, and how it is served)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT
from owlcap.models.loading import ModelOptions
from owlcap.models.mllm import GenerationOptions
from owlcap.video import SamplingConfig


class CaptionConfig(BaseModel):
    """Settings of one captioning run (``owlcap caption`` flags map onto these)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(DEFAULT_CAPTION_PROMPT, description="User prompt; the paper's captioning prompt by default.")
    system: str | None = Field(None, description="Optional system prompt.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Frame sampling (owlcap.video).")
    generation: GenerationOptions = Field(default_factory=GenerationOptions, description="Decoding settings.")
    model_options: ModelOptions = Field(default_factory=ModelOptions, description="dtype/device/attention.")
    batch_size: int = Field(4, ge=1, description="Videos per generate call.")
    decode_workers: int = Field(2, ge=1, description="Threads decoding videos ahead of the model.")


class CaptioningConfig(BaseModel):
    """Caption a benchmark's videos before judging (used when no caption file is given)."""

    model_config = ConfigDict(extra="forbid")

    videos: Path = Field(..., description="Folder of videos named by benchmark id, or a JSONL manifest (id, video).")
    model: str = Field(..., description="HF hub id or path of a video MLLM, or openai:<model>@<url> (e.g. vLLM).")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Frame sampling (owlcap.video).")
    generation: GenerationOptions = Field(default_factory=GenerationOptions, description="Decoding settings.")
    model_options: ModelOptions = Field(default_factory=ModelOptions, description="In-process model: dtype/device.")
    batch_size: int = Field(4, ge=1, description="In-process model: videos per generate call.")
    decode_workers: int = Field(4, ge=1, description="Threads decoding videos ahead of the model.")
    concurrency: int = Field(16, ge=1, description="Server model: caption requests in flight at once.")
    request_timeout_s: float = Field(600.0, gt=0, description="Server model: limit of one caption request, seconds.")
    video_transport: Literal["frames", "video_url"] = Field(
        "frames", description="Server model: send sampled frames (JPEG images) or the video file (vLLM video_url)."
    )
