"""Loading a video MLLM for training: dtype, attention, full or LoRA tuning, frozen vision tower / projector.

Shared by SFT and GRPO. The stable API:

* :class:`TrainModelConfig` (with :class:`LoraSettings`) -- the ``model:`` section of a training config.
* :func:`load_training_model` -- ``(model, processor)`` from a hub id or local path, in the training dtype, with the
  KV cache off. Not moved to a device: the trainer (accelerate) places it, and under DeepSpeed ZeRO-3 the weights
  must be loaded after the ``TrainingArguments`` exist.
* :func:`prepare_model` -- apply the tuning plan: for full tuning it freezes what the config freezes and returns
  ``None``; for LoRA it returns the ``peft.LoraConfig`` to hand to the TRL trainer (``peft_config=``), which wraps the
  model itself (TRL then also handles ZeRO-3 adapter dtypes and input gradients under checkpointing).
* :func:`vision_parameter_names` -- which parameters are the vision tower and which the projector (merger).
* :func:`count_parameters` -- total / trainable parameter counts (ZeRO-3-partitioned parameters counted whole).

"Frozen" means the same in both modes: the part gets no update at all. Under LoRA, an unfrozen vision tower gets
adapters on its linear layers and an unfrozen projector is trained fully (PEFT ``modules_to_save``); the language
model always gets adapters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.errors import ConfigError, ModelLoadError
from owlcap.models.loading import (
    is_multimodal_config,
    model_load_error,
    model_source,
    resolve_attention,
    resolve_dtype,
)

logger = logging.getLogger(__name__)

_TOWER_MARKERS = (".visual.", "vision_tower.", "vision_model.")
_PROJECTOR_MARKERS = ("merger", "multi_modal_projector")
_LANGUAGE_MARKERS = ("language_model.",)


class LoraSettings(BaseModel):
    """LoRA adapter settings (used when ``tuning: lora``)."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(64, ge=1, description="Adapter rank.")
    alpha: int = Field(128, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the adapter input.")
    target_modules: list[str] | str | None = Field(
        None,
        description="Modules to adapt (PEFT syntax: names or one regex). None = every linear layer of the language "
        "model, plus the vision tower's when it is not frozen.",
    )


class TrainModelConfig(BaseModel):
    """Which model to train and how (the ``model:`` section of SFT and GRPO configs)."""

    model_config = ConfigDict(extra="forbid")

    name_or_path: str = Field(
        "Qwen/Qwen2.5-VL-7B-Instruct", description="HF hub id or local path of the video MLLM (paper: Qwen2.5-VL-7B)."
    )
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype; auto = bfloat16 on a GPU that supports it (paper), float32 on CPU."
    )
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="Attention kernel; auto = flash_attention_2 when installed on GPU, else sdpa."
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint.")
    tuning: Literal["full", "lora"] = Field("full", description="full = update all unfrozen weights; lora = adapters.")
    freeze_vision_tower: bool = Field(
        True, description="Give the vision encoder no update (Qwen's official fine-tuning recipe default)."
    )
    freeze_projector: bool = Field(False, description="Give the vision-language projector (Qwen 'merger') no update.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Adapter settings when tuning is lora.")

    @model_validator(mode="after")
    def _check(self) -> TrainModelConfig:
        if self.tuning == "full" and "lora" in self.model_fields_set:
            raise ValueError("lora settings are given but tuning is 'full': set tuning: lora, or drop the lora section")
        return self


