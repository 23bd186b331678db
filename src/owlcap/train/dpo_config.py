"""The DPO run config: one YAML file (``configs/dpo/*.yaml``), overridable as ``--key value`` / ``--model.key value``.

Training fields sit at the top level, as in TRL's ``DPOConfig`` (``--beta 0.05``); the model and the data have their
own sections. The OwlCap paper has no preference stage, so every default here is owlcap's choice, marked "(ours)":
DPO's sigmoid loss at TRL's beta 0.1 on the SFT model, the reference log-probs computed once before training (no
second model in memory), each pair's video encoded once for its chosen and rejected forwards, the vision tower
trained (preference pairs about what a video shows need the encoder to move: Blume et al. 2026 found DPO on
detailed video captions ineffective without it). Anything else ``trl.DPOConfig`` accepts goes through ``trl_args``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from owlcap.errors import ConfigError
from owlcap.train.modeling import TrainModelConfig
from owlcap.train.run_config import TRAINER_FIELDS, TrainDataConfig, TrainRunConfig

LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)
"""The losses TRL 1.16's ``DPOTrainer`` computes (``loss_type``); several combine with ``loss_weights``."""


class DPOModelConfig(TrainModelConfig):
    """The ``model:`` section (shared with SFT and GRPO); DPO trains the vision tower by default."""

    name_or_path: str = Field(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        description="HF hub id or local path; normally the SFT checkpoint (owlcap train sft ... output_dir). It is "
        "also the reference model.",
    )
    freeze_vision_tower: bool = Field(
        False, description="Give the vision encoder no update (ours: trained, see the module docstring)."
    )


class DPODataConfig(TrainDataConfig):
    """Which preference pairs, where their videos are, and how videos become model input."""

    train_files: list[str] = Field(
        min_length=1,
        description="Preference pair files (owlcap data pairs' pairs.jsonl, or conversation lines with chosen and "
        "rejected answers), read in order.",
    )
    eval_files: list[str] = Field(
        [], description="Held-out pair files in the same formats; evaluated every eval_steps."
    )
    max_length: int | None = Field(
        None,
        ge=16,
        description="Pairs whose longer sequence (video tokens included) exceeds this are skipped, counted.",
    )
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes decoding videos ahead of the GPU.")


