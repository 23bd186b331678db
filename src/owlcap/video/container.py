"""Opening a video with PyAV and turning every failure into one ``VideoDecodeError`` that names the file and cause.

Everything else in ``owlcap.video`` opens files through :func:`open_video`, so a missing file, a text file, a cut
mp4 or an audio-only file all fail the same way, whichever function met them first.
"""

from __future__ import annotations

import contextlib
import logging
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from owlcap.errors import VideoDecodeError

if TYPE_CHECKING:
    import av.container
    import av.video.stream

logger = logging.getLogger(__name__)

# One decoder threading setting for the seek path and the decode-all reference alike, so their timings compare
# like with like. "AUTO" lets FFmpeg pick frame and/or slice threads; "SLICE" restarts faster after each seek (no
# frame-thread pipeline to refill) and measured equal or faster in both paths on H.264 (benchmarks/frame_sampling.py).
THREAD_TYPE = "SLICE"

# FFmpeg's own limit on opening and on each read; a regular file answers in microseconds, so this only ends reads
# that would otherwise wait forever (a file on a hung network mount).
OPEN_TIMEOUT_S = 60.0


def _non_regular(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def _describe(exc: BaseException) -> str:
    """A short cause for an FFmpeg/OS error, without PyAV's repetition of the file name."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror) if strerror else (str(exc) or type(exc).__name__)


@contextlib.contextmanager
def decode_errors(path: str | Path, what: str) -> Iterator[None]:
    """Re-raise FFmpeg and OS errors met while ``what`` (e.g. "decoding") as ``VideoDecodeError``.

    The boundary is narrow on purpose: only PyAV's error types and ``OSError`` are translated; a bug in owlcap
    (``TypeError``, ``IndexError``) still surfaces as itself.
    """
    import av

    try:
        yield
    except VideoDecodeError:
        raise
    except av.FFmpegError as exc:
        raise VideoDecodeError(path, f"{what} failed, corrupt or truncated stream ({_describe(exc)})") from exc
    except (OSError, EOFError) as exc:
        raise VideoDecodeError(path, f"{what} failed ({_describe(exc)})") from exc


@contextlib.contextmanager
def open_video(path: str | Path) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open ``path`` and yield ``(container, first video stream)``; the container is closed on exit.

    Raises ``VideoDecodeError`` for a missing file, a directory, a file FFmpeg cannot read as media, and media
    without a video stream (audio-only).
    """
    import av

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise VideoDecodeError(path, "no such file") from None
    except OSError as exc:
        raise VideoDecodeError(path, f"cannot open ({_describe(exc)})") from exc
    if stat.S_ISDIR(mode):
        raise VideoDecodeError(path, "is a directory, not a video file")
    if not stat.S_ISREG(mode):
        # FFmpeg would wait on a FIFO's writer (or a device's data) forever: a video is a regular file.
        raise VideoDecodeError(path, f"is {_non_regular(mode)}, not a regular video file")
    try:
        container = av.open(str(path), mode="r", timeout=OPEN_TIMEOUT_S)
    except av.FFmpegError as exc:
        raise VideoDecodeError(path, f"not a readable video ({_describe(exc)})") from exc
    except OSError as exc:
        raise VideoDecodeError(path, f"cannot open ({_describe(exc)})") from exc
    try:
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams}) or ["no streams"]
            raise VideoDecodeError(path, f"no video stream (found: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise VideoDecodeError(path, f"no decoder for the video codec {stream.codec.name!r}")
        stream.thread_type = THREAD_TYPE
        yield container, stream
    finally:
        container.close()
