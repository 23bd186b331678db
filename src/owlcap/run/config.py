"""The pipeline config of ``owlcap run CONFIG.yaml``: one section per stage, each naming that stage's own config.

```yaml
run_dir: runs/my-run                 # every stage writes into RUN_DIR/<stage>/
model: {name_or_path: Qwen/Qwen2.5-VL-7B-Instruct}
data: {config: configs/data/vllm.yaml, inputs: [/data/videos]}      # HMD build: SFT and GRPO train on its output
sft:  {config: configs/sft/qwen2_5_vl_7b.yaml, launch: {command: "accelerate launch --config_file ..."}}
dpo:  {config: configs/dpo/qwen2_5_vl_7b.yaml, pairs: {grpo: {runs: [runs/earlier/grpo/model]}}}   # optional
grpo: {config: configs/grpo/qwen2_5_vl_7b.yaml}
caption: {videos: [clips/], models: [base, sft, grpo], config: {generation: {max_new_tokens: 512}}}
eval:
  cser: {references: refs.jsonl, judge: "openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1"}
  vdc: {config: configs/eval/vdc_auroracap.yaml, models: [sft, grpo]}
report: {}
```

A stage's ``config`` is a YAML path (the file ``owlcap train sft`` etc. take) or the same mapping inline;
``overrides`` is a mapping applied on top of it. Leaving a section out leaves that stage out. Strings may use
``${samples}`` (the sample data, ``owlcap.envs.samples_dir()``) and ``${run_dir}``; relative paths resolve against
the working directory, as in every owlcap config. The pipeline sets the fields that chain the stages (each stage's
``output_dir`` under the run directory, SFT's base model, DPO's starting model = SFT's output, GRPO's = DPO's (or
SFT's), the training files = the data stage's ``hmd.jsonl`` (DPO's: the pairs it builds), a benchmark run's ``out``
and captioning model): a stage's ``overrides`` may not set them.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from owlcap.errors import ConfigError
from owlcap.llm import LLMConfig, parse_spec
from owlcap.reward import CSERConfig, LengthRewardConfig

CAPTIONERS = ("base", "sft", "dpo", "grpo")
Captioner = Literal["base", "sft", "dpo", "grpo"]


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


class DataStageSection(StageSection):
    """The HMD build (MDF + FGE): ``config`` is a ``BuildConfig`` as ``owlcap data build --config`` takes it."""

    inputs: list[str] = Field(
        min_length=1,
        description="Videos, folders and JSONL manifests to build (as `owlcap data build` takes). A manifest line "
        "that carries a caption goes through FGE only; the others through MDF + FGE. The kept records "
        "(RUN_DIR/data/hmd.jsonl) are what SFT and GRPO train on.",
    )
    preview: list[str] = Field(
        [],
        description="Videos also built through MDF + FGE into RUN_DIR/data/preview/, recorded and shown in the "
        "report but not trained on (the quickstart: MDF runs with tiny models while training uses real captions).",
    )
    allow_failures: bool = Field(
        False,
        description="false = a video that failed (or an unreadable input) fails the stage (a re-run retries only "
        "it); true = it is reported and the kept records go on to training.",
    )


class LaunchSection(BaseModel):
    """Run a training stage as a subprocess under a distributed launcher instead of in the pipeline's process."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(
        min_length=1,
        description="The launcher, e.g. 'accelerate launch --config_file configs/accelerate/zero2.yaml' or "
        "'torchrun --nproc_per_node 8'. The pipeline adds '-m owlcap.cli.main train <stage> RUN_DIR/<stage>/"
        "config.yaml' at the end, or where the command says {args} (for a launcher wrapped in a shell: srun ... "
        "bash -c '... {args}').",
    )
    env: dict[str, str] = Field({}, description="Environment variables set for the launched command.")


class TrainStageSection(StageSection):
    """SFT or GRPO: ``config`` is a run config as ``owlcap train sft|grpo`` takes it (configs/sft, configs/grpo)."""

    config: str | dict[str, Any] = Field(
        description="YAML path of the training config (configs/sft/*.yaml, configs/grpo/*.yaml) or the config inline."
    )
    launch: LaunchSection | None = Field(
        None,
        description="Run the stage under a launcher (several GPUs or nodes) as a subprocess; null = in the "
        "pipeline's own process (one GPU or the CPU).",
    )


