"""Videos the tests generate with PyAV: odd frame rates, B-frames, open GOPs, rotation, and broken files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest


def make_video(
    path: Path,
    *,
    rate: Fraction,
    frames: int,
    width: int = 160,
    height: int = 96,
    gop: int = 12,
    bframes: int = 3,
    x264_params: str = "",
    rotation: int = 0,
) -> Path:
    """Encode ``frames`` distinct frames (moving texture and bar, frame number in bits) with libx264."""
    import av

    texture = np.random.default_rng(frames).integers(0, 60, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        # b-adapt=0 forces the B-frames x264 would otherwise drop on noisy content.
        params = ":".join(filter(None, [f"bframes={bframes}", "b-adapt=0", x264_params]))
        stream.options = {"preset": "veryfast", "x264-params": params}
        if rotation:
            stream.set_display_rotation(rotation)
        for number in range(frames):
            image = np.roll(texture, 2 * number, axis=1)  # moving texture: B-frames pay off, frames differ
            image[:, (3 * number) % width] = 255
            for bit in range(10):
                image[4:12, 4 + 8 * bit : 10 + 8 * bit] = 255 if number >> bit & 1 else 0
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _mux_silence(container, frames: int = 20) -> None:
    """Add a mono 16 kHz AAC stream to ``container`` holding ``frames`` x 1024 samples of silence."""
    import av

    stream = container.add_stream("aac", rate=16000)
    for _ in range(frames):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


@pytest.fixture(scope="session")
def generated_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def odd_fps_video(generated_dir: Path) -> Path:
    """7.3 fps, 10 s, GOP 12 with up to 3 B-frames: many GOPs, frame times that are never round numbers."""
    return make_video(generated_dir / "odd_7.3fps.mp4", rate=Fraction(73, 10), frames=73)


@pytest.fixture(scope="session")
def ntsc_mkv_video(generated_dir: Path) -> Path:
    """29.97 fps Matroska (no frame count in the header) with open GOPs of 30 frames, 4 s."""
    return make_video(
        generated_dir / "ntsc_open_gop.mkv", rate=Fraction(30000, 1001), frames=120, gop=30, x264_params="open-gop=1"
    )


@pytest.fixture(scope="session")
def rotated_video(generated_dir: Path) -> Path:
    """Stored 160x96, to be shown turned 90 degrees clockwise (a portrait phone video), 10 fps, 2 s."""
    return make_video(generated_dir / "rotated.mp4", rate=Fraction(10), frames=20, rotation=-90)


@pytest.fixture(scope="session")
def text_file(generated_dir: Path) -> Path:
    path = generated_dir / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


@pytest.fixture(scope="session")
def garbage_file(generated_dir: Path) -> Path:
    path = generated_dir / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="session")
def truncated_video(generated_dir: Path, hmd_videos: list[Path]) -> Path:
    """The first half of a real sample (its index comes first, so it opens and then runs out of frames)."""
    data = hmd_videos[0].read_bytes()
    path = generated_dir / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture(scope="session")
def tail_only_video(generated_dir: Path, hmd_videos: list[Path]) -> Path:
    """The second half of a real sample: no header at all."""
    data = hmd_videos[0].read_bytes()
    path = generated_dir / "tail.mp4"
    path.write_bytes(data[len(data) // 2 :])
    return path


@pytest.fixture(scope="session")
def audio_only_file(generated_dir: Path) -> Path:
    import av

    path = generated_dir / "audio_only.m4a"
    with av.open(str(path), "w") as container:
        _mux_silence(container)
    return path


@pytest.fixture(scope="session")
def empty_video(generated_dir: Path) -> Path:
    """A Matroska file with a video stream and not a single frame (only its audio stream has packets)."""
    import av

    path = generated_dir / "no_frames.mkv"
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        _mux_silence(container)
    return path


@pytest.fixture(scope="session")
def raw_h264_video(generated_dir: Path, odd_fps_video: Path) -> Path:
    """The odd-fps video's packets as a raw H.264 stream: no timestamps at all, so no seeking by pts."""
    import av

    path = generated_dir / "raw.h264"
    with av.open(str(odd_fps_video)) as source, av.open(str(path), "w", format="h264") as target:
        stream = source.streams.video[0]
        output = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.size:
                packet.stream = output
                target.mux(packet)
    return path


@pytest.fixture(scope="session")
def edit_list_video(generated_dir: Path, odd_fps_video: Path) -> Path:
    """The odd-fps video cut three frames into its second GOP without re-encoding, as stream-copy trimming does:
    the mp4 edit list hides the keyframe and two B-frames (discarded packets) that the first shown frame needs."""
    import av

    path = generated_dir / "edit_list.mp4"
    with av.open(str(odd_fps_video)) as source, av.open(str(path), "w") as target:
        stream = source.streams.video[0]
        output = target.add_stream_from_template(stream)
        packets = [packet for packet in source.demux(stream) if packet.size]
        first = [number for number, packet in enumerate(packets) if packet.is_keyframe][1]
        shift = packets[first].pts + 3 * (packets[1].duration or 2560)
        for packet in packets[first:]:
            packet.pts -= shift
            packet.dts -= shift
            packet.stream = output
            target.mux(packet)
    return path
