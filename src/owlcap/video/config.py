"""How to sample a video (``SamplingConfig``) and what a video may be at most (``VideoLimits``).

Defaults are qwen-vl-utils' (2 fps, 4..768 frames, 128..768 x 28 x 28 pixels per frame, a 128000 x 28 x 28 x 0.9
pixel budget for the whole clip). ``SamplingConfig.paper()`` is the OwlCap setting: 2 fps with a total budget of
3584 x 28 x 28 pixels (about 1.8k visual tokens per clip after Qwen's 2 x 2 merge and 2-frame temporal patches).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from owlcap.errors import VideoDecodeError
from owlcap.video import rules

if TYPE_CHECKING:
    from pathlib import Path

    from owlcap.video.probe import VideoInfo
    from owlcap.video.sampling import SampledVideo

PAPER_TOTAL_PIXELS = 3584 * 28 * 28


class SamplingConfig(BaseModel):
    """Frame-sampling settings, validated together; ``.sample(path)`` applies them to one video."""

    model_config = ConfigDict(extra="forbid")

    fps: float | None = Field(
        rules.FPS, gt=0, description="Frames per second to sample (Qwen default 2.0). Exclusive with nframes."
    )
    nframes: int | None = Field(
        None, ge=2, description="Exact number of frames to sample (rounded to an even number). Exclusive with fps."
    )
    min_frames: int = Field(rules.FPS_MIN_FRAMES, ge=1, description="Fewest frames in fps mode.")
    max_frames: int = Field(rules.FPS_MAX_FRAMES, ge=2, description="Most frames in fps mode.")
    start: float | None = Field(None, ge=0, description="Start of the span to sample, seconds from the video start.")
    end: float | None = Field(None, gt=0, description="End of the span to sample, seconds; beyond the end = the end.")
    min_pixels: int = Field(rules.VIDEO_MIN_PIXELS, gt=0, description="Fewest pixels per resized frame.")
    max_pixels: int = Field(
        rules.VIDEO_MAX_PIXELS, gt=0, description="Most pixels per resized frame (may shrink to fit total_pixels)."
    )
    total_pixels: int = Field(
        rules.VIDEO_TOTAL_PIXELS, gt=0, description="Pixel budget over all sampled frames (paper: 3584*28*28)."
    )
    factor: int = Field(rules.IMAGE_FACTOR, ge=1, description="Resized sides are multiples of this (28 for Qwen).")

    @model_validator(mode="before")
    @classmethod
    def _nframes_replaces_default_fps(cls, data: Any) -> Any:
        """``SamplingConfig(nframes=16)`` means "16 frames", not "16 frames and 2 fps": drop the default fps."""
        if isinstance(data, dict) and data.get("nframes") is not None and "fps" not in data:
            data = {**data, "fps": None}
        return data

    @model_validator(mode="after")
    def _check_combinations(self) -> SamplingConfig:
        if self.fps is not None and self.nframes is not None:
            raise ValueError(f"set either fps ({self.fps}) or nframes ({self.nframes}), not both; set fps to null")
        if self.fps is None and self.nframes is None:
            raise ValueError("set fps (e.g. 2.0) or nframes (e.g. 16); both are null")
        if self.min_frames > self.max_frames:
            raise ValueError(f"min_frames ({self.min_frames}) > max_frames ({self.max_frames}); lower min_frames")
        if self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) > max_pixels ({self.max_pixels}); lower min_pixels")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(f"start ({self.start} s) must be before end ({self.end} s); swap or widen them")
        return self

    @classmethod
    def paper(cls, **overrides: Any) -> SamplingConfig:
        """The OwlCap setting: 2 fps and a total budget of 3584*28*28 pixels per video."""
        return cls(**{"fps": 2.0, "total_pixels": PAPER_TOTAL_PIXELS, **overrides})

    def clip(self, start: float | None, end: float | None) -> SamplingConfig:
        """These settings restricted to one clip's ``[start, end]`` seconds (a record's trims); ``None`` keeps the
        configured bound. Validated like any config: ``start >= end`` raises ``pydantic.ValidationError``."""
        if start is None and end is None:
            return self
        span = {"start": self.start if start is None else start, "end": self.end if end is None else end}
        return type(self).model_validate({**self.model_dump(), **span})

    def sample(self, path: str | Path, *, limits: VideoLimits | None = None) -> SampledVideo:
        """Decode and resize the frames of ``path`` these settings select (see ``owlcap.video.sample_frames``)."""
        from owlcap.video.sampling import sample_with_config

        return sample_with_config(path, self, limits=limits)


class VideoLimits(BaseModel):
    """Refuse videos that would be too slow or too large to decode; ``None`` means no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_duration: float | None = Field(None, gt=0, description="Longest video accepted, seconds.")
    max_width: int | None = Field(None, gt=0, description="Widest frame accepted, pixels as stored (before rotation).")
    max_height: int | None = Field(None, gt=0, description="Tallest frame accepted, pixels as stored.")
    max_pixels_per_frame: int | None = Field(None, gt=0, description="Largest width*height accepted.")

    def check(self, info: VideoInfo) -> None:
        """Raise ``VideoDecodeError`` naming the file, the value and the limit it exceeds."""
        problems = []
        if self.max_duration is not None and info.duration > self.max_duration:
            problems.append(f"duration {info.duration:.2f} s exceeds max_duration={self.max_duration}")
        if self.max_width is not None and info.width > self.max_width:
            problems.append(f"width {info.width} exceeds max_width={self.max_width}")
        if self.max_height is not None and info.height > self.max_height:
            problems.append(f"height {info.height} exceeds max_height={self.max_height}")
        pixels = info.width * info.height
        if self.max_pixels_per_frame is not None and pixels > self.max_pixels_per_frame:
            problems.append(f"{pixels} pixels per frame exceeds max_pixels_per_frame={self.max_pixels_per_frame}")
        if problems:
            raise VideoDecodeError(info.path, "video limits exceeded: " + "; ".join(problems))
