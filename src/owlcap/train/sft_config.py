"""The SFT run config: one YAML file (``configs/sft/*.yaml``), overridable as ``--key value`` / ``--model.key value``.

Training fields sit at the top level, as in TRL's ``SFTConfig`` (``--learning_rate 1e-5``); the model and the data
have their own sections. Defaults reproduce what the OwlCap paper states: Qwen2.5-VL-7B-Instruct, videos at 2 fps
within 3584*28*28 pixels, bf16, gradient checkpointing. The paper does not give (as far as we know) the learning
rate, schedule, batch size or epochs; those defaults are common values for full SFT of Qwen2.5-VL-7B, marked
"(our choice)". Anything else ``trl.SFTConfig`` accepts goes through ``trl_args``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from owlcap.train.run_config import TrainDataConfig, TrainRunConfig
from owlcap.video import SamplingConfig


class SFTDataConfig(TrainDataConfig):
    """Where the captions come from and how videos are turned into model input."""

    train_files: list[str] = Field(
        min_length=1, description="HMD record or SFT conversation files (JSONL, or a JSON array), read in order."
    )
    eval_files: list[str] = Field([], description="Held-out files in the same formats; evaluated every eval_steps.")
    max_examples: int | None = Field(None, ge=1, description="Use only the first N training examples (smoke runs).")
    max_length: int | None = Field(
        None, ge=16, description="Examples longer than this many tokens (video included) are skipped and counted."
    )
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig.paper,
        description="Frame sampling (owlcap.video); paper: 2 fps, total_pixels 3584*28*28. factor is set from the "
        "model's processor.",
    )
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes decoding videos ahead of the GPU.")


class SFTRunConfig(TrainRunConfig):
    """A complete SFT run: model, data, optimisation, checkpoints, logging and the final save."""

    # build_sft_args sets these too: the collator makes every model input, so TRL must not prepare, pack or cut it.
    RESERVED_TRL_ARGS: ClassVar[frozenset[str]] = TrainRunConfig.RESERVED_TRL_ARGS | {
        "dataset_kwargs",
        "max_length",
        "packing",
        "padding_free",
        "assistant_only_loss",
        "completion_only_loss",
        "label_names",
    }

    data: SFTDataConfig = Field(description="Training (and eval) data and video sampling.")
    output_dir: str = Field(
        "outputs/sft", description="Checkpoints, logs and the final model (owlcap caption --model)."
    )

    num_train_epochs: float = Field(1.0, gt=0, description="Passes over the data (our choice).")
    per_device_train_batch_size: int = Field(1, ge=1, description="Videos per GPU per micro-batch.")
    per_device_eval_batch_size: int = Field(1, ge=1, description="Videos per GPU per eval batch.")
    gradient_accumulation_steps: int = Field(
        8, ge=1, description="Micro-batches per optimizer step; global batch = this x batch x GPUs (our choice: 64)."
    )
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (our choice for full SFT; LoRA: ~1e-4).")
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name (linear, cosine, constant...).")
    warmup_steps: float = Field(0.03, ge=0, description="Warm-up: steps, or a fraction of all steps when < 1.")
    optim: str = Field("adamw_torch", description="transformers optimizer name (adamw_torch_fused on recent GPUs).")
    seed: int = Field(42, description="Seed for weights init (LoRA), data order and dropout.")

    bf16: bool | Literal["auto"] = Field(
        "auto", description="bf16 mixed precision; auto = on when the GPU supports it (paper), off on CPU."
    )
    gradient_checkpointing: bool = Field(True, description="Recompute activations in backward to save memory (paper).")

    logging_steps: int = Field(10, ge=1, description="Log loss, learning rate and data counters every N steps.")
    report_to: list[Literal["tensorboard", "wandb"]] = Field(
        ["tensorboard"], description="Where logs go besides the console: tensorboard (output_dir/runs), wandb."
    )
    save_steps: int = Field(500, ge=1, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(2, ge=1, description="Keep only the newest N checkpoints (None = all).")
    eval_steps: int | None = Field(None, ge=1, description="Evaluate on data.eval_files every N steps.")
    resume_from_checkpoint: str | None = Field(
        "auto",
        description="auto = continue from the newest checkpoint in output_dir if any (a re-run resumes); a path = "
        "that checkpoint; null = start fresh.",
    )
    trl_args: dict[str, Any] = Field(
        {},
        description="Any other trl.SFTConfig / TrainingArguments field, passed through (e.g. dataloader_pin_memory).",
    )

    @model_validator(mode="after")
    def _check_eval(self) -> Self:
        if self.eval_steps is not None and not self.data.eval_files:
            raise ValueError("eval_steps is set but data.eval_files is empty: add eval files or unset eval_steps")
        return self
