"""The GRPO run config: one YAML file (``configs/grpo/*.yaml``), overridable as ``--key value`` / ``--reward.key v``.

Training fields sit at the top level, as in TRL's ``GRPOConfig`` (``--beta 0.0``); the model, the data and the reward
have their own sections. Defaults are the released OwlCap GRPO code's: G = 8 completions per video, completions up to
1024 tokens sampled at temperature 1.0, KL coefficient 0.04, learning rate 1e-6, one prompt's group per GPU per
step, videos at 2 fps within 3584*28*28 pixels, reward = CSER + length reward (weights 1:1), a Qwen3-32B judge
served by vLLM, checkpoints every 50 steps (10 kept), the whole model trained (vision tower included). Anything else
``trl.GRPOConfig`` accepts goes through ``trl_args``. What the defaults keep of owlcap's own (the fused CSER protocol,
video-first prompts, qwen-vl-utils' 4-frame minimum, no top-k, TRL's unclamped KL) the released replay
``configs/grpo/owlcap_released.yaml`` sets as released; docs/released-recipe.md lists every difference.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.errors import ConfigError
from owlcap.llm import LLMConfig
from owlcap.reward import CSERConfig, LengthRewardConfig
from owlcap.train.guards import RewardChecksConfig
from owlcap.train.modeling import TrainModelConfig
from owlcap.train.run_config import TrainDataConfig, TrainRunConfig

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
PAPER_JUDGE = "openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1"


class GRPOModelConfig(TrainModelConfig):
    """The ``model:`` section (shared with SFT); GRPO trains the vision tower by default, as the released code does."""

    name_or_path: str = Field(
        "Qwen/Qwen2.5-VL-7B-Instruct",
        description="HF hub id or local path; normally the SFT checkpoint (owlcap train sft ... output_dir).",
    )
    freeze_vision_tower: bool = Field(
        False, description="Give the vision encoder no update (released GRPO code: trained, so false)."
    )


class GRPODataConfig(TrainDataConfig):
    """Which videos to caption and how they become model input."""

    train_files: list[str] = Field(
        min_length=1, description="HMD record or SFT conversation files (JSONL / JSON); the caption is the reference."
    )
    decode_workers: int = Field(2, ge=1, description="Threads decoding the distinct videos of a generation batch.")


class GRPORewardConfig(BaseModel):
    """reward = cser_weight * CSER + length_weight * length reward; a completion whose judge failed gets no reward."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(
        PAPER_JUDGE,
        description="Judge model spec: openai:<model>@<url> (paper: Qwen3-32B on vLLM), hf:<path>, or rules (offline).",
    )
    cser_weight: float = Field(1.0, ge=0, description="Weight of CSER (correctness + completeness, 0..2) (paper: 1).")
    length_weight: float = Field(1.0, ge=0, description="Weight of the length reward (0.2 / 0.5 / 1.0) (paper: 1).")
    cser: CSERConfig = Field(default_factory=CSERConfig, description="How CSER is computed (protocol, combination).")
    length: LengthRewardConfig = Field(default_factory=LengthRewardConfig, description="Length reward tiers.")
    llm: LLMConfig = Field(
        default_factory=LLMConfig, description="Judge calls: timeouts, retries, concurrency, sampling, cache."
    )
    checks: RewardChecksConfig = Field(
        default_factory=RewardChecksConfig,
        description="Judge preflight before the first step; stop when the judge keeps failing; warn on reward std 0.",
    )

    @model_validator(mode="after")
    def _check(self) -> GRPORewardConfig:
        if self.cser_weight == 0 and self.length_weight == 0:
            raise ValueError("cser_weight and length_weight are both 0: give at least one a positive weight")
        return self


