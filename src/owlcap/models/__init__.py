"""Load HF video MLLMs and their processors, build chat inputs with video, generate; offline tiny models."""

from owlcap.models.inputs import (
    DEFAULT_CAPTION_PROMPT,
    VideoRequest,
    build_messages,
    processor_inputs,
    render_chat,
    vision_factor,
    vision_token_ids,
)
from owlcap.models.loading import ModelOptions, load_model_and_processor
from owlcap.models.mllm import MLLM, GenerationOptions, load_mllm
from owlcap.models.tiny import FAMILIES, build_tiny_model

__all__ = [
    "DEFAULT_CAPTION_PROMPT",
    "FAMILIES",
    "MLLM",
    "GenerationOptions",
    "ModelOptions",
    "VideoRequest",
    "build_messages",
    "build_tiny_model",
    "load_mllm",
    "load_model_and_processor",
    "processor_inputs",
    "render_chat",
    "vision_factor",
    "vision_token_ids",
]
