"""The Qwen2.5-VL / qwen-vl-utils rules: frame counts, spans, indices, sizes (values worked out by hand)."""

from __future__ import annotations

import math
import random

import pytest

from owlcap.video import rules, smart_nframes, smart_resize


@pytest.mark.parametrize(
    ("height", "width", "kwargs", "expected"),
    [
        (336, 596, {}, (336, 588)),  # already inside the budget: nearest multiples of 28
        (1080, 1920, {}, (560, 1008)),  # above 768*28*28: scaled down, floored to the grid
        (96, 160, {}, (252, 420)),  # below 128*28*28: scaled up, ceiled to the grid
        (1080, 1920, {"max_pixels": 255441.45}, (364, 672)),  # the paper budget over 22 frames
        (10, 10, {"min_pixels": 1, "max_pixels": 10_000}, (28, 28)),  # never below one factor
        (720, 1280, {"factor": 32, "min_pixels": 32 * 32, "max_pixels": 1280 * 720}, (704, 1280)),
    ],
)
def test_smart_resize_known_values(height, width, kwargs, expected):
    assert smart_resize(height, width, **kwargs) == expected


def test_smart_resize_invariants_on_random_sizes():
    rng = random.Random(0)
    for _ in range(500):
        height, width = rng.randint(100, 4000), rng.randint(100, 4000)
        if max(height, width) / min(height, width) > 4:
            continue
        max_pixels = rng.choice([rules.VIDEO_MAX_PIXELS, 200_000, 2_809_856 / 22])
        h, w = smart_resize(height, width, 28, rules.VIDEO_MIN_PIXELS, max_pixels)
        assert h % 28 == 0 and w % 28 == 0
        # within the cap, unless scaling up to min_pixels (ceiled to the grid) overshoots it, as in Qwen
        assert h * w <= max_pixels or h * w <= rules.VIDEO_MIN_PIXELS * 1.5
        assert math.isclose(h / w, height / width, rel_tol=0.25)


def test_smart_resize_refuses_extreme_aspect_ratios():
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(10, 2010)


@pytest.mark.parametrize(
    ("total", "video_fps", "kwargs", "expected"),
    [
        (330, 30000 / 1001, {"fps": 2.0}, 22),  # 11.01 s at 2 fps
        (681, 24000 / 1001, {}, 56),  # fps defaults to 2.0
        (159, 24000 / 1001, {"fps": 2.0}, 12),  # 13.26 -> floored to even
        (73, 7.3, {"fps": 30.0}, 72),  # more than the video has: all frames, even
        (20, 30.0, {"fps": 2.0}, 4),  # 1.3 frames -> min_frames
        (3, 30.0, {"fps": 2.0}, 2),  # min_frames capped by a 3-frame span
        (330, 30.0, {"fps": 2.0, "min_frames": 5}, 22),
        (3000, 30.0, {"fps": 2.0, "max_frames": 33}, 32),  # max_frames floored to even
        (30, 30.0, {"fps": 2.0, "min_frames": 5}, 6),  # min_frames ceiled to even
        (330, 30.0, {"nframes": 16}, 16),
        (330, 30.0, {"nframes": 15}, 16),  # round(7.5) = 8 pairs
        (330, 30.0, {"nframes": 17}, 16),  # round(8.5) = 8 pairs: Python rounds halves to even
        (330, 30.0, {"nframes": 5, "min_frames": 100}, 4),  # min/max frames do not apply to nframes
    ],
)
def test_smart_nframes_known_values(total, video_fps, kwargs, expected):
    assert smart_nframes(total, video_fps, **kwargs) == expected


@pytest.mark.parametrize(
    ("total", "kwargs", "match"),
    [
        (1, {"fps": 2.0}, r"the span holds 1 frame\(s\) and sampling needs at least 2"),
        (10, {"nframes": 12}, r"\[2, 10\]"),
        (10, {"fps": 2.0, "nframes": 4}, "either fps or nframes"),
    ],
)
def test_smart_nframes_rejects(total, kwargs, match):
    with pytest.raises(ValueError, match=match):
        smart_nframes(total, 30.0, **kwargs)


def test_frame_range_follows_qwen_rounding():
    fps = 30000 / 1001
    assert rules.frame_range(330, fps) == (0, 329)
    assert rules.frame_range(330, fps, 1.3, 4.1) == (39, 122)  # ceil(38.96), floor(122.88)
    assert rules.frame_range(330, fps, None, 99.0) == (0, 329)  # end clamped to the video
    assert rules.frame_range(330, fps, 2.0, None) == (60, 329)
    with pytest.raises(ValueError, match="at least two frames"):
        rules.frame_range(330, fps, 5.0, 5.01)


def test_frame_indices_are_torch_linspace_rounded():
    assert rules.frame_indices(0, 329, 4) == [0, 110, 219, 329]
    assert rules.frame_indices(39, 122, 4) == [39, 67, 94, 122]
    # float32 linspace, as qwen-vl-utils computes it, is one frame off float64 here
    assert rules.frame_indices(31441, 36862, 312)[217] == 35224


def test_frame_max_pixels_shares_the_total_budget():
    kwargs = {"min_pixels": rules.VIDEO_MIN_PIXELS, "max_pixels": rules.VIDEO_MAX_PIXELS}
    assert rules.frame_max_pixels(22, total_pixels=rules.VIDEO_TOTAL_PIXELS, **kwargs) == rules.VIDEO_MAX_PIXELS
    assert rules.frame_max_pixels(22, total_pixels=3584 * 28 * 28, **kwargs) == pytest.approx(3584 * 28 * 28 / 11)
    assert rules.frame_max_pixels(768, total_pixels=3584 * 28 * 28, **kwargs) == int(rules.VIDEO_MIN_PIXELS * 1.05)
    assert rules.frame_max_pixels(4, total_pixels=3584 * 28 * 28, min_pixels=784, max_pixels=5000) == 5000