def load_training_model(config: TrainModelConfig):
    """Load ``(model, processor)`` for training (training dtype, KV cache off, not yet on a device)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    device = "cuda" if torch.cuda.is_available() else "cpu"
    common = {"trust_remote_code": config.trust_remote_code, "local_files_only": model_source(config.name_or_path)}
    kwargs = {
        "dtype": resolve_dtype(config.dtype, device),
        "attn_implementation": resolve_attention(config.attn_implementation, device),
        **common,
    }
    try:
        hf_config = AutoConfig.from_pretrained(config.name_or_path, **common)
        if not is_multimodal_config(hf_config):
            raise ModelLoadError(f"{config.name_or_path}: not a video MLLM ({hf_config.model_type})")
        model = AutoModelForImageTextToText.from_pretrained(config.name_or_path, **kwargs)
        processor = AutoProcessor.from_pretrained(config.name_or_path, **common)
    except (OSError, ValueError, KeyError) as exc:
        raise model_load_error(config.name_or_path, exc) from exc
    model.config.use_cache = False
    logger.info(
        "loaded %s for training (%s, %s attention)", config.name_or_path, kwargs["dtype"], kwargs["attn_implementation"]
    )
    return model, processor


@dataclass(frozen=True)
class VisionParameters:
    """Parameter names of the vision tower (encoder) and the projector (merger) of a model."""

    tower: tuple[str, ...]
    projector: tuple[str, ...]


def vision_parameter_names(model) -> VisionParameters:
    tower, projector = [], []
    for name, _ in model.named_parameters():
        dotted = f".{name}"
        if any(marker in dotted for marker in _PROJECTOR_MARKERS):
            projector.append(name)
        elif any(marker in dotted for marker in _TOWER_MARKERS):
            tower.append(name)
    return VisionParameters(tuple(tower), tuple(projector))


def prepare_model(model, config: TrainModelConfig):
    """Apply the tuning plan; returns the ``peft.LoraConfig`` to give the trainer, or ``None`` for full tuning."""
    vision = vision_parameter_names(model)
    if (config.freeze_vision_tower and not vision.tower) or (config.freeze_projector and not vision.projector):
        raise ConfigError(
            f"{type(model).__name__}: cannot find its vision tower/projector to freeze; set model.freeze_vision_tower "
            "and model.freeze_projector to false"
        )
    if config.tuning == "lora":
        return lora_config(model, config)
    frozen = set(vision.tower if config.freeze_vision_tower else ()) | set(
        vision.projector if config.freeze_projector else ()
    )
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name not in frozen)
    return None


def lora_config(model, config: TrainModelConfig):
    """The PEFT ``LoraConfig`` for ``model``: adapters on the language model (and the tower when unfrozen)."""
    from peft import LoraConfig

    targets = config.lora.target_modules
    if targets is None:
        targets = lora_target_modules(model, include_vision=not config.freeze_vision_tower)
    modules_to_save = None if config.freeze_projector else projector_module_names(model)
    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets,
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
    )


def lora_target_modules(model, *, include_vision: bool) -> list[str]:
    """Full names of the linear layers to adapt: the language model's, plus the vision tower's (not projector's)."""
    import torch

    names = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        dotted = f".{name}."
        if any(marker in dotted for marker in _PROJECTOR_MARKERS):
            continue
        language = any(marker in dotted for marker in _LANGUAGE_MARKERS)
        tower = any(marker in dotted for marker in _TOWER_MARKERS)
        if language or (include_vision and tower):
            names.append(name)
    if not names:
        raise ConfigError(
            f"{type(model).__name__}: no language-model linear layers found; set model.lora.target_modules"
        )
    return names


def projector_module_names(model) -> list[str]:
    """Top-most modules of the projector (``visual.merger``; each of Qwen3-VL's ``deepstack_merger_list``).

    Containers (``ModuleList``) are replaced by their children: PEFT can only copy modules that run a forward.
    """
    import torch

    containers = (torch.nn.ModuleList, torch.nn.ModuleDict)
    found: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(f"{parent}.") for parent in found):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if any(marker in leaf for marker in _PROJECTOR_MARKERS):
            if isinstance(module, containers):
                found.extend(f"{name}.{child}" for child, _ in module.named_children())
            else:
                found.append(name)
    return found


@dataclass(frozen=True)
class ParameterCounts:
    total: int
    trainable: int

    @property
    def trainable_share(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.trainable:,} of {self.total:,} parameters trainable ({100 * self.trainable_share:.2f}%)"


def count_parameters(model) -> ParameterCounts:
    """Count parameters; under ZeRO-3 a local shard reports 0 elements, so its full size (``ds_numel``) is used."""
    total = trainable = 0
    for parameter in model.parameters():
        count = getattr(parameter, "ds_numel", None) or parameter.numel()
        total += count
        if parameter.requires_grad:
            trainable += count
    return ParameterCounts(total, trainable)
