"""What the SFT and GRPO run configs share: the data section's common fields, and the optimisation, checkpoint,
logging and final-save fields of the run, with the checks that apply to both.

``SFTRunConfig`` and ``GRPORunConfig`` subclass :class:`TrainRunConfig` (and their data sections
:class:`TrainDataConfig`). A field is declared here once with its type, bounds and help text; a recipe redeclares it
only where its default or help text is its own (GRPO keeps the released code's values, SFT our choices), so each
recipe's defaults stand in its own file. Pydantic cannot change only a field's default, so a redeclared field repeats
its type and bounds; ``tests/train/test_run_config.py`` checks they stay the ones declared here. Fields declared here
without a default are the ones every recipe must choose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from owlcap.errors import ConfigError
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT
from owlcap.train.modeling import TrainModelConfig
from owlcap.video import PAPER_TOTAL_PIXELS, SamplingConfig


class TrainDataConfig(BaseModel):
    """Caption files, where their videos are, the default prompts, and how videos are sampled."""

    model_config = ConfigDict(extra="forbid")

    train_files: list[str] = Field(min_length=1, description="HMD record or SFT conversation files (JSONL / JSON).")
    video_root: str | None = Field(None, description="Resolve relative video paths here (default: each file's folder).")
    check_files: bool = Field(True, description="Report missing video files as bad lines before training starts.")
    max_examples: int | None = Field(None, ge=1, description="Use only the first N examples (smoke runs).")
    prompt: str = Field(DEFAULT_CAPTION_PROMPT, description="User prompt for examples that do not carry their own.")
    system: str | None = Field(None, description="System prompt for examples that do not carry their own.")
    prompt_order: Literal["video_first", "text_first"] = Field(
        "video_first",
        description="Where the video sits in the user turn: before the prompt text (video_first, as Qwen's examples) "
        "or after it (text_first, as the released OwlCap GRPO code builds its prompt).",
    )
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig.paper,
        description="Frame sampling (owlcap.video); paper: 2 fps, total_pixels 3584*28*28. factor comes from the "
        "model's processor.",
    )

    @field_validator("sampling", mode="before")
    @classmethod
    def _paper_budget_unless_given(cls, value: Any) -> Any:
        """A partial ``sampling:`` section (e.g. only ``nframes``) keeps the paper's pixel budget."""
        if isinstance(value, dict) and "total_pixels" not in value:
            return {**value, "total_pixels": PAPER_TOTAL_PIXELS}
        return value


TRAINER_FIELDS = (
    "output_dir",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "optim",
    "seed",
    "gradient_checkpointing",
    "logging_steps",
    "run_name",
    "save_steps",
    "save_total_limit",
)
"""Run-config fields that SFT's and DPO's TRL configs take under the same name (a recipe adds its own)."""


