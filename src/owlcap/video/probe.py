"""``probe(path)``: what a video is (duration, frame rate, frame count, size, codec, rotation) without decoding it.

Only the first frame is decoded: the display rotation lives in side data FFmpeg attaches to frames, and decoding one
frame also proves the stream is readable. With ``exact=True`` every packet is read (no decoding) to count frames
exactly and to catch files cut short, the same index that frame sampling builds.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from owlcap.errors import VideoDecodeError
from owlcap.video.container import decode_errors, open_video

if TYPE_CHECKING:
    import av.container
    import av.video.stream

    from owlcap.video.config import VideoLimits

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """Facts about one video file.

    ``width``/``height`` are the stored frame size; ``rotation`` is how many degrees clockwise a player turns the
    stored frames to show them upright (0, 90, 180 or 270; the classic mp4 ``rotate`` tag, 90 for a portrait
    phone video). ``display_size`` is the upright (width, height), which is what sampled frames come out as.
    ``num_frames`` comes from the header unless probed with ``exact=True``; an mp4 edit list (a clip trimmed
    without re-encoding) can make the header count frames that are never shown, which ``exact`` leaves out.
    """

    path: str
    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    codec: str
    rotation: int = 0

    @property
    def display_size(self) -> tuple[int, int]:
        """Upright (width, height) after applying ``rotation``."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict of the fields."""
        return asdict(self)


def clockwise_rotation(frame_rotation: int) -> int:
    """Convert PyAV's ``VideoFrame.rotation`` (counter-clockwise degrees, -180..180) to clockwise 0/90/180/270."""
    return int(round(-frame_rotation / 90.0)) * 90 % 360


def stream_fps(stream: av.video.stream.VideoStream) -> float | None:
    """The stream's average frame rate; falls back to the guessed and base rates FFmpeg derives."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    return None


def stream_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's duration in seconds, else the container's, else ``None``."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


def check_complete(path: str | Path, header_frames: int, packets: int) -> None:
    """Raise if the file holds fewer packets than its header promises: a download or copy cut short.

    FFmpeg's mp4 reader stops quietly at the end of a cut file, so this comparison is how truncation shows.
    """
    if header_frames > 0 and packets < header_frames:
        raise VideoDecodeError(
            path, f"truncated: the header lists {header_frames} frames but only {packets} are in the file"
        )


def _scan(path: Path, container: Any, stream: Any, *, count: bool) -> tuple[int, int, int]:
    """Read packets once: decode only until the first frame (for its rotation), and if ``count`` read on to the
    end. Returns ``(rotation, frames, packets)``: frames excludes packets the container marks for discarding
    (edit lists), packets includes them (that is what the header counts)."""
    rotation: int | None = None
    frames = packets = 0
    with decode_errors(path, "reading the first frame" if not count else "reading packets"):
        for packet in container.demux(stream):
            if packet.size > 0:
                packets += 1
                frames += 0 if packet.is_discard else 1
            if rotation is None:
                for frame in packet.decode():
                    rotation = clockwise_rotation(frame.rotation)
                    break
            if rotation is not None and not count:
                break
    if rotation is None:
        raise VideoDecodeError(path, "no decodable video frames" if packets else "the video stream has no frames")
    return rotation, frames, packets


def probe(path: str | Path, *, exact: bool = False, limits: VideoLimits | None = None) -> VideoInfo:
    """Probe ``path``. Raises ``VideoDecodeError`` (file and cause) if it is missing, not a video, has no frames,
    is cut short (detected with ``exact=True``) or exceeds ``limits``.

    Without ``exact`` the frame count comes from the container header when it has one (mp4 does; mkv/webm do not,
    and then packets are counted anyway); only the first frame is decoded either way.
    """
    path = Path(path)
    with open_video(path) as (container, stream):
        with decode_errors(path, "reading the header"):
            header_frames = max(int(stream.frames or 0), 0)
            fps = stream_fps(stream)
            duration = stream_duration(container, stream)
            width, height = stream.codec_context.width, stream.codec_context.height
            codec = stream.codec_context.name
        count = exact or header_frames == 0
        rotation, frames, packets = _scan(path, container, stream, count=count)
    if count:
        check_complete(path, header_frames, packets)
    num_frames = frames if count else header_frames
    if fps is None:
        if not duration:
            raise VideoDecodeError(path, "neither a frame rate nor a duration in the header")
        fps = num_frames / duration
    info = VideoInfo(
        path=str(path),
        duration=duration if duration else num_frames / fps,
        fps=fps,
        num_frames=num_frames,
        width=width,
        height=height,
        codec=codec,
        rotation=rotation,
    )
    if limits is not None:
        limits.check(info)
    return info
