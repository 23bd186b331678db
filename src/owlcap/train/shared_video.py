"""Video tensors shared by the rows of a forward pass: each distinct video is encoded once, its features indexed out
to every row that shows it.

GRPO repeats every prompt G times, so a generation batch of B prompts has B*G rows but only B distinct videos; DPO
puts each pair's chosen and rejected captions in two rows over the same video. Feeding the processor's per-row
``pixel_values_videos`` to the model runs the vision tower once per row (TRL does this for images). Here the vision
tower runs once over the distinct videos and the features are indexed out to the rows (``index``: row -> distinct
video). The indexing is an ordinary autograd op, so the rows' gradients sum into the one encoding and flow on into
the vision tower.

Two ways in. GRPO's loss forwards pass precomputed features through ``mm_encoder_outputs``, the public transformers
(5.x) argument of the Qwen-VL ``forward``, with a :class:`VideoPlan` (:func:`encode_videos`, :func:`forward_kwargs`),
together with the per-row ``video_grid_thw`` / ``second_per_grid_ts`` and ``mm_token_type_ids`` that M-RoPE needs.
(Qwen2.5-VL silently falls back to 1-D positions when ``mm_token_type_ids`` is missing; Qwen3-VL raises.) Where the
model must encode the video itself, inside a ``generate`` call or a forward that TRL makes (DPO's policy and
reference forwards), :func:`shared_video_features` swaps the dedup into the model's video encoder for the scope of
the call: the caller passes the distinct videos' patches and the per-row grids.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

VIDEO_TOKEN_TYPE = 2  # Qwen-VL mm_token_type_ids: 0 text, 1 image, 2 video


@dataclass(eq=False)
class VideoTensors:
    """One distinct video of a generation batch as the processor made it, on the training device.

    Rows of a GRPO batch hold references to the same object, so TRL's shuffling and splitting of the batch (which
    permutes and slices lists) keeps every row pointing at its video without copying pixels.
    """

    key: str
    pixel_values_videos: torch.Tensor  # (patches, channels * temporal_patch * patch * patch)
    video_grid_thw: torch.Tensor  # (1, 3)
    second_per_grid_ts: torch.Tensor | None = None  # (1,), Qwen2.5-VL only

    def __repr__(self) -> str:  # TRL may print a row's columns; never dump the pixels
        grid = "x".join(str(int(x)) for x in self.video_grid_thw[0])
        return f"VideoTensors({self.key!r}, grid={grid})"


@dataclass
class VideoPlan:
    """Which distinct video each row of a forward pass uses."""

    videos: list[VideoTensors]  # distinct, in order of first use
    index: list[int]  # row -> position in ``videos``

    @classmethod
    def from_rows(cls, rows: Sequence[VideoTensors]) -> VideoPlan:
        position: dict[int, int] = {}
        videos: list[VideoTensors] = []
        index = []
        for video in rows:
            if id(video) not in position:
                position[id(video)] = len(videos)
                videos.append(video)
            index.append(position[id(video)])
        return cls(videos, index)

    def __len__(self) -> int:
        return len(self.index)

    def slice(self, start: int, end: int) -> VideoPlan:
        return VideoPlan(self.videos, self.index[start:end])

    def pixel_values(self, *, shared: bool) -> torch.Tensor:
        """The distinct videos' patches (``shared``) or one copy per row (the per-completion baseline)."""
        videos = self.videos if shared else [self.videos[i] for i in self.index]
        return torch.cat([video.pixel_values_videos for video in videos])

    def grid_thw(self, *, shared: bool) -> torch.Tensor:
        videos = self.videos if shared else [self.videos[i] for i in self.index]
        return torch.cat([video.video_grid_thw for video in videos])

    def row_seconds(self) -> torch.Tensor | None:
        if self.videos[0].second_per_grid_ts is None:
            return None
        return torch.cat([self.videos[i].second_per_grid_ts for i in self.index])


def encoder_model(model):
    """The ``...ForConditionalGeneration`` under DDP/DeepSpeed/PEFT wrappers (it owns ``get_video_features``)."""
    while hasattr(model, "module"):  # DDP, DeepSpeed engine
        model = model.module
    if hasattr(model, "get_base_model"):  # PEFT
        model = model.get_base_model()
    return model


