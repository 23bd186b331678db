"""The Qwen2.5-VL / qwen-vl-utils rules for how many frames to take and how big each one is.

These are pure functions of a video's frame count, frame rate and size, kept bit-for-bit with qwen-vl-utils'
``vision_process.py`` (``smart_nframes``, ``smart_resize``, ``calculate_video_frame_range`` and the per-frame pixel
cap in ``fetch_video``) so a model fine-tuned by owlcap sees what Qwen's own tooling would feed it. In plain terms:

- frames: ``duration * fps`` clamped to ``[min_frames, max_frames]`` and to the frame count, rounded down to an even
  number (``nframes`` mode: the requested count rounded to an even number); taken at
  ``linspace(first, last, n).round()``;
- size: each side a multiple of ``factor`` (28), aspect ratio kept, pixels within ``[min_pixels, max_pixels]``,
  where ``max_pixels`` also shrinks so that all frames together stay near ``total_pixels``.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)

IMAGE_FACTOR = 28
MAX_RATIO = 200
VIDEO_MIN_PIXELS = 128 * 28 * 28
VIDEO_MAX_PIXELS = 768 * 28 * 28
VIDEO_TOTAL_PIXELS = int(128000 * 28 * 28 * 0.9)
FRAME_FACTOR = 2
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768


def round_by_factor(number: float, factor: int) -> int:
    """The multiple of ``factor`` closest to ``number`` (Python's round: halves go to even)."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """The smallest multiple of ``factor`` that is >= ``number``."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """The largest multiple of ``factor`` that is <= ``number``."""
    return math.floor(number / factor) * factor


def smart_resize(
    height: int,
    width: int,
    factor: int = IMAGE_FACTOR,
    min_pixels: float = VIDEO_MIN_PIXELS,
    max_pixels: float = VIDEO_MAX_PIXELS,
) -> tuple[int, int]:
    """Target ``(height, width)``: both multiples of ``factor``, area within ``[min_pixels, max_pixels]``, aspect
    ratio as close as the grid allows. Raises ``ValueError`` when the aspect ratio exceeds 200 (Qwen refuses those).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        raise ValueError(f"absolute aspect ratio must be at most {MAX_RATIO}, got {ratio:.1f} ({width}x{height})")
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, floor_by_factor(height / beta, factor))
        w_bar = max(factor, floor_by_factor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def smart_nframes(
    total_frames: int,
    video_fps: float,
    *,
    fps: float | None = None,
    nframes: int | None = None,
    min_frames: int = FPS_MIN_FRAMES,
    max_frames: int = FPS_MAX_FRAMES,
) -> int:
    """How many frames to sample from a span of ``total_frames`` frames at ``video_fps``.

    ``nframes`` mode returns the request rounded to an even number (``min_frames``/``max_frames`` do not apply, as
    in qwen-vl-utils); otherwise ``fps`` (default 2.0) frames per second, clamped to ``[min_frames, max_frames]`` and
    to ``total_frames``, rounded down to an even number. Raises ``ValueError`` when the result is outside
    ``[2, total_frames]`` (a span of one frame, or more frames asked for than exist).
    """
    if fps is not None and nframes is not None:
        raise ValueError("pass either fps or nframes, not both")
    if nframes is not None:
        count = round_by_factor(nframes, FRAME_FACTOR)
    else:
        fps = FPS if fps is None else fps
        lower = ceil_by_factor(min_frames, FRAME_FACTOR)
        upper = floor_by_factor(min(max_frames, total_frames), FRAME_FACTOR)
        wanted = total_frames / video_fps * fps
        if wanted > total_frames:
            logger.debug("fps=%s asks for %.1f frames but the span has %d; taking them all", fps, wanted, total_frames)
        count = floor_by_factor(min(max(wanted, lower), upper, total_frames), FRAME_FACTOR)
    if total_frames < FRAME_FACTOR:
        raise ValueError(
            f"the span holds {total_frames} frame(s) and sampling needs at least {FRAME_FACTOR}; widen the clip "
            "(start/end) or check the video"
        )
    if not FRAME_FACTOR <= count <= total_frames:
        raise ValueError(f"nframes must be in [{FRAME_FACTOR}, {total_frames}] (frames in the span), got {count}")
    return count


def frame_range(
    total_frames: int, video_fps: float, start: float | None = None, end: float | None = None
) -> tuple[int, int]:
    """First and last frame index (inclusive) of the ``[start, end]`` span in seconds, as qwen-vl-utils computes
    them: ``ceil(start * fps)`` and ``floor(end * fps)``, with times clamped to ``[0, total_frames / fps]``.

    Times map to indices through the average frame rate, exactly like qwen-vl-utils; on variable-frame-rate
    video that is an approximation. Raises ``ValueError`` when the span holds fewer than two frames.
    """
    if video_fps <= 0 or total_frames <= 0:
        raise ValueError(f"need a positive frame count and fps, got {total_frames} frames at {video_fps} fps")
    if start is None and end is None:
        return 0, total_frames - 1
    max_duration = total_frames / video_fps
    start_frame = 0 if start is None else math.ceil(max(0.0, min(start, max_duration)) * video_fps)
    end_frame = total_frames - 1
    if end is not None:
        end_frame = min(math.floor(max(0.0, min(end, max_duration)) * video_fps), total_frames - 1)
    if start_frame >= end_frame:
        raise ValueError(
            f"the span start={start} s, end={end} s covers frames {start_frame}..{end_frame} of {total_frames} "
            f"({max_duration:.2f} s at {video_fps:.3f} fps); it needs at least two frames"
        )
    return start_frame, end_frame


def frame_indices(start_frame: int, end_frame: int, nframes: int) -> list[int]:
    """``nframes`` source indices evenly spread over ``[start_frame, end_frame]``: ``linspace(...).round()``.

    Computed with ``torch.linspace`` in float32 exactly as qwen-vl-utils does: past a few thousand frames float32
    and float64 linspace round differently (one frame apart), and we want the very same indices as Qwen's tooling.
    """
    import torch

    return torch.linspace(start_frame, end_frame, nframes).round().long().tolist()


def frame_max_pixels(nframes: int, *, min_pixels: int, max_pixels: int, total_pixels: int) -> float:
    """The per-frame pixel cap: ``total_pixels`` shared over the frames (two frames per temporal patch), at most
    768*28*28, at least 1.05 * ``min_pixels``; then never above the caller's ``max_pixels``."""
    budget = max(min(VIDEO_MAX_PIXELS, total_pixels / nframes * FRAME_FACTOR), int(min_pixels * 1.05))
    return min(max_pixels, budget)
