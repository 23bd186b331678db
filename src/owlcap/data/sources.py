"""Where videos come from: files, folders, or JSONL manifests (``id``, ``video``), resolved to ``VideoItem``s.

Shared by captioning, the HMD pipeline and evaluation. Bad manifest lines do not stop the batch: they come back as
``DataError``s for the caller to report at the end. What a user names on the command line is checked first
(``check_inputs``): a path that is not there is a user error before anything is loaded or written. Folders are
searched recursively, following symlinked subfolders (each real folder once, so a link loop ends).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from owlcap.data.records import TRIM_FIELDS, clip_trims
from owlcap.errors import ConfigError, DataError
from owlcap.jsonl import iter_jsonl

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".ts", ".gif"})
MANIFEST_SUFFIXES = frozenset({".jsonl", ".json"})


@dataclass(frozen=True)
class VideoItem:
    """One video to process: a stable id (output key, resume key), its path and optional clip trims in seconds
    (``start``/``end``, or the released lines' ``start_time``/``end_time``). ``extra`` keeps other manifest fields."""

    id: str
    video: str
    extra: tuple[tuple[str, object], ...] = ()
    start: float | None = None
    end: float | None = None

    def field(self, name: str, default: object = None) -> object:
        """A manifest field kept in ``extra`` (e.g. ``caption``, ``motion_caption``)."""
        return dict(self.extra).get(name, default)


def check_inputs(inputs: list[str | Path]) -> None:
    """``ConfigError`` naming the first input that is neither a folder, a manifest nor a video file that exists,
    or that is a FIFO, socket or device (reading one would hang or never end)."""
    for raw in inputs:
        path = Path(raw)
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            what = "folder, manifest or video file" if path.suffix.lower() not in MANIFEST_SUFFIXES else "manifest"
            raise ConfigError(f"input {path}: no such {what} ({exc.strerror})") from exc
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            raise ConfigError(f"input {path}: {non_regular(mode)}, not a video file, folder or manifest")


def non_regular(mode: int) -> str:
    """What a path that is not a regular file is, in words ("a FIFO (named pipe)")."""
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def no_videos(inputs: list[str | Path], errors: list[DataError]) -> DataError:
    """The user error of inputs that hold no video at all: an empty folder or manifest, or only bad lines."""
    named = ", ".join(map(str, inputs[:3])) + (" ..." if len(inputs) > 3 else "")
    if errors:
        return DataError(named, f"no usable video in the inputs; {len(errors)} bad input(s), first: {errors[0]}")
    kinds = ", ".join(sorted(suffix.lstrip(".") for suffix in VIDEO_SUFFIXES))
    return DataError(named, f"no videos in the inputs (an empty folder or manifest?); folders are searched for {kinds}")


def collect_videos(inputs: list[str | Path]) -> tuple[list[VideoItem], list[DataError]]:
    """Resolve inputs to video items in a stable order. Duplicate ids are errors (they would collide on resume)."""
    items: list[VideoItem] = []
    errors: list[DataError] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            items.extend(_folder_items(path))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            if not path.is_file():
                errors.append(DataError(path, "no such manifest file"))
                continue
            found, bad = _manifest_items(path)
            items.extend(found)
            errors.extend(bad)
        else:
            # A missing or undecodable file still becomes an item: decoding reports the cause per video.
            items.append(VideoItem(id=path.stem, video=str(path)))
    return _drop_duplicate_ids(items, errors)


def _folder_items(folder: Path) -> list[VideoItem]:
    """Every video under ``folder`` (a FIFO named like one too: decoding rejects it, with its path), by path."""
    videos = sorted(p for p in _walk(folder) if p.suffix.lower() in VIDEO_SUFFIXES)
    return [VideoItem(id=str(p.relative_to(folder).with_suffix("")), video=str(p)) for p in videos]


def _walk(folder: Path) -> Iterator[Path]:
    """The non-folder entries under ``folder``, following symlinked subfolders; each real folder is entered once,
    so a link pointing back up ends instead of looping."""
    seen: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(root)
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        yield from (Path(root) / name for name in files)


def _manifest_items(path: Path) -> tuple[list[VideoItem], list[DataError]]:
    items, errors = [], []
    for line in iter_jsonl(path):
        if line.error is not None:
            errors.append(line.error)
            continue
        record = line.record
        video = record.get("video")
        if not isinstance(video, str) or not video:
            errors.append(DataError(path, "missing string field 'video'", line.line))
            continue
        try:
            start, end = clip_trims(record)
        except ValueError as exc:
            errors.append(DataError(path, str(exc), line.line))
            continue
        video_path = Path(video) if Path(video).is_absolute() else path.parent / video
        item_id = record.get("id", _default_id(video, start, end))
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or str(item_id).strip() == "":
            cause = f"'id' must be a non-empty string or a number, got {json.dumps(item_id)}; fix it or leave it out"
            errors.append(DataError(path, cause + " (the video's name is the id then)", line.line))
            continue
        trims = {name for pair in TRIM_FIELDS for name in pair}
        extra = tuple((k, v) for k, v in record.items() if k not in ("id", "video", *trims))
        items.append(VideoItem(id=str(item_id), video=str(video_path), extra=extra, start=start, end=end))
    return items, errors


def _default_id(video: str, start: float | None, end: float | None) -> str:
    """A line without ``id`` is named by its video, plus its trims (the released lines cut many clips from one
    video and carry no id): ``a`` or ``a@1-5``."""
    stem = Path(video).stem
    if start is None and end is None:
        return stem
    return f"{stem}@{'' if start is None else f'{start:g}'}-{'' if end is None else f'{end:g}'}"


def _drop_duplicate_ids(items: list[VideoItem], errors: list[DataError]) -> tuple[list[VideoItem], list[DataError]]:
    seen: dict[str, str] = {}
    unique = []
    for item in items:
        if item.id in seen:
            errors.append(DataError(item.video, f"duplicate id {item.id!r} (already used by {seen[item.id]})"))
            continue
        seen[item.id] = item.video
        unique.append(item)
    return unique, errors