class GRPORunConfig(TrainRunConfig):
    """A complete GRPO run: model, data, rewards, the GRPO algorithm, optimisation, checkpoints and logging."""

    # Set by trl_config() or the trainer (rewards weighted in TRL, generation settings, colocated vLLM).
    RESERVED_TRL_ARGS: ClassVar[frozenset[str]] = TrainRunConfig.RESERVED_TRL_ARGS | {
        "reward_weights",
        "generation_kwargs",
        "model_init_kwargs",
        "vllm_mode",
    }

    model: GRPOModelConfig = Field(default_factory=GRPOModelConfig, description="What to train and how.")
    data: GRPODataConfig = Field(description="Training videos with reference captions, and video sampling.")
    reward: GRPORewardConfig = Field(default_factory=GRPORewardConfig, description="CSER + length reward and judge.")
    output_dir: str = Field("outputs/grpo", description="Checkpoints, metrics.jsonl, logs and the final model.")

    # GRPO
    num_generations: int = Field(8, ge=2, description="G: completions sampled per video (paper: 8).")
    max_completion_length: int = Field(1024, ge=1, description="Most tokens per completion (paper: 1024).")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature of the completions (paper: 1.0).")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass of the completions.")
    top_k: int = Field(
        0, ge=0, description="Top-k filtering of the completions; 0 = off (TRL's default; the released run: 50)."
    )
    beta: float = Field(0.04, ge=0, description="KL coefficient against the reference model (paper: 0.04; 0 = no ref).")
    kl_log_ratio_clamp: float | None = Field(
        None,
        gt=0,
        description="Clamp the KL term's log-ratio log(ref/policy) to [-c, c] per token, with no gradient where "
        "clamped (the released trainer: 10); null = TRL's KL unclamped.",
    )
    loss_type: Literal[LOSS_TYPES] = Field(
        "grpo",
        description="TRL loss: grpo (per-sequence mean, as the released code), dr_grpo, dapo, bnpo, cispo, sapo, "
        "luspo (needs importance_sampling_level: sequence), vespo.",
    )
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Divide advantages by the group's reward std (group, paper), the batch's, or not (none)."
    )
    epsilon: float = Field(0.2, gt=0, description="Clipping range of the importance ratio.")
    epsilon_high: float | None = Field(None, gt=0, description="Upper clipping range (DAPO: 0.28); None = epsilon.")
    num_iterations: int = Field(1, ge=1, description="Optimisation passes per generation batch (mu).")
    importance_sampling_level: Literal["token", "sequence"] = Field(
        "token", description="Importance ratios per token (GRPO) or per sequence (GSPO)."
    )
    mask_truncated_completions: bool = Field(
        False, description="Leave completions cut at the length limit out of the loss."
    )
    share_video_encoding: bool = Field(
        True, description="Encode each distinct video once per forward pass, shared by its G completions."
    )

    # optimisation
    learning_rate: float = Field(1e-6, gt=0, description="Peak learning rate (paper: 1e-6).")
    per_device_train_batch_size: int = Field(
        8, ge=1, description="Completions per GPU per micro-batch (8 = one video's whole group, as released)."
    )
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    num_train_epochs: float = Field(1.0, gt=0, description="Passes over the videos (released: 1).")
    lr_scheduler_type: str = Field("linear", description="transformers scheduler name (linear, cosine, constant...).")
    warmup_steps: float = Field(0, ge=0, description="Warm-up: steps, or a fraction of all steps when < 1.")

    # generation backend
    use_vllm: bool = Field(False, description="Generate with a colocated vLLM engine (GPU extra .[vllm]; untested).")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1, description="GPU memory share of the vLLM engine.")

    # checkpoints and logging
    logging_steps: int = Field(1, ge=1, description="Log the metrics every N steps (released: 1).")
    report_to: list[Literal["tensorboard", "wandb"]] = Field(
        ["tensorboard"], description="Where logs go besides console and metrics.jsonl: tensorboard, wandb."
    )
    log_completions: bool = Field(False, description="Also save each logged step's completions and rewards (parquet).")
    save_steps: int = Field(50, ge=1, description="Save a resumable checkpoint every N steps (released: 50).")
    save_total_limit: int | None = Field(10, ge=1, description="Keep only the newest N checkpoints (released: 10).")
    trl_args: dict[str, Any] = Field(
        {}, description="Any other trl.GRPOConfig / TrainingArguments field, passed through (e.g. deepspeed)."
    )

    @model_validator(mode="after")
    def _check_loss(self) -> Self:
        if self.loss_type == "luspo" and self.importance_sampling_level != "sequence":
            raise ValueError("loss_type luspo needs importance_sampling_level: sequence")
        return self

    def reward_names(self) -> list[str]:
        """The reward functions this run uses, in order (a zero weight leaves its function out)."""
        names = []
        if self.reward.cser_weight > 0:
            names.append("cser")
        if self.reward.length_weight > 0:
            names.append("length")
        return names

    def trl_config(self):
        """The ``trl.GRPOConfig`` of this run; TRL's own checks are reported as ``ConfigError`` with the fix."""
        import torch
        from trl import GRPOConfig

        bf16 = self.bf16
        if bf16 == "auto":
            bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        weights = {"cser": self.reward.cser_weight, "length": self.reward.length_weight}
        fields = {name: getattr(self, name) for name in _TRL_FIELDS}
        try:
            return GRPOConfig(
                output_dir=self.output_dir,
                bf16=bf16,
                reward_weights=[weights[name] for name in self.reward_names()],
                remove_unused_columns=False,  # the video and reference columns must reach the trainer
                vllm_mode="colocate",  # the only vLLM mode that takes video here (see owlcap.train.grpo_vllm)
                save_strategy="steps",
                logging_strategy="steps",
                use_cpu=not torch.cuda.is_available(),
                **fields,
                **self.trl_args,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"GRPO settings rejected by TRL: {exc}{_batch_hint(self)}") from exc


_TRL_FIELDS = (
    "num_generations",
    "max_completion_length",
    "temperature",
    "top_p",
    "top_k",
    "beta",
    "loss_type",
    "scale_rewards",
    "epsilon",
    "epsilon_high",
    "num_iterations",
    "importance_sampling_level",
    "mask_truncated_completions",
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "max_steps",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "gradient_checkpointing",
    "use_vllm",
    "vllm_gpu_memory_utilization",
    "logging_steps",
    "report_to",
    "run_name",
    "log_completions",
    "save_steps",
    "save_total_limit",
)


def _batch_hint(config: GRPORunConfig) -> str:
    per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if per_step % config.num_generations == 0:
        return ""
    return (
        f" (per_device_train_batch_size x gradient_accumulation_steps x GPUs must be a multiple of num_generations="
        f"{config.num_generations}; per GPU it is {per_step}: e.g. set per_device_train_batch_size to "
        f"{config.num_generations})"
    )
