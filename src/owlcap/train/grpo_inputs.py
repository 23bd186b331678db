"""From a GRPO generation batch's rows to prompt token ids and shared video tensors.

A row is one (prompt, completion-to-be) pair: ``prompt`` (the user instruction, plain text), ``video`` (a path),
optional ``start``/``end`` clip trims (seconds; only that span is sampled), ``system`` (optional) plus the reward
columns. The G rows of one prompt carry the same clip, so each distinct clip is decoded once (in a thread pool; PyAV
releases the GIL), each distinct (clip, prompt) is tokenized once, and all rows of a clip share one
:class:`~owlcap.train.shared_video.VideoTensors`.

A video that fails to decode must not end the run nor break the group structure GRPO normalizes rewards over (a
prompt's G copies can sit on several GPUs). Its rows keep their place and get a blank stand-in video; the trainer
marks them unscorable (every reward NaN), so TRL gives them zero advantage: they teach nothing and count as nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from owlcap.errors import VideoDecodeError
from owlcap.models import DEFAULT_CAPTION_PROMPT, processor_inputs
from owlcap.train.data import PromptOrder, blank_video, caption_chat, clip_sampling
from owlcap.train.shared_video import VideoTensors

logger = logging.getLogger(__name__)


@dataclass
class PreparedBatch:
    """Prompt ids and the video of every row, and the rows whose video could not be decoded."""

    prompt_ids: list[list[int]]
    videos: list[VideoTensors]
    frames: list[Any]  # per row: the sampled video (frames + metadata), for engines that take raw frames (vLLM)
    failed_rows: list[int] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # clip (path, or path[start:end]) -> cause


@dataclass(frozen=True)
class Clip:
    """What a row's video is: the file and its optional trims in seconds. Rows with equal clips share one decode."""

    path: str
    start: float | None = None
    end: float | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Clip:
        return cls(str(row["video"]), row.get("start"), row.get("end"))

    def __str__(self) -> str:
        if self.start is None and self.end is None:
            return self.path
        return f"{self.path}[{self.start if self.start is not None else ''}:{self.end if self.end is not None else ''}]"


class VideoPromptBuilder:
    """Decode, render and tokenize a batch of video prompts; every row's video shared with its group."""

    def __init__(
        self,
        processor,
        sampler,
        *,
        decode_workers: int = 2,
        default_prompt: str = DEFAULT_CAPTION_PROMPT,
        prompt_order: PromptOrder = "video_first",
    ):
        """``sampler`` is an ``owlcap.video.SamplingConfig`` (the one frame sampler SFT and captioning use)."""
        self.processor = processor
        self.sampler = sampler
        self.decode_workers = decode_workers
        self.default_prompt = default_prompt
        self.prompt_order = prompt_order
        self._blank = blank_video(sampler)

    def render(self, row: dict[str, Any]) -> str:
        """The same chat SFT trains on (``owlcap.train.data.caption_chat``), ending with the generation prompt."""
        return caption_chat(
            self.processor, row, with_answer=False, default_prompt=self.default_prompt, prompt_order=self.prompt_order
        )

    def build(self, rows: Sequence[dict[str, Any]], device=None) -> PreparedBatch:
        clips = [Clip.of(row) for row in rows]
        decoded, failures = self._decode(set(clips))
        keys = [(clip, self.render(row)) for clip, row in zip(clips, rows, strict=True)]
        distinct = list(dict.fromkeys(keys))  # one tokenization per distinct (clip, prompt text)
        inputs = processor_inputs(
            self.processor,
            [text for _, text in distinct],
            [decoded.get(clip, self._blank) for clip, _ in distinct],
        )
        ids_by_key, video_by_clip = self._split(distinct, inputs, device)
        return PreparedBatch(
            prompt_ids=[ids_by_key[key] for key in keys],
            videos=[video_by_clip[clip] for clip, _ in keys],
            frames=[decoded.get(clip, self._blank) for clip, _ in keys],
            failed_rows=[i for i, (clip, _) in enumerate(keys) if clip in failures],
            failures={str(clip): cause for clip, cause in failures.items()},
        )

    def _decode(self, clips: set[Clip]) -> tuple[dict[Clip, Any], dict[Clip, str]]:
        ordered = sorted(clips, key=str)
        with ThreadPoolExecutor(max_workers=max(1, min(self.decode_workers, len(ordered)))) as pool:
            futures = {clip: pool.submit(self._sample, clip) for clip in ordered}
        decoded: dict[Clip, Any] = {}
        failures: dict[Clip, str] = {}
        for clip, future in futures.items():
            try:
                decoded[clip] = future.result()
            except VideoDecodeError as exc:
                failures[clip] = exc.cause
            except ValueError as exc:  # trims that contradict the configured span
                failures[clip] = f"clip trims: {exc}"
            if clip in failures:
                logger.warning("GRPO: %s: %s; its completions get no reward this step", clip, failures[clip])
        return decoded, failures

    def _sample(self, clip: Clip):
        return clip_sampling(self.sampler, {"start": clip.start, "end": clip.end}).sample(clip.path)

    def _split(self, distinct, inputs, device):
        """Per distinct prompt: unpadded ids; per distinct clip: its patches, grid and seconds per grid."""
        grids = inputs["video_grid_thw"]
        sizes = grids.prod(-1).tolist()
        patches = inputs["pixel_values_videos"].split(sizes)
        seconds = inputs.get("second_per_grid_ts")
        ids_by_key: dict[tuple[Clip, str], list[int]] = {}
        video_by_clip: dict[Clip, VideoTensors] = {}
        for i, key in enumerate(distinct):
            mask = inputs["attention_mask"][i].bool()
            ids_by_key[key] = inputs["input_ids"][i][mask].tolist()
            clip = key[0]
            if clip not in video_by_clip:
                video_by_clip[clip] = VideoTensors(
                    key=str(clip),
                    pixel_values_videos=patches[i].to(device) if device is not None else patches[i],
                    video_grid_thw=grids[i : i + 1].to(device) if device is not None else grids[i : i + 1],
                    second_per_grid_ts=None if seconds is None else seconds[i : i + 1].to(device or seconds.device),
                )
        return ids_by_key, video_by_clip
