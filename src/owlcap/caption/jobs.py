"""Captioning a benchmark's videos: each job names a caption id, the benchmark video it shows and its prompt.

A benchmark that is given videos and a model instead of a caption file plans its jobs (VDC: one per video and
dimension, each with its own drawn prompt; DREAM-1K: one per video) and ``caption_jobs`` finds each video under the
configured folder or manifest and captions them through the caption runner, resumable like ``owlcap caption``
(the runner decodes a video once for all the jobs that show it). ``caption_into_run`` is a benchmark run's whole
caption step: the jobs captioned into the run folder's ``captions.jsonl``, read back by the benchmark's reader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlcap.caption.config import CaptionConfig, CaptioningConfig
from owlcap.caption.engines import load_caption_engine
from owlcap.caption.files import LoadedCaptions
from owlcap.caption.runner import caption_videos
from owlcap.data.sources import VideoItem, collect_videos
from owlcap.errors import DataError
from owlcap.llm import LLMConfig

logger = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class CaptionJob:
    """One caption to make: its id in the caption file, the benchmark video it shows, and its prompt."""

    caption_id: str
    video_id: str
    prompt: str


def caption_into_run(
    config: CaptioningConfig, jobs: list[CaptionJob], out: Path, read: Callable[[Path], LoadedCaptions]
) -> LoadedCaptions:
    """A benchmark run's caption step when it captions first: ``jobs`` captioned into ``<out>/captions.jsonl``
    (resumable), then that file read back by the benchmark's ``read``; the captioning summary rides along in
    ``LoadedCaptions.captioning``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / CAPTIONS_FILE
    summary = caption_jobs(config, jobs, path)
    captions = read(path)
    captions.captioning = summary
    return captions


def caption_jobs(config: CaptioningConfig, jobs: list[CaptionJob], out_path: Path) -> dict[str, Any]:
    """Caption ``jobs`` into ``out_path`` (resumable) with the configured model; returns the summary, with the
    benchmark videos that have no file under ``config.videos``."""
    if not config.videos.exists():
        raise DataError(config.videos, "no such folder or manifest of benchmark videos (captioning.videos)")
    found, bad = collect_videos([config.videos])
    by_id: dict[str, VideoItem] = {}
    for item in found:
        by_id.setdefault(item.id, item)
        by_id.setdefault(Path(item.id).name, item)
    items, missing = [], []
    for job in jobs:
        video = by_id.get(job.video_id)
        if video is None:
            missing.append(job.video_id)
            continue
        extra = (("prompt", job.prompt), ("benchmark_id", job.video_id))
        items.append(VideoItem(job.caption_id, video.video, extra, start=video.start, end=video.end))
    missing = sorted(set(missing))
    if missing:
        logger.warning(
            "%d benchmark video(s) have no file under %s (first: %s)", len(missing), config.videos, missing[0]
        )
    summary: dict[str, Any] = {"videos_missing": missing, "bad_inputs": [str(e) for e in bad]}
    if not items:
        return summary
    llm = LLMConfig(
        concurrency=config.concurrency,
        request_timeout_s=config.request_timeout_s,
        max_retries=3,
        cache=False,
        video_transport=config.video_transport,
    )
    engine = load_caption_engine(config.model, config.model_options, llm=llm, vision_factor=config.sampling.factor)
    caption_config = CaptionConfig(
        sampling=config.sampling,
        generation=config.generation,
        model_options=config.model_options,
        batch_size=config.batch_size,
        decode_workers=config.decode_workers,
    )
    try:
        result = caption_videos(items, out_path, engine, caption_config)
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    return summary | result.to_dict()
