"""``sample_frames``: the one way owlcap turns a video file into model input frames.

Plan (pure, from the frame index): the ``[start, end]`` span, how many frames (``smart_nframes``), which ones
(``linspace(...).round()``), how big (``smart_resize`` under the per-frame share of ``total_pixels``). Then decode
just those frames (``decode.decode_seek``), turn them upright (display rotation), and resize each with torchvision's
bicubic antialiased resize on a uint8 tensor, the same call qwen-vl-utils makes, so the output is uint8 and equal
to what Qwen's tooling produces from the same decoded frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from owlcap.errors import ConfigError, VideoDecodeError
from owlcap.video import rules
from owlcap.video.config import SamplingConfig, VideoLimits
from owlcap.video.container import decode_errors, open_video
from owlcap.video.decode import FrameIndex, SeekMissError, build_index, decode_all, decode_seek
from owlcap.video.probe import VideoInfo, clockwise_rotation, stream_duration, stream_fps

if TYPE_CHECKING:
    from PIL import Image
    from transformers.video_utils import VideoMetadata

logger = logging.getLogger(__name__)


@dataclass
class SampledVideo:
    """Frames sampled from one video, resized, with what a processor needs to place them in time.

    ``indices`` are source frame numbers, ``timestamps`` their times in seconds from the first frame (from packet
    timestamps, so exact on variable-frame-rate video too). ``sample_fps`` is qwen-vl-utils' definition: sampled
    frames per second of the span, ``len(indices) / span_frames * source_fps``. ``original`` is the upright
    (width, height) before resizing.
    """

    path: str
    frames: np.ndarray
    indices: list[int]
    timestamps: list[float]
    source_fps: float
    total_frames: int
    sample_fps: float
    original: tuple[int, int]
    info: VideoInfo | None = None
    span: tuple[int, int] = field(default=(0, 0))

    @property
    def size(self) -> tuple[int, int]:
        """Resized (width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def duration(self) -> float:
        """Duration of the whole video in seconds."""
        return self.info.duration if self.info is not None else self.total_frames / self.source_fps

    @property
    def metadata(self) -> VideoMetadata:
        """A transformers ``VideoMetadata`` for processors called with ``do_sample_frames=False``.

        Pass it in a flat list, one per video: ``processor(videos=[v.frames], video_metadata=[v.metadata], ...)``.
        Its ``sampled_fps`` is our true ``sample_fps`` (right for start/end trims, where transformers' formula is
        not); a dict, a bare object or a nested list makes transformers rebuild a plain ``VideoMetadata`` and
        lose that.
        """
        from owlcap.video.metadata import SampledVideoMetadata

        width, height = self.size
        return SampledVideoMetadata(
            total_num_frames=self.total_frames,
            fps=self.source_fps,
            width=width,
            height=height,
            duration=self.duration,
            video_backend="pyav",
            frames_indices=list(self.indices),
            sample_fps=self.sample_fps,
        )

    def to_pil(self) -> list[Image.Image]:
        """The frames as RGB PIL images (e.g. to JPEG-encode for an OpenAI-compatible server)."""
        from PIL import Image

        return [Image.fromarray(frame) for frame in self.frames]


def sample_frames(
    path: str | Path,
    *,
    fps: float | None = rules.FPS,
    nframes: int | None = None,
    min_frames: int = rules.FPS_MIN_FRAMES,
    max_frames: int = rules.FPS_MAX_FRAMES,
    start: float | None = None,
    end: float | None = None,
    min_pixels: int = rules.VIDEO_MIN_PIXELS,
    max_pixels: int = rules.VIDEO_MAX_PIXELS,
    total_pixels: int = rules.VIDEO_TOTAL_PIXELS,
    factor: int = rules.IMAGE_FACTOR,
    limits: VideoLimits | None = None,
) -> SampledVideo:
    """Sample frames of ``path`` by the qwen-vl-utils rules; ``nframes`` wins over the default ``fps``.

    Raises ``VideoDecodeError`` (file and cause) for unreadable, truncated or frameless files, a span outside the
    video or with ``start >= end``, and ``limits`` exceeded; ``ConfigError`` for contradictory settings.
    """
    if start is not None and end is not None and start >= end:
        raise VideoDecodeError(path, f"start ({start} s) must be before end ({end} s)")
    options = dict(
        fps=None if nframes is not None else fps,
        nframes=nframes,
        min_frames=min_frames,
        max_frames=max_frames,
        start=start,
        end=end,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        total_pixels=total_pixels,
        factor=factor,
    )
    try:
        config = SamplingConfig(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid frame-sampling settings: {problems}") from exc
    return sample_with_config(path, config, limits=limits)


def sample_with_config(
    path: str | Path, config: SamplingConfig, *, limits: VideoLimits | None = None, _decoder: str = "seek"
) -> SampledVideo:
    """``sample_frames`` with a validated config.

    ``_decoder`` is for tests and the benchmark, which hold the paths to the same output: "seek" (the default),
    "seek-all" (seek but decode non-reference frames too) or "decode-all" (the reference: every frame in order).
    """
    path = Path(path)
    with open_video(path) as (container, stream):
        info = _header_info(path, container, stream)
        if limits is not None:
            limits.check(info)
        index = build_index(path, container, stream)
        total = index.num_frames
        indices, span = _plan(path, info, total, config)
        resizer = _Resizer(path, config, len(indices))
        if not index.addressable or _decoder == "decode-all":
            kept, decoded = decode_all(path, indices, resizer)
            if decoded != total:
                logger.warning("%s: %d frames decode but the stream has %d packets", path, decoded, total)
        else:
            try:
                skip_nonref = _decoder != "seek-all"
                kept = decode_seek(path, container, stream, index, indices, resizer, skip_nonref=skip_nonref)
            except SeekMissError as exc:
                logger.warning("%s; decoding every frame instead", exc)
                kept, _ = decode_all(path, indices, resizer)
    frames = np.stack([kept[i] for i in indices])
    rotation = resizer.rotation or 0
    duration = info.duration or total / info.fps  # raw streams carry no duration
    info = VideoInfo(**{**info.to_dict(), "num_frames": total, "rotation": rotation, "duration": duration})
    return SampledVideo(
        path=str(path),
        frames=frames,
        indices=list(indices),
        timestamps=_timestamps(index, indices, info.fps),
        source_fps=info.fps,
        total_frames=total,
        sample_fps=len(indices) / (span[1] - span[0] + 1) * info.fps,
        original=info.display_size,
        info=info,
        span=span,
    )


def _sample_decode_all(path: str | Path, config: SamplingConfig) -> SampledVideo:
    """The decode-all reference for tests and the benchmark: same plan, every frame decoded in order."""
    return sample_with_config(path, config, _decoder="decode-all")


def _header_info(path: Path, container: Any, stream: Any) -> VideoInfo:
    """Probe facts from the open container's header (rotation is filled in from the first decoded frame)."""
    with decode_errors(path, "reading the header"):
        fps = stream_fps(stream)
        duration = stream_duration(container, stream)
        header_frames = max(int(stream.frames or 0), 0)
        width, height, codec = stream.codec_context.width, stream.codec_context.height, stream.codec_context.name
    if fps is None:
        raise VideoDecodeError(path, "the header gives no frame rate")
    return VideoInfo(str(path), duration or header_frames / fps, fps, header_frames, width, height, codec, 0)


def _plan(path: Path, info: VideoInfo, total: int, config: SamplingConfig) -> tuple[list[int], tuple[int, int]]:
    """Which source frames to take: the span, the count, the indices. Errors name the file and what to change."""
    if total <= 0:
        raise VideoDecodeError(path, "the video stream has no frames")
    length = total / info.fps
    if config.start is not None and config.start >= length:
        raise VideoDecodeError(path, f"start {config.start} s is beyond the video's end ({length:.2f} s)")
    try:
        span = rules.frame_range(total, info.fps, config.start, config.end)
        count = rules.smart_nframes(
            span[1] - span[0] + 1,
            info.fps,
            fps=config.fps,
            nframes=config.nframes,
            min_frames=config.min_frames,
            max_frames=config.max_frames,
        )
    except ValueError as exc:
        raise VideoDecodeError(path, str(exc)) from exc
    return rules.frame_indices(span[0], span[1], count), span


def _timestamps(index: FrameIndex, indices: list[int], fps: float) -> list[float]:
    if not index.addressable:
        return [i / fps for i in indices]
    return [index.seconds(i) for i in indices]


class _Resizer:
    """Converts a decoded frame to an upright, resized uint8 RGB array. The target size is fixed by the first
    frame (its upright size and the per-frame pixel cap), as qwen-vl-utils resizes a whole clip to one size."""

    def __init__(self, path: Path, config: SamplingConfig, nframes: int):
        self.path = path
        self.factor = config.factor
        self.min_pixels = config.min_pixels
        self.max_pixels = rules.frame_max_pixels(
            nframes, min_pixels=config.min_pixels, max_pixels=config.max_pixels, total_pixels=config.total_pixels
        )
        self.rotation: int | None = None
        self.target: tuple[int, int] | None = None

    def __call__(self, frame: Any) -> np.ndarray:
        rotation = clockwise_rotation(frame.rotation)
        rgb = frame.to_ndarray(format="rgb24")
        if rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=-rotation // 90))
        if self.target is None:
            self.rotation = rotation
            try:
                self.target = rules.smart_resize(
                    rgb.shape[0], rgb.shape[1], self.factor, self.min_pixels, self.max_pixels
                )
            except ValueError as exc:
                raise VideoDecodeError(self.path, str(exc)) from exc
        return resize_uint8(rgb, self.target)


def resize_uint8(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic, antialiased resize of one (H, W, 3) uint8 frame to ``size`` = (height, width), uint8 out.

    torchvision's tensor ``resize`` as qwen-vl-utils calls it (rounds and clamps back to uint8). PIL's bicubic
    differs in the last bit on many pixels, so it is not used.
    """
    if rgb.shape[:2] == size:
        return rgb
    import torch
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    tensor = torch.from_numpy(rgb).permute(2, 0, 1)
    resized = TF.resize(tensor, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    return resized.permute(1, 2, 0).contiguous().numpy()
