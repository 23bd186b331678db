"""The decode stage of a build: one video's frames (the shared sampler), its probe facts, a thumbnail strip for the
viewer, and the video's cache identity.

Runs in worker threads (PyAV and JPEG encoding release the GIL). When a stage talks to a server, the frames are
JPEG-encoded here as well, once per video, instead of on the event loop at request time.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from owlcap.hashing import json_digest
from owlcap.video import SampledVideo, SamplingConfig, VideoLimits

VIDEO_STAGES = ("motion", "fusion", "verifier")


def video_key(path: str, start: float | None, end: float | None, sampling: SamplingConfig) -> str:
    """A video's identity in cache keys and fingerprints: its path, size and modification time, the clip trims and
    the sampling settings. Stable across runs and processes, and cheap (no decoding); a replaced file changes it."""
    try:
        stat = os.stat(path)
        size, mtime = stat.st_size, stat.st_mtime_ns
    except OSError:
        size, mtime = -1, -1
    settings = {"size": size, "mtime_ns": mtime, "start": start, "end": end, "sampling": sampling.model_dump()}
    return f"{path}#{json_digest(settings, 16)}"


@dataclass
class Decoded:
    """A decoded video and what the record says about it."""

    video: SampledVideo
    probe: dict[str, Any]
    frames: dict[str, Any]
    sampling: dict[str, Any]
    strip: bytes | None


def decode(
    path: str,
    sampling: SamplingConfig,
    limits: VideoLimits | None,
    *,
    jpeg_quality: int | None = None,
    strip_frames: int = 6,
    strip_height: int = 72,
) -> Decoded:
    """Sample ``path`` (``VideoDecodeError`` on failure); ``jpeg_quality`` pre-encodes the frames for a server."""
    video = sampling.sample(path, limits=limits)
    if jpeg_quality is not None:
        from owlcap.llm.media import frame_data_urls

        frame_data_urls(video, jpeg_quality)
    info = video.info.to_dict() if video.info is not None else {}
    info.pop("path", None)
    width, height = video.size
    frames = {
        "count": len(video.indices),
        "width": width,
        "height": height,
        "sample_fps": round(video.sample_fps, 4),
        "timestamps": [round(float(t), 3) for t in video.timestamps],
    }
    used = sampling.model_dump(mode="json", exclude_none=True)
    return Decoded(video, info, frames, used, thumbnail_strip(video, strip_frames, strip_height))


def thumbnail_strip(video: SampledVideo, count: int, height: int, quality: int = 70) -> bytes | None:
    """``count`` frames spread over the clip, scaled to ``height`` and set side by side, as one JPEG."""
    from PIL import Image

    total = len(video.frames)
    if total == 0:
        return None
    picks = sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(min(count, total))})
    images = []
    for index in picks:
        image = Image.fromarray(video.frames[index])
        width = max(1, round(image.width * height / image.height))
        images.append(image.resize((width, height), Image.Resampling.BILINEAR))
    strip = Image.new("RGB", (sum(image.width for image in images) + 2 * (len(images) - 1), height), (24, 24, 24))
    left = 0
    for image in images:
        strip.paste(image, (left, 0))
        left += image.width + 2
    buffer = io.BytesIO()
    strip.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
