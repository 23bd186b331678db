"""Helpers of the GRPO tests: tiny samplers, TRL configs, datasets, trainers and a vision-tower call counter."""

from __future__ import annotations

from pathlib import Path

from owlcap.models import DEFAULT_CAPTION_PROMPT

FACTORS = {"qwen2_5_vl": 28, "qwen3_vl": 32}
SMOKE = ["--num_generations", "2", "--per_device_train_batch_size", "4", "--max_completion_length", "16"]
"""Overrides of configs/grpo/tiny.yaml for tests that check plumbing, not learning: G=2, two videos per step,
16-token completions (about 1 s a step; the config itself is sized to learn: G=4, 200 tokens, about 5 s a step)."""


def tiny_sampling(family: str = "qwen2_5_vl"):
    """4 frames of 2x2..3x3 merged patches: a handful of video tokens per clip."""
    from owlcap.video import SamplingConfig

    factor = FACTORS[family]
    return SamplingConfig(
        nframes=4, min_pixels=4 * factor**2, max_pixels=9 * factor**2, total_pixels=36 * factor**2, factor=factor
    )


def grpo_args(output_dir: Path, **overrides):
    from trl import GRPOConfig

    values = {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": 4,
        "num_generations": 2,
        "max_completion_length": 8,
        "max_steps": 1,
        "learning_rate": 1e-3,
        "beta": 0.0,
        "bf16": False,
        "use_cpu": True,
        "report_to": [],
        "save_strategy": "no",
        "logging_steps": 1,
        "gradient_checkpointing": False,
        "remove_unused_columns": False,
        "seed": 0,
        "disable_tqdm": True,
    }
    return GRPOConfig(**{**values, **overrides})


def video_dataset(videos, caption: str = "A woman explains a diagram on a blackboard."):
    from datasets import Dataset

    rows = [{"prompt": DEFAULT_CAPTION_PROMPT, "video": str(v), "caption": caption, "system": None} for v in videos]
    return Dataset.from_list(rows)


def load_tiny(model_dir: Path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(model_dir), AutoProcessor.from_pretrained(model_dir)


def make_trainer(
    model_dir: Path, family: str, rewards, videos, output_dir: Path, *, share: bool = True, prefetch=None, **args
):
    from owlcap.train.grpo_trainer import VideoGRPOTrainer

    model, processor = load_tiny(model_dir)
    return VideoGRPOTrainer(
        model,
        rewards,
        grpo_args(output_dir, **args),
        video_dataset(videos),
        processing_class=processor,
        video_sampler=tiny_sampling(family),
        share_video_encoding=share,
        prefetch=prefetch,
    )


def distinct_chars(completions, **kwargs):
    """A reward that differs between completions, so every group has advantages (and the policy a gradient)."""
    return [float(len(set(text))) for text in completions]


class VisionCalls:
    """Counts vision-tower forwards and how many videos each one encoded (rows of its ``grid_thw``)."""

    def __init__(self, model):
        self.videos_per_call: list[int] = []
        visual = model.model.visual
        self.handle = visual.register_forward_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs, output):
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        self.videos_per_call.append(int(grid.shape[0]))

    def remove(self) -> None:
        self.handle.remove()
