"""The pipeline config of ``owlcap run CONFIG.yaml``: one section per stage, each naming that stage's own config.

```yaml
run_dir: runs/my-run                 # every stage writes into RUN_DIR/<stage>/
model: {name_or_path: Qwen/Qwen2.5-VL-7B-Instruct}
sft:  {config: configs/sft/qwen2_5_vl_7b.yaml, overrides: {max_steps: 100}}
grpo: {config: configs/grpo/qwen2_5_vl_7b.yaml}
caption: {videos: [clips/], models: [base, sft, grpo], config: {generation: {max_new_tokens: 512}}}
eval: {cser: {references: refs.jsonl, judge: "openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1"}}
report: {}
```

A stage's ``config`` is a YAML path (the file ``owlcap train sft`` etc. take) or the same mapping inline;
``overrides`` is a mapping applied on top of it. Leaving a section out leaves that stage out. Strings may use
``${samples}`` (the sample data, ``owlcap.envs.samples_dir()``) and ``${run_dir}``; relative paths resolve against
the working directory, as in every owlcap config. The pipeline sets the fields that chain the stages (each stage's
``output_dir`` under the run directory, SFT's base model, GRPO's starting model = SFT's output): a stage's
``overrides`` may not set them.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.llm import LLMConfig
from owlcap.reward import CSERConfig, LengthRewardConfig

CAPTIONERS = ("base", "sft", "grpo")


class BaseModelSection(BaseModel):
    """The model the pipeline starts from: SFT trains it, and the ``base`` captioner is it."""

    model_config = ConfigDict(extra="forbid")

    name_or_path: str = Field(description="Hub id or local path of the base video MLLM.")
    build_tiny: Literal["qwen2_5_vl", "qwen3_vl"] | None = Field(
        None,
        description="Build a tiny random model of this family at name_or_path when nothing is there (offline; "
        "quickstart and tests). null = the model must exist or be a hub id.",
    )


class StageSection(BaseModel):
    """A stage's own config (a YAML path or the mapping inline) and the fields overridden on top of it."""

    model_config = ConfigDict(extra="forbid")

    config: str | dict[str, Any] = Field(
        default_factory=dict, description="YAML path of the stage's config, or the config inline."
    )
    overrides: dict[str, Any] = Field(
        {}, description="Fields set on top of config; nested mappings reach sections (model: {tuning: lora})."
    )


class TrainStageSection(StageSection):
    """SFT or GRPO: ``config`` is a run config as ``owlcap train sft|grpo`` takes it (configs/sft, configs/grpo)."""

    config: str | dict[str, Any] = Field(
        description="YAML path of the training config (configs/sft/*.yaml, configs/grpo/*.yaml) or the config inline."
    )


class CaptionStageSection(StageSection):
    """Caption videos with each chosen model; ``config`` is an ``owlcap caption --config`` file (CaptionConfig)."""

    videos: list[str] = Field(min_length=1, description="Video files, folders or JSONL manifests (id, video).")
    models: list[Literal[CAPTIONERS]] = Field(
        list(CAPTIONERS),
        min_length=1,
        description="Which models caption: base (before SFT), sft (after SFT), grpo (after GRPO).",
    )
    allow_failures: bool = Field(
        False,
        description="false = a video that fails to caption fails the stage (a re-run retries only it); true = it "
        "is reported and left out of the evaluation.",
    )


class CSEREvalSection(BaseModel):
    """Score every caption against its reference caption with CSER and the length reward (same id)."""

    model_config = ConfigDict(extra="forbid")

    references: str = Field(description="HMD records or SFT conversations (JSONL); each id's caption is the reference.")
    judge: str = Field("rules", description="Judge spec: rules (offline), openai:<model>@<url>, hf:<path>.")
    cser: CSERConfig = Field(default_factory=CSERConfig, description="How CSER is computed (owlcap.reward).")
    length: LengthRewardConfig = Field(default_factory=LengthRewardConfig, description="Length reward tiers.")
    llm: LLMConfig = Field(default_factory=LLMConfig, description="Judge calls: timeouts, retries, concurrency.")
    allow_failures: bool = Field(
        False,
        description="false = a caption the judge could not score (after its retries) fails the stage, so a re-run "
        "judges again; true = it is counted, reported and left out of the means.",
    )


class EvalStageSection(BaseModel):
    """Evaluations of the captions. Benchmarks (VDC, DREAM-1K) join here as further sections."""

    model_config = ConfigDict(extra="forbid")

    cser: CSEREvalSection | None = Field(None, description="CSER + length reward against reference captions.")

    @model_validator(mode="after")
    def _something_to_do(self) -> Self:
        if self.cser is None:
            raise ValueError("eval has no evaluation configured: add eval.cser (or leave the eval section out)")
        return self


class ReportStageSection(BaseModel):
    """The report folder: report.md, report.json, PNG plots and one self-contained HTML page."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field("owlcap run", description="Title of the report.")
    caption_chars: int = Field(600, ge=0, description="Characters of each caption shown in the report.")


class PipelineConfig(BaseModel):
    """data -> SFT -> GRPO -> caption -> eval -> report; each section a stage (the data stage is still to come)."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = Field(description="Where every stage writes (RUN_DIR/<stage>/) and the markers live.")
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="Threads torch uses on CPU in this process (null = torch's default, one per core). Tiny models "
        "run faster on one: their matrices are too small to split, and extra threads only contend for the cores.",
    )
    model: BaseModelSection = Field(description="The base model (SFT starts from it; the 'base' captioner).")
    sft: TrainStageSection | None = Field(None, description="Supervised fine-tuning of the base model.")
    grpo: TrainStageSection | None = Field(None, description="GRPO with CSER + length reward, from SFT's model.")
    caption: CaptionStageSection | None = Field(None, description="Caption videos with the chosen models.")
    eval: EvalStageSection | None = Field(None, description="Score the captions.")
    report: ReportStageSection | None = Field(
        default_factory=ReportStageSection, description="The report of the whole run (null = none)."
    )

    @model_validator(mode="after")
    def _chain_is_whole(self) -> Self:
        if self.caption is not None:
            missing = [name for name in self.caption.models if name != "base" and getattr(self, name) is None]
            if missing:
                raise ValueError(f"caption.models names {missing} but the pipeline has no such stage; drop them")
        if self.eval is not None and self.caption is None:
            raise ValueError("eval scores the caption stage's captions: add a caption section or drop eval")
        return self
