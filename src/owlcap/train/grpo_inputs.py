"""From a GRPO generation batch's rows to prompt token ids and shared video tensors.

A row is one (prompt, completion-to-be) pair: ``prompt`` (the user instruction, plain text), ``video`` (a path),
``system`` (optional) plus the reward columns. The G rows of one prompt carry the same video, so each distinct video
is decoded once (in a thread pool; PyAV releases the GIL), each distinct (video, prompt) is tokenized once, and all
rows of a video share one :class:`~owlcap.train.grpo_video.VideoTensors`.

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
from owlcap.train.data import blank_video, caption_chat
from owlcap.train.grpo_video import VideoTensors

logger = logging.getLogger(__name__)


@dataclass
class PreparedBatch:
    """Prompt ids and the video of every row, and the rows whose video could not be decoded."""

    prompt_ids: list[list[int]]
    videos: list[VideoTensors]
    frames: list[Any]  # per row: the sampled video (frames + metadata), for engines that take raw frames (vLLM)
    failed_rows: list[int] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # video path -> cause


class VideoPromptBuilder:
    """Decode, render and tokenize a batch of video prompts; every row's video shared with its group."""

    def __init__(self, processor, sampler, *, decode_workers: int = 2, default_prompt: str = DEFAULT_CAPTION_PROMPT):
        """``sampler`` is an ``owlcap.video.SamplingConfig`` (the one frame sampler SFT and captioning use)."""
        self.processor = processor
        self.sampler = sampler
        self.decode_workers = decode_workers
        self.default_prompt = default_prompt
        self._blank = blank_video(sampler)

    def render(self, row: dict[str, Any]) -> str:
        """The same chat SFT trains on (``owlcap.train.data.caption_chat``), ending with the generation prompt."""
        return caption_chat(self.processor, row, with_answer=False, default_prompt=self.default_prompt)

    def build(self, rows: Sequence[dict[str, Any]], device=None) -> PreparedBatch:
        decoded, failures = self._decode({str(row["video"]) for row in rows})
        keys = [(str(row["video"]), self.render(row)) for row in rows]
        distinct = list(dict.fromkeys(keys))  # one tokenization per distinct (video, prompt text)
        inputs = processor_inputs(
            self.processor,
            [text for _, text in distinct],
            [decoded.get(path, self._blank) for path, _ in distinct],
        )
        ids_by_key, video_by_path = self._split(distinct, inputs, device)
        return PreparedBatch(
            prompt_ids=[ids_by_key[key] for key in keys],
            videos=[video_by_path[path] for path, _ in keys],
            frames=[decoded.get(path, self._blank) for path, _ in keys],
            failed_rows=[i for i, (path, _) in enumerate(keys) if path in failures],
            failures=failures,
        )

    def _decode(self, paths: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
        ordered = sorted(paths)
        with ThreadPoolExecutor(max_workers=max(1, min(self.decode_workers, len(ordered)))) as pool:
            futures = {path: pool.submit(self.sampler.sample, path) for path in ordered}
        decoded: dict[str, Any] = {}
        failures: dict[str, str] = {}
        for path, future in futures.items():
            try:
                decoded[path] = future.result()
            except VideoDecodeError as exc:
                failures[path] = exc.cause
                logger.warning("GRPO: %s: %s; its completions get no reward this step", path, exc.cause)
        return decoded, failures

    def _split(self, distinct, inputs, device):
        """Per distinct prompt: unpadded ids; per distinct video path: its patches, grid and seconds per grid."""
        grids = inputs["video_grid_thw"]
        sizes = grids.prod(-1).tolist()
        patches = inputs["pixel_values_videos"].split(sizes)
        seconds = inputs.get("second_per_grid_ts")
        ids_by_key: dict[tuple[str, str], list[int]] = {}
        video_by_path: dict[str, VideoTensors] = {}
        for i, key in enumerate(distinct):
            mask = inputs["attention_mask"][i].bool()
            ids_by_key[key] = inputs["input_ids"][i][mask].tolist()
            path = key[0]
            if path not in video_by_path:
                video_by_path[path] = VideoTensors(
                    key=path,
                    pixel_values_videos=patches[i].to(device) if device is not None else patches[i],
                    video_grid_thw=grids[i : i + 1].to(device) if device is not None else grids[i : i + 1],
                    second_per_grid_ts=None if seconds is None else seconds[i : i + 1].to(device or seconds.device),
                )
        return ids_by_key, video_by_path
