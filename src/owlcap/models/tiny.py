"""Tiny random Qwen-VL models built offline: a BPE tokenizer trained on the spot, processors, chat template.

Tests and demos need a model that loads with ``from_pretrained(dir)`` and runs the real Qwen2.5-VL / Qwen3-VL code
paths (video processor, M-RoPE, vision tower, generation) without network access. The weights are random; the
captions it writes are gibberish, which is the point: every code path, no download.

Benchmarks need the cost of a real architecture, not its weights: :func:`random_model_config` describes a model of
a named architecture (``qwen2.5-vl-7b``) that runs on a tiny model's tokenizer and processor, allocating nothing,
and :func:`build_random_model` gives it random weights on a device when asked.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

Family = Literal["qwen2_5_vl", "qwen3_vl"]
FAMILIES: tuple[str, ...] = ("qwen2_5_vl", "qwen3_vl")

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# A small English corpus so the tokenizer learns real word pieces; sample captions are added when present.
_SEED_TEXT = """
The video shows a person walking along a street while the camera follows from behind. A woman in a red jacket
holds a cup of coffee and talks to a man wearing a blue shirt. The background contains trees, buildings, cars and
a bright sky. The camera slowly pans to the left, then zooms in on a small bird that lands on a branch. Two
children play with a ball in a green park; one child kicks the ball and the other runs after it. A hand writes on
a blackboard with white chalk. The scene is indoors, lit by warm light, with a table, chairs and a window.
Describe this video in detail. The man turns around, raises his hand and waves. A dog jumps over a fence.
"""


def build_tiny_model(
    out_dir: str | Path,
    family: Family = "qwen2_5_vl",
    *,
    vocab_size: int = 2048,
    hidden_size: int = 64,
    num_layers: int = 2,
    vision_depth: int = 2,
    seed: int = 0,
    corpus: list[str] | None = None,
) -> Path:
    """Build and save a tiny random ``family`` model + processor in ``out_dir``; return the directory."""
    import torch

    if family not in FAMILIES:
        raise ValueError(f"family {family!r}: expected one of {', '.join(FAMILIES)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = _train_tokenizer(vocab_size, corpus)
    processor = _build_processor(family, tokenizer)
    config = _build_config(family, tokenizer, hidden_size, num_layers, vision_depth)
    model = _model_class(family)(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    logger.info("tiny %s model (%d parameters) saved to %s", family, model.num_parameters(), out_dir)
    return out_dir


def _train_tokenizer(vocab_size: int, corpus: list[str] | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [_SEED_TEXT, *(corpus or _sample_captions())]
    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        padding_side="left",
        model_max_length=32768,
    )
    tokenizer.chat_template = _chat_template()
    return tokenizer


def _sample_captions() -> list[str]:
    from owlcap import envs

    path = envs.samples_dir() / "hmd" / "captions.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["caption"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _chat_template() -> str:
    return resources.files("owlcap.models").joinpath("chat_template.jinja").read_text(encoding="utf-8")


def _build_processor(family: Family, tokenizer):
    from transformers import (
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    # Small pixel budgets keep CPU tests fast; owlcap's sampler resizes frames before the processor sees them.
    if family == "qwen2_5_vl":
        pixels = {"shortest_edge": 4 * 28 * 28, "longest_edge": 256 * 28 * 28}
        image = Qwen2VLImageProcessor(size=pixels, patch_size=14, merge_size=2, temporal_patch_size=2)
        video = Qwen2VLVideoProcessor(size=pixels, patch_size=14, merge_size=2, temporal_patch_size=2)
        return Qwen2_5_VLProcessor(image, tokenizer, video, chat_template=_chat_template())
    pixels = {"shortest_edge": 4 * 32 * 32, "longest_edge": 256 * 32 * 32}
    image = Qwen2VLImageProcessor(size=pixels, patch_size=16, merge_size=2, temporal_patch_size=2)
    video = Qwen3VLVideoProcessor(size=pixels, patch_size=16, merge_size=2, temporal_patch_size=2)
    return Qwen3VLProcessor(image, tokenizer, video, chat_template=_chat_template())


def _build_config(family: Family, tokenizer, hidden: int, layers: int, vision_depth: int):
    from transformers import Qwen2_5_VLConfig, Qwen3VLConfig

    heads = 4
    head_dim = hidden // heads
    half = head_dim // 2
    mrope = [half - 2 * (half // 3), half // 3, half // 3]  # sums to head_dim / 2, as M-RoPE requires
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in _VISION_TOKEN_FIELDS.items()}
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
    }
    vision = {"depth": vision_depth, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2}
    if family == "qwen2_5_vl":
        vision |= {"out_hidden_size": hidden, "fullatt_block_indexes": [vision_depth - 1], "window_size": 56}
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)
    text |= {"head_dim": head_dim}
    text["rope_parameters"] |= {"mrope_interleaved": True}
    vision |= {
        "out_hidden_size": hidden,
        "patch_size": 16,
        "num_position_embeddings": 576,
        "deepstack_visual_indexes": [vision_depth - 1],
    }
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **ids)


_VISION_TOKEN_FIELDS = {
    "image_token_id": "<|image_pad|>",
    "video_token_id": "<|video_pad|>",
    "vision_start_token_id": "<|vision_start|>",
    "vision_end_token_id": "<|vision_end|>",
}


def _model_class(family: Family):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen3VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration if family == "qwen2_5_vl" else Qwen3VLForConditionalGeneration


# Dimensions of published checkpoints (their config.json), for models built with random weights.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "qwen2.5-vl-7b": {
        "family": "qwen2_5_vl",
        "text": {
            "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
            "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 128000, "rms_norm_eps": 1e-6,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        },
        "vision": {
            "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16, "out_hidden_size": 3584,
            "fullatt_block_indexes": [7, 15, 23, 31], "window_size": 112, "patch_size": 14, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "tokens_per_second": 2,
        },
    },
}  # fmt: skip


def random_model_config(base_dir: str | Path, arch: str | None = None, *, vision: dict[str, Any] | None = None):
    """The config of a model that runs on ``base_dir``'s tokenizer and processor; no weights are allocated.

    ``arch`` (a key of :data:`ARCHITECTURES`) gives every dimension; only the special token ids come from
    ``base_dir`` (a tiny model's ids all fit the 7B vocabulary). ``None`` keeps ``base_dir``'s own dimensions.
    ``vision`` overrides vision-tower fields on top of either.
    """
    from transformers import AutoConfig

    base = AutoConfig.from_pretrained(base_dir)
    if arch is None:
        text, vision_config = base.text_config.to_dict(), base.vision_config.to_dict()
    else:
        if arch not in ARCHITECTURES:
            raise ValueError(f"architecture {arch!r}: expected one of {', '.join(ARCHITECTURES)}")
        spec = ARCHITECTURES[arch]
        if base.model_type != spec["family"]:
            raise ValueError(f"{arch} needs a {spec['family']} tokenizer/processor; {base_dir} is {base.model_type}")
        special = {key: getattr(base.text_config, key) for key in ("eos_token_id", "pad_token_id", "bos_token_id")}
        text, vision_config = special | spec["text"], dict(spec["vision"])
    ids = {key: getattr(base, key) for key in _VISION_TOKEN_FIELDS}
    return type(base)(text_config=text, vision_config=vision_config | (vision or {}), tie_word_embeddings=False, **ids)


def build_random_model(config, base_dir: str | Path, *, device: str, dtype):
    """Random weights for ``config`` (seed 0), allocated directly on ``device`` in ``dtype``, sdpa attention.

    The model points back at ``base_dir`` (TRL loads a GRPO reference model from the policy's path) and generates
    with its tokenizer's end and padding tokens.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.config._name_or_path = str(base_dir)
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    return model
