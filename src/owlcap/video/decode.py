"""Decoding chosen frames: seek-based (the fast path) and decode-all (the reference it must equal).

Frame ``i`` of a video is the ``i``-th packet timestamp in presentation order. A demux pass (no decoding) lists
every packet's pts and which packets are keyframes; that is the :class:`FrameIndex`. To fetch frame ``i`` the seek
path jumps to the last keyframe at or before it and decodes forward to the exact pts, but only jumps when the
target lies in a later GOP than the last frame decoded; otherwise it keeps decoding forward. While it walks
towards a target it asks the decoder to skip non-reference frames (``skip_frame="NONREF"``): no other frame is
predicted from them, so skipping them cannot change any frame we keep, and on H.264 with B-frames it halves the
work. Tests hold the result bitwise equal to :func:`decode_all`, which decodes every frame in order.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from owlcap.errors import VideoDecodeError
from owlcap.video.container import decode_errors, open_video
from owlcap.video.probe import check_complete

logger = logging.getLogger(__name__)

# A frame converter: decoded PyAV frame -> whatever the caller keeps (RGB array, resized array...).
Converter = Callable[[Any], np.ndarray]


class SeekMissError(VideoDecodeError):
    """A wanted frame never came out after seeking: the decoder's timestamps disagree with the packets'.
    ``sample_frames`` then decodes every frame instead, which is slower but does not depend on timestamps."""


@dataclass(frozen=True)
class FrameIndex:
    """Presentation timestamps of every frame, in order, and the keyframes among them (stream time base).

    ``addressable`` is False when packets lack timestamps or share them (raw H.264 streams, broken muxers): frames
    cannot be found by pts then, ``pts`` is empty, and only ``num_frames`` is known.
    """

    num_frames: int
    pts: tuple[int, ...]
    keyframe_pts: tuple[int, ...]
    time_base: Fraction | None
    addressable: bool = True

    def keyframe_for(self, pts: int) -> int:
        """The last keyframe pts at or before ``pts`` (the first keyframe if none is)."""
        position = bisect.bisect_right(self.keyframe_pts, pts) - 1
        return self.keyframe_pts[max(position, 0)]

    def seconds(self, index: int) -> float:
        """Time of frame ``index`` from the first frame, in seconds."""
        assert self.time_base is not None
        return float((self.pts[index] - self.pts[0]) * self.time_base)


def build_index(path: str | Path, container: Any, stream: Any) -> FrameIndex:
    """Demux every packet of ``stream`` (no decoding) into a :class:`FrameIndex`.

    Raises ``VideoDecodeError`` for a stream with no frames or a file cut short (fewer packets than the header
    lists). Packets the container marks as discarded (before an mp4 edit list's start) are not frames, but a
    discarded keyframe stays a seek point: a clip cut mid-GOP starts with one.
    """
    pts: list[int] = []
    keys: list[int] = []
    packets = frames = 0
    addressable = True
    with decode_errors(path, "reading packets"):
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            packets += 1
            if packet.is_keyframe and packet.pts is not None:
                keys.append(packet.pts)  # a discarded keyframe is still where decoding can start
            if packet.is_discard:
                continue
            frames += 1
            if packet.pts is None:
                addressable = False
                continue
            pts.append(packet.pts)
    if frames == 0:
        raise VideoDecodeError(path, "the video stream has no frames")
    check_complete(path, max(int(stream.frames or 0), 0), packets)
    pts.sort()
    keys.sort()
    if not addressable or len(set(pts)) != len(pts) or not keys or keys[0] > pts[0]:
        logger.debug("%s: frames cannot be addressed by timestamp; decoding every frame instead of seeking", path)
        return FrameIndex(frames, (), (), None, addressable=False)
    return FrameIndex(frames, tuple(pts), tuple(keys), stream.time_base)


def decode_all(path: str | Path, indices: Sequence[int], convert: Converter) -> tuple[dict[int, np.ndarray], int]:
    """The reference: open ``path`` afresh, decode every frame in presentation order, keep those at ``indices``.

    Returns ``({index: converted frame}, number of frames decoded)``. Slow by design; tests and the benchmark
    compare the seek path against it, and videos without usable timestamps fall back to it.
    """
    wanted = set(indices)
    kept: dict[int, np.ndarray] = {}
    count = 0
    with open_video(path) as (container, stream), decode_errors(path, "decoding"):
        for count, frame in enumerate(container.decode(stream), start=1):
            if count - 1 in wanted:
                kept[count - 1] = convert(frame)
    missing = sorted(wanted - kept.keys())
    if missing:
        raise VideoDecodeError(path, f"only {count} frames decode; frame {missing[0]} is past the end")
    return kept, count


def decode_seek(
    path: str | Path,
    container: Any,
    stream: Any,
    index: FrameIndex,
    indices: Sequence[int],
    convert: Converter,
    *,
    skip_nonref: bool = True,
) -> dict[int, np.ndarray]:
    """Decode only what the frames at ``indices`` need: seek to each target's keyframe when it lies beyond the
    GOP being decoded, then decode forward to the target's exact pts. Returns ``{index: converted frame}``."""
    wanted = {index.pts[i]: i for i in indices}
    kept: dict[int, np.ndarray] = {}
    cursor = _Cursor(path, container, stream, index, wanted, skip_nonref)
    with decode_errors(path, "decoding"):
        for target in sorted(wanted):
            if wanted[target] in kept:
                continue
            for pts, frame in cursor.frames_until(target):
                # Frames before the keyframe we seeked to may be leading pictures decoded without their
                # references; a wanted one is always fetched by its own, earlier seek instead.
                if pts in wanted and wanted[pts] not in kept and pts >= cursor.origin:
                    kept[wanted[pts]] = convert(frame)
    missing = sorted(set(indices) - kept.keys())
    if missing:
        raise SeekMissError(path, f"frame {missing[0]} did not come out of the decoder after seeking")
    return kept


class _Cursor:
    """The decoder's position in one open stream: decides when to seek and feeds packets one at a time, so the
    non-reference skipping can be switched off exactly for the packets we keep."""

    def __init__(self, path: Any, container: Any, stream: Any, index: FrameIndex, wanted: dict, skip_nonref: bool):
        self.path, self.container, self.stream, self.index = path, container, stream, index
        self.wanted = wanted
        self.skip_nonref = skip_nonref
        self.origin = index.pts[0]  # keyframe pts of the last seek
        self.last_pts: int | None = None  # pts of the last frame handed out
        self.packets: Iterator[Any] | None = None  # demux iterator, restarted after every seek
        self.pending: deque[Any] = deque()  # frames decoded but not yet handed out

    def frames_until(self, target: int) -> Iterator[tuple[int, Any]]:
        """Yield ``(pts, frame)`` for every frame decoded up to and including the one at ``target``.

        Seeks only when the target's keyframe is past the GOP being decoded. If the target does not come out
        (a container whose seek lands after the keyframe asked for), retry from earlier keyframes, then the start.
        """
        if not self._must_seek(target) and (yield from self._forward(target)):
            return
        position = bisect.bisect_right(self.index.keyframe_pts, target) - 1
        for attempt in dict.fromkeys((position, position - 1, position - 2, 0)):
            self._seek(self.index.keyframe_pts[max(attempt, 0)])
            if (yield from self._forward(target)):
                return
            logger.debug("%s: frame at pts %d did not come out after seeking; seeking earlier", self.path, target)
        raise SeekMissError(self.path, f"the frame at pts {target} did not come out of the decoder after seeking")

    def _must_seek(self, target: int) -> bool:
        if self.packets is None or self.last_pts is None or target <= self.last_pts:
            return True
        return self.index.keyframe_for(target) > self.index.keyframe_for(self.last_pts)

    def _seek(self, keyframe: int) -> None:
        self.container.seek(keyframe, stream=self.stream, backward=True, any_frame=False)
        self.packets = self.container.demux(self.stream)
        self.pending.clear()
        self.origin = keyframe
        self.last_pts = None

    def _forward(self, target: int) -> Generator[tuple[int, Any], None, bool]:
        """Hand out frames up to ``target``; return True once it came out, False if a later frame came first
        (that frame is kept pending) or the stream ended."""
        while True:
            if not self.pending and not self._decode_next_packet():
                return False
            frame = self.pending[0]
            if frame.pts > target:
                return False
            self.pending.popleft()
            self.last_pts = frame.pts
            yield frame.pts, frame
            if frame.pts == target:
                return True

    def _decode_next_packet(self) -> bool:
        """Decode one more packet into ``pending``; False at the end of the stream."""
        assert self.packets is not None
        codec = self.stream.codec_context
        for packet in self.packets:
            if self.skip_nonref:
                keep = packet.size == 0 or packet.pts in self.wanted
                codec.skip_frame = "DEFAULT" if keep else "NONREF"
            self.pending.extend(frame for frame in packet.decode() if frame.pts is not None)
            if self.pending:
                return True
        return False