def encode_videos(model, plan: VideoPlan, *, shared: bool = True):
    """Run the vision tower for ``plan`` and return its output with one feature entry per row.

    ``shared=True`` encodes each distinct video once; ``shared=False`` encodes one copy per row, which is what
    per-completion pixel values cost (kept for the benchmark and the tests that compare the two).
    """
    features = encoder_model(model).get_video_features(
        plan.pixel_values(shared=shared), plan.grid_thw(shared=shared), return_dict=True
    )
    return expand_features(features, plan.index) if shared else features


def expand_features(features, index: Sequence[int]):
    """Index per-video features out to rows: ``pooler_output`` and, for Qwen3-VL, every ``deepstack_features`` layer."""
    fields: dict[str, Any] = dict(features)
    fields["pooler_output"] = tuple(features.pooler_output[i] for i in index)
    deepstack = getattr(features, "deepstack_features", None)
    if deepstack is not None:
        fields["deepstack_features"] = [tuple(layer[i] for i in index) for layer in deepstack]
    fields.pop("last_hidden_state", None)  # concatenated over distinct videos; nothing downstream reads it
    return type(features)(**fields)


def slice_features(features, start: int, end: int):
    """The rows ``start:end`` of row-expanded features (one forward chunk)."""
    fields: dict[str, Any] = dict(features)
    fields["pooler_output"] = tuple(features.pooler_output[start:end])
    deepstack = getattr(features, "deepstack_features", None)
    if deepstack is not None:
        fields["deepstack_features"] = [tuple(layer[start:end]) for layer in deepstack]
    fields.pop("last_hidden_state", None)
    return type(features)(**fields)


def video_token_types(input_ids: torch.Tensor, video_token_id: int) -> torch.Tensor:
    """``mm_token_type_ids`` for prompt+completion rows: video placeholders are 2, everything else text (0)."""
    return (input_ids == video_token_id).long() * VIDEO_TOKEN_TYPE


def forward_kwargs(features, plan: VideoPlan, input_ids: torch.Tensor, video_token_id: int) -> dict[str, Any]:
    """Model kwargs that put ``plan``'s rows' videos into one forward over ``input_ids``."""
    device = input_ids.device
    kwargs: dict[str, Any] = {
        "mm_encoder_outputs": {"video": features},
        "video_grid_thw": torch.cat([plan.videos[i].video_grid_thw for i in plan.index]).to(device),
        "mm_token_type_ids": video_token_types(input_ids, video_token_id),
    }
    seconds = plan.row_seconds()
    if seconds is not None:
        kwargs["second_per_grid_ts"] = seconds.to(device)
    return kwargs


@contextlib.contextmanager
def shared_video_features(model, index: Sequence[int]) -> Iterator[None]:
    """For the calls made inside: the model's video encoder sees the distinct videos only and returns row features.

    ``index`` maps each row to its distinct video (in order of first use). The caller passes the distinct videos'
    patches as ``pixel_values_videos`` and the per-row grids as ``video_grid_thw`` (M-RoPE needs them); the distinct
    grids are the rows' grids at each video's first row. The model encodes vision inputs through
    ``base_model.get_video_features`` (in ``generate`` before prefill, and in ``forward``); this swaps that bound
    method on the instance (not the class) and restores it on exit, so nothing else is affected.
    """
    base = encoder_model(model).base_model
    shadowed = base.__dict__.get("get_video_features")  # an instance-level override someone else set, if any
    original = base.get_video_features
    rows = list(index)
    first_rows = [rows.index(video) for video in range(max(rows) + 1)] if rows else []

    @functools.wraps(original)
    def get_video_features(pixel_values_videos, video_grid_thw=None, **kwargs):
        kwargs["return_dict"] = True
        distinct_grid = video_grid_thw[first_rows].to(pixel_values_videos.device)
        features = original(pixel_values_videos, distinct_grid, **kwargs)
        return expand_features(features, rows)

    base.get_video_features = get_video_features
    try:
        yield
    finally:
        if shadowed is None:
            del base.get_video_features  # back to the class method
        else:
            base.get_video_features = shadowed
