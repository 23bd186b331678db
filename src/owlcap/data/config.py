"""``BuildConfig``: every setting of an HMD build (``owlcap data build``), as YAML in ``configs/data/*.yaml``.

Defaults reproduce the paper where it says: the motion prompt "Describe this video in detail.", FGE's unit-accuracy
threshold 0.9, 2 fps frames under the paper's pixel budget. The paper names no serving setup and released no
fusion prompt; those defaults are owlcap's own (``owlcap.data.prompts``). Settings that change what a record says
(models, prompts, sampling, threshold, verification) enter the record's fingerprints, so a re-run with other
settings rebuilds the records they touch; settings that only change speed (concurrency, engine) do not.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from owlcap.errors import ConfigError
from owlcap.llm import LLMConfig, parse_spec
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT
from owlcap.video import SamplingConfig, VideoLimits

STAGES = ("motion", "fusion", "splitter", "verifier")


class ModelsConfig(BaseModel):
    """One ``owlcap.llm`` model spec per stage; a stage nothing needs may stay unset."""

    model_config = ConfigDict(extra="forbid")

    motion: str | None = Field(
        None,
        description="MDF stage 1, a motion-oriented video MLLM that captions the video, e.g. "
        "openai:Tarsier2-7B@http://127.0.0.1:8001/v1 or hf:<path>. Unset: every input must carry a "
        "motion_caption or a caption.",
    )
    fusion: str | None = Field(
        None,
        description="MDF stage 2, a general video MLLM that completes the motion caption with static detail. "
        "Unset: every input must carry a caption.",
    )
    splitter: str = Field(
        "rules",
        description="FGE: the LLM that splits a caption into minimal units (text only). 'rules' is the offline "
        "heuristic splitter (weak; demos and tests).",
    )
    verifier: str | None = Field(
        None, description="FGE: the video MLLM that checks each unit against the video. Required."
    )

    @field_validator("motion", "fusion", "splitter", "verifier")
    @classmethod
    def _valid_spec(cls, spec: str | None) -> str | None:
        if spec is None:
            return None
        try:
            return str(parse_spec(spec))
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc


class MDFConfig(BaseModel):
    """Motion-Detail Fusion: the motion caption, then the fused caption."""

    model_config = ConfigDict(extra="forbid")

    motion_prompt: str = Field(DEFAULT_CAPTION_PROMPT, min_length=1, description="Prompt of the motion model.")
    fusion_prompt: str | None = Field(
        None,
        description="Fusion prompt template with a {motion_caption} placeholder; None: owlcap's versioned prompt "
        "(owlcap.data.prompts.FUSION_PROMPT).",
    )
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature; None: llm.temperature.")
    max_tokens: int = Field(1024, ge=1, description="Most tokens of a motion or fused caption.")

    @field_validator("fusion_prompt")
    @classmethod
    def _has_placeholder(cls, prompt: str | None) -> str | None:
        if prompt is not None and "{motion_caption}" not in prompt:
            raise ValueError("the fusion prompt must contain the placeholder {motion_caption}")
        return prompt


class FGEConfig(BaseModel):
    """Fine-Grained Examination: split the fused caption into units, verify each against the video, keep or not."""

    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(0.9, ge=0, le=1, description="Keep a record when unit accuracy >= this (paper: 0.9).")
    verify_mode: Literal["structured", "per_unit"] = Field(
        "structured",
        description="structured: all units of a record in one JSON request; per_unit: one yes/no request per unit.",
    )
    decision: Literal["text", "probability"] = Field(
        "text",
        description="per_unit only: 'probability' decides yes/no from the model's next-token probabilities where the "
        "backend exposes them (hf logits; vLLM/OpenAI logprobs), falling back to the text; 'text' parses the answer.",
    )
    temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature of splitter and verifier; None: llm.temperature."
    )
    split_max_tokens: int = Field(2048, ge=1, description="Most tokens of the splitter's answer.")
    verify_max_tokens: int = Field(
        2048, ge=1, description="Most tokens of a structured verification answer (per_unit answers use 8)."
    )

    @model_validator(mode="after")
    def _check(self) -> FGEConfig:
        if self.decision == "probability" and self.verify_mode != "per_unit":
            raise ValueError("decision='probability' reads one yes/no per request: set verify_mode: per_unit")
        return self


class ConcurrencyConfig(BaseModel):
    """How much of each stage runs at once (per process; the Ray engine multiplies by its actors)."""

    model_config = ConfigDict(extra="forbid")

    decode_workers: int = Field(2, ge=1, description="Threads decoding videos (PyAV releases the GIL).")
    motion: int = Field(16, ge=1, description="Motion-caption requests in flight.")
    fusion: int = Field(16, ge=1, description="Fusion requests in flight.")
    splitter: int = Field(16, ge=1, description="Unit-splitting requests in flight.")
    verifier: int = Field(32, ge=1, description="Verification requests in flight (per_unit sends one per unit).")
    max_in_flight: int = Field(
        64,
        ge=1,
        description="Videos in the model stages at once; decoding runs up to 2 x decode_workers videos ahead of "
        "them. Bounds memory (decoded frames) and what a kill can cost.",
    )

    @property
    def videos_per_process(self) -> int:
        """Videos one process works on at once: those in the model stages plus those decoding ahead."""
        return self.max_in_flight + 2 * self.decode_workers


class RayConfig(BaseModel):
    """The Ray engine: actors that run the same stages; the driver stays the one writer."""

    model_config = ConfigDict(extra="forbid")

    address: str | None = Field(
        None,
        description="Ray cluster address ('auto', 'ray://head:10001'); None: join a running local Ray or start one.",
    )
    num_actors: int = Field(2, ge=1, description="Worker actors, each running the whole pipeline on its videos.")
    actor_num_cpus: float = Field(1.0, gt=0, description="CPUs reserved per actor (decoding happens there).")
    actor_num_gpus: float = Field(0.0, ge=0, description="GPUs per actor (for hf: models loaded in the actor).")
    max_task_retries: int = Field(2, ge=0, description="Times a video is retried on a restarted actor after a crash.")


class ReportConfig(BaseModel):
    """The report folder: plots and the HTML viewer."""

    model_config = ConfigDict(extra="forbid")

    plots: bool = Field(True, description="Write PNG plots (kept ratio, unit accuracy, caption length, failures).")
    viewer: bool = Field(True, description="Write the self-contained HTML viewer (report/index.html).")
    viewer_max_cards: int = Field(2000, ge=1, description="Most records shown in the viewer (first in file order).")
    strip_frames: int = Field(6, ge=1, le=16, description="Frames in each record's thumbnail strip.")
    strip_height: int = Field(72, ge=16, le=256, description="Height of the thumbnail strip, pixels.")


class BuildConfig(BaseModel):
    """An HMD build: models per stage, MDF and FGE settings, sampling, concurrency, engine, report."""

    model_config = ConfigDict(extra="forbid")

    models: ModelsConfig = Field(default_factory=ModelsConfig, description="Model spec per stage.")
    mdf: MDFConfig = Field(default_factory=MDFConfig, description="Motion-Detail Fusion settings.")
    fge: FGEConfig = Field(default_factory=FGEConfig, description="Fine-Grained Examination settings.")
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig.paper,
        description="Frame sampling for every stage that sees the video (paper: 2 fps, 3584*28*28 pixels in all).",
    )
    limits: VideoLimits = Field(
        default_factory=VideoLimits, description="Videos over these limits become failed records (none by default)."
    )
    llm: LLMConfig = Field(
        default_factory=LLMConfig, description="Timeouts, retries, sampling defaults and cache of every model call."
    )
    concurrency: ConcurrencyConfig = Field(default_factory=ConcurrencyConfig, description="Per-stage concurrency.")
    engine: Literal["local", "ray"] = Field("local", description="local: one process; ray: actors on a Ray cluster.")
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray engine settings.")
    report: ReportConfig = Field(default_factory=ReportConfig, description="Report folder settings.")
    retry_failed: bool = Field(True, description="A re-run retries records that failed (kept and rejected stay).")
    preflight: bool = Field(
        True,
        description="Send each server model one tiny request before any video, so a dead server or a wrong model "
        "name is one error up front (exit 2), not every record failing; false to skip.",
    )
    max_consecutive_failures: int = Field(
        50,
        ge=0,
        description="Stop admitting videos after this many model-stage failures in a row (a dead server), so a "
        "build does not mark the rest failed one by one; 0: never stop. Re-run to retry.",
    )

    def stage_options(self, stage: str) -> dict[str, Any]:
        """Request options of one stage (sent with each request and part of its cache key)."""
        if stage in ("motion", "fusion"):
            options: dict[str, Any] = {"max_tokens": self.mdf.max_tokens}
            temperature = self.mdf.temperature
        else:
            tokens = self.fge.split_max_tokens if stage == "splitter" else self.fge.verify_max_tokens
            if stage == "verifier" and self.fge.verify_mode == "per_unit":
                tokens = 8
            options = {"max_tokens": tokens}
            temperature = self.fge.temperature
        options["temperature"] = self.llm.temperature if temperature is None else temperature
        if self.llm.seed is not None:
            options["seed"] = self.llm.seed
        return options

    def mdf_settings(self) -> dict[str, Any]:
        """What an MDF output depends on, besides the video (the fingerprint's MDF half)."""
        from owlcap.data import prompts

        return {
            "motion": [model_identity(self.models.motion), self.mdf.motion_prompt, self.stage_options("motion")],
            "fusion": [
                model_identity(self.models.fusion),
                prompts.fusion_prompt_id(self.mdf.fusion_prompt),
                self.stage_options("fusion"),
            ],
            "sampling": self.sampling.model_dump(mode="json"),
        }

    def fge_settings(self) -> dict[str, Any]:
        """What an FGE outcome depends on, besides the caption and the video (the fingerprint's FGE half)."""
        from owlcap.units import VERSIONS

        return {
            "splitter": [
                model_identity(self.models.splitter),
                VERSIONS["units.decompose"],
                self.stage_options("splitter"),
            ],
            "verifier": [model_identity(self.models.verifier), self.stage_options("verifier")],
            "versions": [VERSIONS["units.verify_video"], VERSIONS["units.verify_unit"]],
            "fge": self.fge.model_dump(mode="json", include={"threshold", "verify_mode", "decision"}),
            "sampling": self.sampling.model_dump(mode="json"),
            "limits": self.limits.model_dump(mode="json"),
        }


def model_identity(spec: str | None) -> str | None:
    """What a model spec says about the answers: backend and model, not where it is served. Moving a vLLM server to
    another port or adding replicas changes no fingerprint (nor, like the LLM cache, any cached answer)."""
    if spec is None:
        return None
    parsed = parse_spec(spec)
    return "rules" if parsed.backend == "rules" else f"{parsed.backend}:{parsed.model}"
