"""SamplingConfig and VideoLimits: defaults, the paper preset, and errors that say what to change."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from owlcap.errors import VideoDecodeError
from owlcap.video import PAPER_TOTAL_PIXELS, SamplingConfig, VideoInfo, VideoLimits, rules


def test_defaults_are_qwen_vl_utils():
    config = SamplingConfig()
    assert (config.fps, config.nframes, config.min_frames, config.max_frames) == (2.0, None, 4, 768)
    assert (config.min_pixels, config.max_pixels) == (128 * 28 * 28, 768 * 28 * 28)
    assert config.total_pixels == int(128000 * 28 * 28 * 0.9) == rules.VIDEO_TOTAL_PIXELS
    assert config.factor == 28


def test_every_field_is_documented():
    assert set(SamplingConfig.model_fields) == {
        "fps", "nframes", "min_frames", "max_frames", "start", "end",
        "min_pixels", "max_pixels", "total_pixels", "factor",
    }  # fmt: skip
    for model in (SamplingConfig, VideoLimits):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_paper_preset():
    config = SamplingConfig.paper()
    assert config.fps == 2.0 and config.total_pixels == PAPER_TOTAL_PIXELS == 3584 * 28 * 28
    assert SamplingConfig.paper(max_frames=64).max_frames == 64


def test_nframes_alone_replaces_the_default_fps():
    config = SamplingConfig(nframes=16)
    assert config.fps is None and config.nframes == 16
    assert SamplingConfig.model_validate({"nframes": 8}).fps is None  # as from YAML


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": 2.0, "nframes": 16}, "either fps .* or nframes .* not both"),
        ({"fps": None}, "set fps .* or nframes"),
        ({"min_frames": 10, "max_frames": 8}, r"min_frames \(10\) > max_frames \(8\)"),
        ({"min_pixels": 1000, "max_pixels": 999}, r"min_pixels \(1000\) > max_pixels \(999\)"),
        ({"start": 5.0, "end": 2.0}, r"start \(5.0 s\) must be before end \(2.0 s\)"),
        ({"start": -1.0}, "greater than or equal to 0"),
        ({"fps": 0}, "greater than 0"),
        ({"nframes": 1}, "greater than or equal to 2"),
        ({"fsp": 2.0}, "Extra inputs are not permitted"),
    ],
)
def test_bad_combinations_say_what_to_change(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        SamplingConfig(**kwargs)


def _info(**overrides) -> VideoInfo:
    fields = dict(path="clip.mp4", duration=30.0, fps=30.0, num_frames=900, width=1920, height=1080, codec="h264")
    return VideoInfo(**{**fields, **overrides})


def test_limits_pass_and_fail_with_the_value_and_the_limit():
    VideoLimits().check(_info())
    VideoLimits(max_duration=60, max_width=1920, max_height=1080, max_pixels_per_frame=1920 * 1080).check(_info())
    with pytest.raises(VideoDecodeError, match=r"clip.mp4: video limits exceeded: duration 30.00 s exceeds"):
        VideoLimits(max_duration=10).check(_info())
    with pytest.raises(VideoDecodeError, match="width 1920 exceeds max_width=1280; height 1080 exceeds max_height"):
        VideoLimits(max_width=1280, max_height=720).check(_info())
    with pytest.raises(VideoDecodeError, match="2073600 pixels per frame exceeds max_pixels_per_frame=921600"):
        VideoLimits(max_pixels_per_frame=1280 * 720).check(_info())
