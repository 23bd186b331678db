"""Where videos come from: files, folders, or JSONL manifests (``id``, ``video``), resolved to ``VideoItem``s.

Shared by captioning, the HMD pipeline and evaluation. Bad manifest lines do not stop the batch: they come back as
``DataError``s for the caller to report at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from owlcap.data.records import TRIM_FIELDS, clip_trims
from owlcap.errors import DataError
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
    videos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    return [VideoItem(id=str(p.relative_to(folder).with_suffix("")), video=str(p)) for p in videos]


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
