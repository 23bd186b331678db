"""``SampledVideoMetadata``: transformers' ``VideoMetadata`` that reports the true sampled frame rate.

Qwen2.5-VL's processor sets ``second_per_grid_ts = temporal_patch_size / metadata.sampled_fps``, and transformers
computes ``sampled_fps`` as ``len(frames_indices) / total_num_frames * fps``: right when frames span the whole
video, wrong for a start/end trim (2 frames from a 1-second span of a 60-second video would read as 1/30 fps). This
subclass answers with the ``sample_fps`` owlcap computed (frames per second of the sampled span).

transformers keeps metadata objects as they are when given a flat list of them (``video_metadata=[m1, m2]``); it
rebuilds plain ``VideoMetadata`` objects from dicts, nested lists and a bare object, which drops the override.
The extra value is therefore not a dataclass field, so such a rebuild (or ``dataclasses.asdict`` for vLLM) sees
only the standard keys and degrades to transformers' formula instead of failing on an unknown key; without a
trim both formulas agree.
"""

from __future__ import annotations

from typing import Any

from transformers.video_utils import VideoMetadata


class SampledVideoMetadata(VideoMetadata):
    """``VideoMetadata`` whose ``sampled_fps`` is owlcap's ``sample_fps`` when one is given.

    ``sample_fps`` is a plain attribute, not a dataclass field: ``dataclasses.asdict``, ``dict(metadata)`` and
    transformers' key validation see exactly the standard fields, so the object can go anywhere a
    ``VideoMetadata`` can (a rebuild from those fields falls back to transformers' formula).
    """

    def __init__(self, *args: Any, sample_fps: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.sample_fps = sample_fps

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, sample_fps={self.sample_fps!r})"

    @property
    def sampled_fps(self) -> float:
        """Frames per second of the sampled span (owlcap's ``sample_fps``), not transformers' whole-video guess."""
        if self.sample_fps is not None:
            return self.sample_fps
        return VideoMetadata.sampled_fps.fget(self)
