"""Chat messages with a video and the processor call that turns them into model inputs.

Everything that feeds a video MLLM (captioning, the ``hf`` judge backend, the SFT collator, the GRPO trainer) goes
through :func:`render_chat` and :func:`processor_inputs`, so frames always arrive the same way: sampled and resized by
``owlcap.video``, with their ``VideoMetadata``, and never resampled or resized again by the processor; and text from
data files, prompts and judge answers is always tokenized as plain text, never as a control token
(``owlcap.models.control_tokens``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from owlcap.models.control_tokens import escape_control_tokens, has_escapes, plain_text_tokenizer

if TYPE_CHECKING:
    from owlcap.video import SampledVideo

DEFAULT_CAPTION_PROMPT = "Describe this video in detail."

# Tokens a captioner must never write: the placeholders the processor expands into vision features.
VISION_SPECIAL_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
)


@dataclass
class VideoRequest:
    """One prompt to a (video) MLLM: user text, an optional sampled video and an optional system prompt."""

    prompt: str
    video: SampledVideo | None = None
    system: str | None = None


def build_messages(
    prompt: str,
    *,
    video: bool = False,
    system: str | None = None,
    answer: str | None = None,
    text_first: bool = False,
):
    """Chat messages in the HF multimodal format; the video comes before the text, as Qwen's examples do, or after
    it with ``text_first`` (the released OwlCap GRPO prompt)."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    content: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    if video:
        content.insert(len(content) if text_first else 0, {"type": "video"})
    messages.append({"role": "user", "content": content})
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
    return messages


def render_chat(processor, messages, *, add_generation_prompt: bool) -> str:
    """The chat template applied to ``messages``; each control-token string in their text (``<|video_pad|>`` in a
    caption) is escaped first, so that :func:`processor_inputs` encodes it as plain text."""
    tokenizer = getattr(processor, "tokenizer", processor)
    messages = escape_control_tokens(messages, tokenizer)
    return processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def processor_inputs(processor, texts: Sequence[str], videos: Sequence[SampledVideo | None], **kwargs):
    """Tokenize ``texts`` (chats from :func:`render_chat`) with their videos; a ``None`` video means a text-only
    sample. ``processor`` may be a bare tokenizer (text-only models), then every video must be ``None``."""
    texts = list(texts)
    if any(has_escapes(text) for text in texts):
        processor = plain_text_tokenizer(processor)
    present = [video for video in videos if video is not None]
    call: dict[str, Any] = {"text": texts, "padding": True, "return_tensors": "pt", **kwargs}
    if present:
        call |= {
            "videos": [video.frames for video in present],
            "video_metadata": [video.metadata for video in present],
            "do_sample_frames": False,
            # owlcap.video already resized to the model's patch grid within the pixel budget.
            "do_resize": False,
            "cap_pixels_per_frame": False,
        }
    return processor(**call)


def vision_factor(processor) -> int:
    """Pixel multiple the model's vision tower needs (28 for Qwen2/2.5-VL, 32 for Qwen3-VL)."""
    video_processor = getattr(processor, "video_processor", None)
    if video_processor is None:
        return 28
    return int(video_processor.patch_size * video_processor.merge_size)


def vision_token_ids(tokenizer) -> list[int]:
    """Ids of the vision special tokens this tokenizer knows (to suppress them in generation)."""
    vocab = tokenizer.get_vocab()
    return sorted({vocab[token] for token in VISION_SPECIAL_TOKENS if token in vocab})