class DPOStageSection(TrainStageSection):
    """DPO on preference pairs: ``pairs`` is what ``owlcap data pairs`` takes (a PairsConfig), ``config`` a run
    config as ``owlcap train dpo`` takes it (configs/dpo). The stage builds the pairs into RUN_DIR/dpo/pairs/ (the
    data stage's HMD build is one of their sources), then trains RUN_DIR/dpo/model from SFT's model on them."""

    config: str | dict[str, Any] = Field(
        description="YAML path of the DPO run config (configs/dpo/*.yaml) or the config inline."
    )
    pairs: str | dict[str, Any] = Field(
        default_factory=dict,
        description="YAML path of the pairs config (owlcap data pairs --config), or it inline: GRPO runs and caption "
        "files to pair, the cap per video... The data stage's build is added to hmd.builds.",
    )


class CaptionStageSection(StageSection):
    """Caption videos with each chosen model; ``config`` is an ``owlcap caption --config`` file (CaptionConfig)."""

    videos: list[str] = Field(min_length=1, description="Video files, folders or JSONL manifests (id, video).")
    models: list[Literal[CAPTIONERS]] = Field(
        list(CAPTIONERS),
        min_length=1,
        description="Which models caption: base (before SFT), sft (after SFT), dpo (after DPO), grpo (after GRPO).",
    )
    server: LLMConfig = Field(
        default_factory=lambda: LLMConfig(concurrency=16, request_timeout_s=600.0, max_retries=3, cache=False),
        description="Captioning with a server (see servers): requests in flight, timeouts, retries, video transport.",
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


class BenchmarkSection(StageSection):
    """A benchmark evaluation: ``config`` is the evaluator's run config (configs/eval/*.yaml, or inline) as
    ``owlcap eval vdc|dream1k|carebench|capability`` takes it. One evaluation runs per caption source, each in
    RUN_DIR/eval/<benchmark>/
    <source>/: the config's own ``captions`` file (source ``captions``), each of ``models``, and ``references``."""

    models: list[Captioner] = Field(
        [],
        description="Caption the benchmark's videos (the config's captioning section) with these pipeline models "
        "(or their servers), one evaluation each.",
    )
    stand_in_videos: list[str] = Field(
        [],
        description="Videos captioned in place of the benchmark's own (a demo without the benchmark videos): each "
        "benchmark id takes the next of these in turn. The scores then say nothing about the captioner.",
    )
    reference_captions: bool = Field(
        False,
        description="DREAM-1K and CaReBench: also judge each sample's reference caption as its prediction: the "
        "ceiling this judge gives a perfect caption.",
    )
    allow_incomplete: bool = Field(
        False,
        description="false = an evaluation with failed judge calls or missing captions fails the stage (a re-run "
        "judges only those again); true = it is reported and the stage goes on.",
    )


class EvalStageSection(BaseModel):
    """Evaluations of the captions: CSER against reference captions, VDC, DREAM-1K, CaReBench, CAPability."""

    model_config = ConfigDict(extra="forbid")

    cser: CSEREvalSection | None = Field(None, description="CSER + length reward against reference captions.")
    vdc: BenchmarkSection | None = Field(None, description="VDC (VDCscore), owlcap.eval.evaluate_vdc.")
    dream1k: BenchmarkSection | None = Field(None, description="DREAM-1K (AutoDQ), owlcap.eval.evaluate_dream1k.")
    carebench: BenchmarkSection | None = Field(None, description="CaReBench (CapST), owlcap.eval.evaluate_carebench.")
    capability: BenchmarkSection | None = Field(None, description="CAPability, owlcap.eval.evaluate_capability.")

    @model_validator(mode="after")
    def _something_to_do(self) -> Self:
        if self.cser is None and not self.benchmarks():
            raise ValueError(
                "eval has no evaluation configured: add eval.cser, eval.vdc, eval.dream1k, eval.carebench or "
                "eval.capability"
            )
        for name, title in (("vdc", "VDC"), ("capability", "CAPability")):
            section = getattr(self, name)
            if section is not None and section.reference_captions:
                raise ValueError(
                    f"eval.{name}.reference_captions: {title} has no reference captions (DREAM-1K and CaReBench only)"
                )
        return self

    def benchmarks(self) -> dict[str, BenchmarkSection]:
        names = ("vdc", "dream1k", "carebench", "capability")
        return {name: section for name in names if (section := getattr(self, name)) is not None}


class ReportStageSection(BaseModel):
    """The report folder: report.md, report.json, PNG plots and one self-contained HTML page."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field("owlcap run", description="Title of the report.")
    caption_chars: int = Field(600, ge=0, description="Characters of each caption shown in the report.")


class PipelineConfig(BaseModel):
    """data -> SFT -> DPO -> GRPO -> caption -> eval -> report; each section a stage."""

    model_config = ConfigDict(extra="forbid")

    run_dir: str = Field(description="Where every stage writes (RUN_DIR/<stage>/) and the markers live.")
    cpu_threads: int | None = Field(
        None,
        ge=1,
        description="Threads torch uses on CPU in this process (null = torch's default, one per core). Tiny models "
        "run faster on one: their matrices are too small to split, and extra threads only contend for the cores.",
    )
    model: BaseModelSection = Field(description="The base model (SFT starts from it; the 'base' captioner).")
    servers: dict[Captioner, str] = Field(
        {},
        description="Captioners served by a server instead of loaded in process (caption stage and benchmark "
        "captioning): captioner -> openai:<model>@<url>[,<url>...], e.g. vLLM serving RUN_DIR/grpo/model. The "
        "pipeline cannot check that the server holds that stage's model: start it after the stage ran.",
    )
    data: DataStageSection | None = Field(
        None, description="Build HMD records (MDF + FGE): what SFT and GRPO train on."
    )
    sft: TrainStageSection | None = Field(None, description="Supervised fine-tuning of the base model.")
    dpo: DPOStageSection | None = Field(
        None, description="Preference pairs, then DPO from SFT's model (before GRPO, or instead of it)."
    )
    grpo: TrainStageSection | None = Field(
        None, description="GRPO with CSER + length reward, from DPO's model (or SFT's, when there is no DPO stage)."
    )
    caption: CaptionStageSection | None = Field(None, description="Caption videos with the chosen models.")
    eval: EvalStageSection | None = Field(None, description="Score the captions.")
    report: ReportStageSection | None = Field(
        default_factory=ReportStageSection, description="The report of the whole run (null = none)."
    )

    @field_validator("servers")
    @classmethod
    def _server_specs(cls, servers: dict[str, str]) -> dict[str, str]:
        for name, spec in servers.items():
            if not spec.strip().startswith("openai:"):
                raise ValueError(f"servers.{name}: {spec!r} is not a server spec; write openai:<model>@<url>")
            try:
                parse_spec(spec)
            except ConfigError as exc:
                raise ValueError(f"servers.{name}: {exc}") from exc
        return servers

    @model_validator(mode="after")
    def _chain_is_whole(self) -> Self:
        named = {"caption.models": self.caption.models if self.caption else [], "servers": list(self.servers)}
        for name, section in (self.eval.benchmarks() if self.eval else {}).items():
            named[f"eval.{name}.models"] = section.models
        for where, models in named.items():
            missing = [name for name in models if name != "base" and getattr(self, name) is None]
            if missing:
                raise ValueError(f"{where} names {missing} but the pipeline has no such stage; drop them")
        if self.eval is not None and self.eval.cser is not None and self.caption is None:
            raise ValueError("eval.cser scores the caption stage's captions: add a caption section or drop eval.cser")
        if self.data is not None and self.sft is None and self.dpo is None and self.grpo is None:
            raise ValueError("the data stage feeds SFT, DPO and GRPO: add one of them or drop the data section")
        return self
