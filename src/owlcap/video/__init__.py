"""Probing videos and sampling their frames the way Qwen2.5-VL / qwen-vl-utils does, with seek-based decoding.

``probe(path)`` says what a video is; ``sample_frames(path, fps=2.0 | nframes=N, ...)`` (or
``SamplingConfig(...).sample(path)``) returns upright, resized uint8 frames plus a transformers ``VideoMetadata``
(``SampledVideo.metadata``) for processors called with ``do_sample_frames=False``. Every failure is a
``VideoDecodeError`` naming the file and the cause.
"""

from owlcap.errors import VideoDecodeError
from owlcap.video.config import PAPER_TOTAL_PIXELS, SamplingConfig, VideoLimits
from owlcap.video.probe import VideoInfo, probe
from owlcap.video.rules import smart_nframes, smart_resize
from owlcap.video.sampling import SampledVideo, sample_frames

__all__ = [
    "PAPER_TOTAL_PIXELS",
    "SampledVideo",
    "SamplingConfig",
    "VideoDecodeError",
    "VideoInfo",
    "VideoLimits",
    "probe",
    "sample_frames",
    "smart_nframes",
    "smart_resize",
]
