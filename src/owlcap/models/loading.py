"""Load any Hugging Face video MLLM (or text LLM) and its processor by hub id or local path."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from owlcap.errors import ModelLoadError

logger = logging.getLogger(__name__)


class ModelOptions(BaseModel):
    """How to load a model. The defaults pick bf16 + the fastest attention on GPU and fp32 + sdpa on CPU."""

    model_config = ConfigDict(extra="forbid")

    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Weights dtype; auto = bfloat16 on a GPU that supports it, float32 on CPU."
    )
    device: str = Field("auto", description="'auto' (cuda if available, else cpu), 'cpu', 'cuda', 'cuda:1'...")
    attn_implementation: Literal["auto", "sdpa", "flash_attention_2", "eager"] = Field(
        "auto", description="Attention kernel; auto = flash_attention_2 when installed on GPU, else sdpa."
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the checkpoint (needed by some hubs).")


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return getattr(torch, dtype)


def resolve_attention(attn: str, device: str) -> str:
    if attn != "auto":
        return attn
    if device.startswith("cuda"):
        try:
            import flash_attn  # noqa: F401
        except ImportError:
            return "sdpa"
        return "flash_attention_2"
    return "sdpa"


def is_multimodal_config(config) -> bool:
    """True when the checkpoint is an image/video-text-to-text model (has a vision tower)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_model_and_processor(name_or_path: str, options: ModelOptions | None = None):
    """Return ``(model, processor_or_tokenizer, multimodal)`` in eval mode on the chosen device."""
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    options = options or ModelOptions()
    device = resolve_device(options.device)
    kwargs = {
        "dtype": resolve_dtype(options.dtype, device),
        "attn_implementation": resolve_attention(options.attn_implementation, device),
        "trust_remote_code": options.trust_remote_code,
    }
    try:
        config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=options.trust_remote_code)
        multimodal = is_multimodal_config(config)
        if multimodal:
            model = AutoModelForImageTextToText.from_pretrained(name_or_path, **kwargs)
            processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=options.trust_remote_code)
        else:
            model = AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
            processor = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=options.trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{name_or_path}: cannot load model or processor ({exc})") from exc
    model.to(device).eval()
    logger.info(
        "loaded %s (%s, %s, %s attention) on %s",
        name_or_path,
        type(model).__name__,
        kwargs["dtype"],
        kwargs["attn_implementation"],
        device,
    )
    return model, processor, multimodal