class DPORunConfig(TrainRunConfig):
    """A complete DPO run: model, pairs, the DPO loss, optimisation, checkpoints, logging and the final save."""

    # Set by trl_config() or the collator: the collator makes every model input, TRL must not prepare or cut it.
    RESERVED_TRL_ARGS: ClassVar[frozenset[str]] = TrainRunConfig.RESERVED_TRL_ARGS | {
        "max_length",
        "truncation_mode",
        "padding_free",
        "pad_to_multiple_of",
        "dataset_num_proc",
        "model_init_kwargs",
        "label_names",
    }

    model: DPOModelConfig = Field(default_factory=DPOModelConfig, description="What to train and how.")
    data: DPODataConfig = Field(description="Preference pairs (and eval pairs) and video sampling.")
    output_dir: str = Field("outputs/dpo", description="Checkpoints, metrics.jsonl, logs and the final model.")

    # DPO
    beta: float = Field(
        0.1, gt=0, description="How far the policy may move from the reference (TRL default; IPO: its tau) (ours)."
    )
    loss_type: list[Literal[LOSS_TYPES]] = Field(
        ["sigmoid"],
        min_length=1,
        description="TRL loss(es): sigmoid (DPO), ipo, hinge, robust, sigmoid_norm (length-normalised, SimPO-style "
        "but with the reference), apo_zero, sft (an NLL term: [sigmoid, sft] is RPO), ...; several are summed with "
        "loss_weights.",
    )
    loss_weights: list[float] | None = Field(None, description="One weight per loss_type (default: 1 each).")
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="Robust DPO: the chance a pair's preference is flipped (0 = trust every pair)."
    )
    ld_alpha: float | None = Field(
        None,
        ge=0,
        le=1,
        description="LD-DPO: weight of the tokens past the shorter caption's length (long captions' verbosity); "
        "null = plain DPO.",
    )
    precompute_ref_log_probs: bool = Field(
        True,
        description="Compute the reference model's log-probs of every pair once, before training, so no reference "
        "model stays in memory (ours); false = a reference forward every step.",
    )
    precompute_ref_batch_size: int | None = Field(
        None, ge=1, description="Pairs per reference forward when precomputing (default: the training batch size)."
    )
    share_video_encoding: bool = Field(
        True,
        description="Encode each pair's video once for its chosen and rejected forwards; false = once per forward "
        "(what per-row pixel values cost: kept for the benchmark).",
    )

    # optimisation
    num_train_epochs: float = Field(1.0, gt=0, description="Passes over the pairs (ours).")
    per_device_train_batch_size: int = Field(1, ge=1, description="Pairs per GPU per micro-batch.")
    per_device_eval_batch_size: int = Field(1, ge=1, description="Pairs per GPU per eval batch.")
    gradient_accumulation_steps: int = Field(
        8, ge=1, description="Micro-batches per optimizer step; global batch = this x batch x GPUs (ours: 64)."
    )
    learning_rate: float = Field(5e-7, gt=0, description="Peak learning rate (ours: a common full-DPO value at 7B).")
    lr_scheduler_type: str = Field("cosine", description="transformers scheduler name (linear, cosine, constant...).")
    warmup_steps: float = Field(0.1, ge=0, description="Warm-up: steps, or a fraction of all steps when < 1 (ours).")
    optim: str = Field("adamw_torch", description="transformers optimizer name (adamw_torch_fused on recent GPUs).")

    # checkpoints and logging
    logging_steps: int = Field(10, ge=1, description="Log the loss, reward accuracy and margins every N steps.")
    save_steps: int = Field(200, ge=1, description="Save a resumable checkpoint every N steps.")
    save_total_limit: int | None = Field(2, ge=1, description="Keep only the newest N checkpoints (None = all).")
    eval_steps: int | None = Field(None, ge=1, description="Evaluate on data.eval_files every N steps.")
    trl_args: dict[str, Any] = Field(
        {}, description="Any other trl.DPOConfig / TrainingArguments field, passed through (e.g. use_weighting)."
    )

    @model_validator(mode="after")
    def _check_dpo(self) -> Self:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(
                f"loss_weights has {len(self.loss_weights)} weights for {len(self.loss_type)} loss_type(s)"
            )
        if self.eval_steps is not None and not self.data.eval_files:
            raise ValueError("eval_steps is set but data.eval_files is empty: add eval files or unset eval_steps")
        if "exo_pair" in self.loss_type and self.label_smoothing == 0:
            raise ValueError("loss_type exo_pair needs label_smoothing > 0 (the EXO paper: 1e-3)")
        if self.precompute_ref_log_probs and self.trl_args.get("sync_ref_model"):
            raise ValueError("sync_ref_model moves the reference: set precompute_ref_log_probs: false with it")
        return self

    def trl_config(self):
        """The ``trl.DPOConfig`` of this run; TRL's own checks are reported as ``ConfigError`` with the fix."""
        from trl import DPOConfig

        fields = {name: getattr(self, name) for name in _TRL_FIELDS}
        defaults = self.trainer_defaults()
        video = {
            "remove_unused_columns": False,  # the pair columns must reach the video collator
            "max_length": None,  # the collator skips (and counts) over-long pairs; it never cuts a video
            "dataloader_num_workers": self.data.num_workers,
        }
        try:
            return DPOConfig(**(fields | defaults | self.trl_args | video))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"DPO settings rejected by TRL: {exc}") from exc


_TRL_FIELDS = (
    *TRAINER_FIELDS,
    "beta",
    "loss_type",
    "loss_weights",
    "label_smoothing",
    "ld_alpha",
    "precompute_ref_log_probs",
    "precompute_ref_batch_size",
)