class TrainRunConfig(BaseModel):
    """A training run's model, data, optimisation, checkpoints, logging and final save; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    # The recipe sets these itself; a trl_args entry for one would silently break the video pipeline. Each recipe
    # adds its own: RESERVED_TRL_ARGS = TrainRunConfig.RESERVED_TRL_ARGS | {...}.
    RESERVED_TRL_ARGS: ClassVar[frozenset[str]] = frozenset(
        {"remove_unused_columns", "output_dir", "dataloader_num_workers"}
    )

    model: TrainModelConfig = Field(default_factory=TrainModelConfig, description="What to train and how.")
    data: TrainDataConfig = Field(description="Training data and video sampling.")
    output_dir: str = Field(description="Checkpoints, logs and the final model.")

    # optimisation
    num_train_epochs: float = Field(gt=0, description="Passes over the data.")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps; -1 = run num_train_epochs.")
    per_device_train_batch_size: int = Field(ge=1, description="Examples per GPU per micro-batch.")
    gradient_accumulation_steps: int = Field(ge=1, description="Micro-batches per optimizer step.")
    learning_rate: float = Field(gt=0, description="Peak learning rate.")
    lr_scheduler_type: str = Field(description="transformers scheduler name (linear, cosine, constant...).")
    warmup_steps: float = Field(ge=0, description="Warm-up: steps, or a fraction of all steps when < 1.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    seed: int = Field(42, description="Seed for data order, sampling and LoRA init.")
    bf16: bool | Literal["auto"] = Field("auto", description="bf16 mixed precision; auto = on when the GPU has it.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in backward to save memory.")

    # checkpoints and logging
    logging_steps: int = Field(ge=1, description="Log the metrics every N steps.")
    report_to: list[Literal["tensorboard", "wandb"]] = Field(
        ["tensorboard"], description="Where logs go besides the console: tensorboard, wandb."
    )
    run_name: str | None = Field(None, description="Run name shown in TensorBoard / W&B.")
    save_steps: int = Field(ge=1, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(ge=1, description="Keep only the newest N checkpoints (None = all).")
    resume_from_checkpoint: str | None = Field(
        "auto",
        description="auto = continue from the newest checkpoint in output_dir if any; a path = that checkpoint; "
        "null = start fresh.",
    )
    merge_lora: bool = Field(
        True,
        description="LoRA: also save the base model with the adapter merged in output_dir (the adapter is always "
        "saved in output_dir/adapter).",
    )
    trl_args: dict[str, Any] = Field({}, description="Any other TRL config field, passed through.")

    def trainer_defaults(self) -> dict[str, Any]:
        """The ``TrainingArguments`` SFT and DPO set alike: bf16 (a GPU's), where logs go, CPU or GPU, checkpoints by
        steps, the first step logged, evaluation every ``eval_steps``, and no DDP search for unused parameters."""
        import importlib.util

        import torch

        cuda = torch.cuda.is_available()
        bf16 = (cuda and torch.cuda.is_bf16_supported()) if self.bf16 == "auto" else self.bf16
        if bf16 and not cuda:
            raise ConfigError("bf16: true needs a CUDA GPU; set bf16: auto (or false) to train in fp32 on CPU")
        if "wandb" in self.report_to and importlib.util.find_spec("wandb") is None:
            raise ConfigError("report_to has wandb but wandb is not installed: pip install 'owlcap[wandb]', or drop it")
        defaults: dict[str, Any] = {
            "bf16": bf16,
            "report_to": list(self.report_to) or "none",
            "save_strategy": "steps",
            "logging_first_step": True,
            # use_cpu lets torchrun/accelerate run several CPU processes (gloo); pinning only helps a GPU.
            "use_cpu": not cuda,
            "dataloader_pin_memory": cuda,
            # TRL turns DDP's unused-parameter search on for every VLM, for text-only batches that skip the vision
            # tower. Here every batch carries a video (an emptied batch gets a stand-in), so every trainable
            # parameter gets a gradient and the search is an extra autograd traversal per step.
            "ddp_find_unused_parameters": False,
        }
        eval_steps = getattr(self, "eval_steps", None)
        if eval_steps:
            defaults |= {"eval_strategy": "steps", "eval_steps": eval_steps}
        return defaults

    @model_validator(mode="after")
    def _check_training(self) -> Self:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be -1 (use num_train_epochs) or positive, got {self.max_steps}")
        reserved = sorted(self.RESERVED_TRL_ARGS & set(self.trl_args))
        if reserved:
            raise ValueError(f"trl_args may not set {reserved}: the recipe sets them (use the owlcap fields instead)")
        overlap = sorted(set(self.trl_args) & set(type(self).model_fields))
        if overlap:
            raise ValueError(f"trl_args repeats {overlap}: set them as top-level fields instead")
        return self


def check_train_files(config: TrainRunConfig) -> None:
    """Every ``data.train_files`` entry exists: checked before the model loads, so a typo costs a second, not a
    model load. ``ConfigError`` names the field, the path and the working folder it was resolved against."""
    missing = [name for name in config.data.train_files if not Path(name).expanduser().is_file()]
    if missing:
        raise ConfigError(
            f"data.train_files: {', '.join(missing)}: no such file (relative paths resolve against the working "
            f"folder, {Path.cwd()}; ${{samples}} names the sample data shipped with owlcap)"
        )
