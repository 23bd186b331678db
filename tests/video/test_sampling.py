"""sample_frames(): bitwise equal to decoding every frame, Qwen's counts and sizes, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from owlcap.errors import ConfigError, VideoDecodeError
from owlcap.video import SampledVideo, SamplingConfig, VideoLimits, sample_frames
from owlcap.video.sampling import _sample_decode_all, sample_with_config

MODES = {
    "fps": SamplingConfig(),
    "nframes": SamplingConfig(nframes=16),
    "fps-trim": SamplingConfig(start=1.3, end=4.1),
    "nframes-trim": SamplingConfig(nframes=8, start=2.0),
}
VIDEOS = ["blackboard_20350807.mp4", "hummingbird_3.mp4", "programs_2.mp4", "odd_fps", "ntsc_mkv", "edit_list"]


@pytest.fixture(scope="module")
def video_paths(hmd_videos, odd_fps_video, ntsc_mkv_video, edit_list_video):
    generated = {"odd_fps": odd_fps_video, "ntsc_mkv": ntsc_mkv_video, "edit_list": edit_list_video}
    return {**{video.name: video for video in hmd_videos}, **generated}


def assert_same(got: SampledVideo, want: SampledVideo) -> None:
    assert got.indices == want.indices
    assert got.frames.dtype == want.frames.dtype == np.uint8
    assert got.frames.shape == want.frames.shape
    assert np.array_equal(got.frames, want.frames), "seek-based frames differ from the decode-all reference"
    assert got.timestamps == want.timestamps and got.sample_fps == want.sample_fps


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("video", VIDEOS)
def test_seek_equals_decode_all(video_paths, video, mode):
    config = MODES[mode]
    got = config.sample(video_paths[video])
    assert_same(got, _sample_decode_all(video_paths[video], config))


def test_seek_without_skipping_nonreference_frames_is_equal_too(video_paths):
    for video in ("hummingbird_3.mp4", "odd_fps"):
        config = SamplingConfig(nframes=10, start=0.5)
        seek_all = sample_with_config(video_paths[video], config, _decoder="seek-all")
        assert_same(seek_all, config.sample(video_paths[video]))


def test_every_frame_of_an_odd_fps_video(odd_fps_video):
    """fps above the source rate takes 72 of the 73 frames: nearly every B-frame and GOP boundary is checked."""
    config = SamplingConfig(fps=30.0, min_pixels=28 * 28, max_pixels=56 * 84)
    got = config.sample(odd_fps_video)
    assert len(set(got.indices)) == 72 and got.indices == sorted(got.indices) and got.indices[-1] == 72
    assert_same(got, _sample_decode_all(odd_fps_video, config))


def test_qwen_counts_sizes_and_times(hmd_videos):
    video = sample_frames(hmd_videos[0])  # blackboard: 330 frames at 29.97 fps, 596x336
    assert video.frames.shape == (22, 336, 588, 3) and video.frames.flags.c_contiguous
    assert video.indices[:3] == [0, 16, 31] and video.indices[-1] == 329
    assert video.total_frames == 330 and video.source_fps == pytest.approx(29.97, abs=1e-3)
    assert video.sample_fps == pytest.approx(22 / 330 * 30000 / 1001)
    assert video.timestamps == pytest.approx([i * 1001 / 30000 for i in video.indices])
    assert video.original == (596, 336) and video.size == (588, 336) and video.span == (0, 329)
    assert video.info is not None and video.info.codec == "h264"


def test_trim_span_and_sample_fps(hmd_videos):
    video = sample_frames(hmd_videos[1], nframes=4, start=2.0, end=4.0)  # hummingbird, 23.976 fps
    assert video.span == (48, 95) and video.indices == [48, 64, 79, 95]
    assert video.sample_fps == pytest.approx(4 / 48 * 24000 / 1001)
    assert video.timestamps[0] == pytest.approx(48 * 1001 / 24000)


def test_total_pixels_shrink_frames(hmd_videos):
    video = sample_frames(hmd_videos[2], nframes=16, total_pixels=3584 * 28 * 28)  # 1080p
    height, width = video.frames.shape[1:3]
    assert height % 28 == 0 and width % 28 == 0
    assert height * width <= 3584 * 28 * 28 / 16 * 2


def test_rotated_video_comes_out_upright(rotated_video):
    video = sample_frames(rotated_video, nframes=2, min_pixels=28 * 28)
    assert video.original == (96, 160) and video.frames.shape[1:] == (168, 84, 3)  # portrait
    native = sample_frames(rotated_video, nframes=2, min_pixels=28 * 28, factor=1, max_pixels=10**7)
    assert native.frames.shape[1:] == (160, 96, 3)
    # frame 0's number bits (black squares) drawn along the stored top-left edge now run down the right edge
    right, left = native.frames[0, 4:82, -12:-4], native.frames[0, 4:82, 4:12]
    assert right.mean() < 10 < left.mean()


def test_to_pil(hmd_videos):
    video = sample_frames(hmd_videos[0], nframes=2)
    images = video.to_pil()
    assert len(images) == 2 and images[0].size == video.size and images[0].mode == "RGB"
    assert np.array_equal(np.asarray(images[1]), video.frames[1])


def test_seeking_decodes_only_a_few_frames(hmd_videos, monkeypatch):
    """Four frames from 681 (GOPs of about 10) must not walk the whole file."""
    from owlcap.video import decode

    fed = []
    original = decode._Cursor._decode_next_packet
    monkeypatch.setattr(decode._Cursor, "_decode_next_packet", lambda self: fed.append(1) or original(self))
    sample_frames(hmd_videos[1], nframes=4)
    assert 0 < len(fed) < 80


def test_a_clip_cut_mid_gop_is_still_sought(edit_list_video):
    """Its first keyframe is a discarded packet (before the edit list's start), yet a valid seek point."""
    import av

    from owlcap.video.decode import build_index

    with av.open(str(edit_list_video)) as container:
        index = build_index(edit_list_video, container, container.streams.video[0])
    with av.open(str(edit_list_video)) as container:
        packets = [packet for packet in container.demux(container.streams.video[0]) if packet.size]
    assert packets[0].is_keyframe and packets[0].is_discard
    assert index.addressable and index.num_frames == len(packets) - 3
    assert index.keyframe_pts[0] < index.pts[0] == 0


def test_raw_stream_without_timestamps_falls_back_to_decoding_all(raw_h264_video):
    video = sample_frames(raw_h264_video, nframes=4)
    assert video.indices == [0, 24, 48, 72] and video.frames.shape[0] == 4
    assert video.duration == pytest.approx(73 / video.source_fps)  # no duration in a raw stream: counted
    assert_same(video, _sample_decode_all(raw_h264_video, SamplingConfig(nframes=4)))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": 5.0, "end": 2.0}, r"start \(5.0 s\) must be before end \(2.0 s\)"),
        ({"start": 5.0, "end": 5.0}, "must be before end"),
        ({"start": 12.0}, r"start 12.0 s is beyond the video's end \(11.01 s\)"),
        ({"start": 5.0, "end": 5.02}, "needs at least two frames"),
        ({"nframes": 400}, r"nframes must be in \[2, 330\]"),
        ({"limits": VideoLimits(max_width=320)}, "width 596 exceeds max_width=320"),
    ],
)
def test_video_errors_name_the_file_and_cause(hmd_videos, kwargs, match):
    with pytest.raises(VideoDecodeError, match=match) as caught:
        sample_frames(hmd_videos[0], **kwargs)
    assert caught.value.path == str(hmd_videos[0])


