"""Loading CaReBench's annotations (``json/metadata.json``) the way the official captioning task reads them.

The file is one JSON list; the official ``VideoTextDataset`` numbers the records by position (``idx``, from 0), and
the evaluation takes each record's ``caption`` as the reference and its ``events``/``objects`` when they are lists
(else the judge extracts them from the reference). owlcap keys a record by its video's file stem (``v_xxx`` for
``v_xxx.mp4``), which names its caption; ``spatial_caption``, ``temporal_caption``, ``category`` and
``subcategory`` are kept for the report's breakdown. A malformed record raises ``DataError`` naming the file and
the record: the official code would crash on most of these mid-run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from owlcap.errors import DataError


@dataclass(frozen=True)
class CareItem:
    """One benchmark video: ``id`` (its file stem) keys its caption and its records; ``idx`` is its position."""

    idx: int
    id: str
    video: str
    caption: str
    spatial_caption: str | None
    temporal_caption: str | None
    category: str | None
    subcategory: str | None
    events: tuple[str, ...] | None
    objects: tuple[str, ...] | None

    @property
    def reference(self) -> str:
        """The reference caption (the record's ``caption``)."""
        return self.caption

    def units(self, aspect: str) -> tuple[str, ...] | None:
        """The annotation's events or objects, or ``None`` when the record has no such list."""
        return self.events if aspect == "events" else self.objects


@dataclass
class CareData:
    path: str
    items: list[CareItem]
    categories: dict[str, int] = field(default_factory=dict)

    def selected(self, limit: int | None = None) -> list[CareItem]:
        """The items to evaluate: all, or the first ``limit``."""
        return self.items[:limit] if limit else self.items

    def notes(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "items": len(self.items),
            "categories": self.categories,
            "annotated_events": sum(item.events is not None for item in self.items),
            "annotated_objects": sum(item.objects is not None for item in self.items),
        }


def _text(path: Path, index: int, record: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise DataError(path, f"record {index}: {key!r} must be a{' non-empty' if required else ''} string")
    return value


def _units(path: Path, index: int, record: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = record.get(key)
    if not isinstance(value, list):
        return None  # officially: not a list -> extracted from the reference caption
    if not all(isinstance(unit, str) for unit in value):
        raise DataError(path, f"record {index}: {key!r} must be a list of strings")
    return tuple(value)


def _item(path: Path, index: int, record: Any) -> CareItem:
    if not isinstance(record, dict):
        raise DataError(path, f"record {index} is not an object")
    video = _text(path, index, record, "video", required=True)
    return CareItem(
        idx=index,
        id=PurePosixPath(video.replace("\\", "/")).stem,
        video=video,
        caption=_text(path, index, record, "caption", required=True),
        spatial_caption=_text(path, index, record, "spatial_caption"),
        temporal_caption=_text(path, index, record, "temporal_caption"),
        category=_text(path, index, record, "category"),
        subcategory=_text(path, index, record, "subcategory"),
        events=_units(path, index, record, "events"),
        objects=_units(path, index, record, "objects"),
    )


def load(path: str | Path) -> CareData:
    """Read the annotation file (see the module docstring for the rules)."""
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "no such annotation file (CaReBench's json/metadata.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable JSON file ({exc})") from exc
    if not isinstance(records, list) or not records:
        raise DataError(path, "expected a non-empty JSON list of records (CaReBench's json/metadata.json)")
    items = [_item(path, index, record) for index, record in enumerate(records)]
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            raise DataError(path, f"records {seen[item.id]} and {item.idx} name the same video {item.id!r}")
        seen[item.id] = item.idx
    data = CareData(str(path), items)
    for item in items:
        name = item.category or "(none)"
        data.categories[name] = data.categories.get(name, 0) + 1
    return data


def official_descriptions(path: Path) -> dict[int, str] | None:
    """The official captioning task's ``description.json`` (``{idx: {"pred", "gt", ...}}``) as ``{idx: pred}``,
    or ``None`` when ``path`` is not such a file."""
    if path.suffix != ".json" or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not data:
        return None
    if not all(key.lstrip("-").isdigit() and isinstance(value, dict) for key, value in data.items()):
        return None
    return {int(key): value.get("pred") for key, value in data.items() if isinstance(value.get("pred"), str)}
