"""probe(): facts about the real samples and generated videos, and one clear error per kind of bad file."""

from __future__ import annotations

import pytest

from owlcap.errors import VideoDecodeError
from owlcap.video import VideoLimits, probe

SAMPLES = {
    "blackboard_20350807.mp4": (330, 30000 / 1001, 11.011, 596, 336),
    "hummingbird_3.mp4": (681, 24000 / 1001, 28.403, 596, 336),
    "programs_2.mp4": (159, 24000 / 1001, 6.632, 1920, 1080),
}


def test_probe_real_samples(hmd_videos):
    assert sorted(video.name for video in hmd_videos) == sorted(SAMPLES)
    for video in hmd_videos:
        frames, fps, duration, width, height = SAMPLES[video.name]
        info = probe(video)
        assert (info.num_frames, info.width, info.height, info.codec, info.rotation) == (
            frames, width, height, "h264", 0
        )  # fmt: skip
        assert info.fps == pytest.approx(fps) and info.duration == pytest.approx(duration, abs=1e-3)
        assert probe(video, exact=True) == info
        assert info.to_dict()["path"] == str(video) and info.display_size == (width, height)


def test_probe_odd_fps_and_headerless_frame_count(odd_fps_video, ntsc_mkv_video):
    info = probe(odd_fps_video)
    assert (info.num_frames, info.fps, info.duration) == (73, pytest.approx(7.3), pytest.approx(10.0))
    mkv = probe(ntsc_mkv_video)  # Matroska has no frame count in its header: packets are counted
    assert mkv.num_frames == 120 and mkv.fps == pytest.approx(29.97, abs=1e-3)


def test_probe_rotation(rotated_video):
    info = probe(rotated_video)
    assert (info.width, info.height, info.rotation) == (160, 96, 90)
    assert info.display_size == (96, 160)


def test_probe_limits(hmd_videos):
    with pytest.raises(VideoDecodeError, match="limits exceeded: duration"):
        probe(hmd_videos[1], limits=VideoLimits(max_duration=20.0))


@pytest.mark.parametrize(
    ("fixture", "match"),
    [
        ("text_file", "not a readable video"),
        ("garbage_file", "not a readable video"),
        ("tail_only_video", "not a readable video"),
        ("audio_only_file", r"no video stream \(found: audio\)"),
        ("empty_video", "the video stream has no frames"),
    ],
)
def test_probe_bad_files(request, fixture, match):
    path = request.getfixturevalue(fixture)
    with pytest.raises(VideoDecodeError, match=match) as caught:
        probe(path)
    assert caught.value.path == str(path) and str(path) in str(caught.value)


def test_probe_missing_and_directory(tmp_path):
    with pytest.raises(VideoDecodeError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(VideoDecodeError, match="is a directory"):
        probe(tmp_path)


def test_probe_exact_catches_truncation(truncated_video):
    assert probe(truncated_video).num_frames == 330  # the header alone cannot tell
    with pytest.raises(VideoDecodeError, match="truncated: the header lists 330 frames but only"):
        probe(truncated_video, exact=True)