def test_bad_settings_are_config_errors(hmd_videos):
    with pytest.raises(ConfigError, match=r"min_pixels \(5000\) > max_pixels \(4000\)"):
        sample_frames(hmd_videos[0], min_pixels=5000, max_pixels=4000)


@pytest.mark.parametrize(
    ("fixture", "match"),
    [
        ("truncated_video", "truncated: the header lists 330 frames"),
        ("text_file", "not a readable video"),
        ("garbage_file", "not a readable video"),
        ("audio_only_file", "no video stream"),
        ("empty_video", "no frames"),
    ],
)
def test_bad_files(request, fixture, match):
    path = request.getfixturevalue(fixture)
    with pytest.raises(VideoDecodeError, match=match):
        sample_frames(path)
    with pytest.raises(VideoDecodeError, match=match):
        _sample_decode_all(path, SamplingConfig())


def test_missing_file(tmp_path):
    with pytest.raises(VideoDecodeError, match="no such file"):
        sample_frames(tmp_path / "gone.mp4")


def test_a_frame_the_seek_path_misses_falls_back_to_decoding_all(hmd_videos, monkeypatch, caplog):
    """If decoded timestamps ever disagree with the packets', the result is still the right frames, not an error."""
    from owlcap.video import decode

    original = decode._Cursor._decode_next_packet

    def lose_timestamps(self):
        more = original(self)
        for frame in self.pending:
            frame.pts += 1  # no decoded frame matches a packet timestamp any more
        return more

    monkeypatch.setattr(decode._Cursor, "_decode_next_packet", lose_timestamps)
    config = SamplingConfig(nframes=4)
    video = config.sample(hmd_videos[0])
    assert_same(video, _sample_decode_all(hmd_videos[0], config))
    assert "decoding every frame instead" in caplog.text
