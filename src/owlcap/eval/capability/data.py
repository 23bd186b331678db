"""Loading CAPability's annotation files (``annotations/<dimension>.jsonl``) as the official scorer reads them.

Each line is ``{"file_id", "file_path", "annotation", "task", "data_type"}``. The annotation is a string (an event,
an action, an object, a scene, a spatial relation, an OCR text, a name, or the category of a camera angle, a camera
movement or a style) or an object: ``{object: number}`` (object_number: one pair; dynamic_object_number: one or
more) and ``{object: color}`` (object_color). The official scorer keys the files by ``file_id`` with a dict
comprehension, so a repeated id keeps its first position and its last annotation; both are reported. A malformed
line raises ``DataError`` naming the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from owlcap.errors import DataError
from owlcap.jsonl import iter_jsonl

OFFICIAL_FILES = {
    "repository": "https://github.com/ali-vilab/CAPability",
    "commit": "cebb82afd070bb719f8890ff6a0042f5056fa9fb",
    "path": "annotations/<dimension>.jsonl",
    "files": {
        "object_category": 1000,
        "object_number": 970,
        "object_color": 994,
        "spatial_relation": 1000,
        "scene": 958,
        "camera_angle": 891,
        "OCR": 760,
        "style": 1000,
        "character_identification": 878,
        "dynamic_object_number": 202,
        "action": 988,
        "camera_movement": 994,
        "event": 996,
    },
    "media": "HF dataset lntzm/CAPability (gated: the README asks for an e-mail; lmms-eval reads it with a token), "
    "file_path 'data/<dimension>/...' relative to it",
}
"""Where the official annotation files are (the repository, not the hub: the hub copy is gated and its layout could
not be read from here, so ``owlcap eval fetch`` has no CAPability spec yet) and how many records each has, as this
loader reads them (11,631 in all; 565 objects counted in dynamic_object_number's 202)."""

PAIR_TASKS = {"object_number": int, "dynamic_object_number": int, "object_color": str}
"""Dimensions whose annotation is an object of ``{object: value}`` pairs, and the type of the values."""


@dataclass(frozen=True)
class CapRecord:
    """One annotated file of one dimension; ``file_id`` keys its caption (shared by event and action)."""

    task: str
    file_id: str
    file_path: str
    annotation: Any
    data_type: str
    line: int

    @property
    def video_id(self) -> str:
        """The media file's stem (``data/dynamic_object_number/scannet/x.mp4`` -> ``x``), which names the video
        under ``captioning.videos``."""
        return PurePosixPath(self.file_path).stem


@dataclass
class CapData:
    root: str
    tasks: dict[str, list[CapRecord]]
    duplicates: dict[str, list[str]] = field(default_factory=dict)

    def selected(self, limit: int | None = None) -> list[CapRecord]:
        """Every record of every loaded dimension, or the first ``limit`` of each, dimension by dimension."""
        return [record for records in self.tasks.values() for record in (records[:limit] if limit else records)]

    def notes(self) -> dict[str, Any]:
        return {
            "folder": self.root,
            "files": {task: len(records) for task, records in self.tasks.items()},
            "duplicate_file_ids": self.duplicates,
        }


def _annotation(path: Path, line: int, task: str, value: Any) -> Any:
    kind = PAIR_TASKS.get(task)
    if kind is None:
        if not isinstance(value, str):
            raise DataError(path, f"annotation must be a string for {task}, got {type(value).__name__}", line)
        return value
    if not isinstance(value, dict) or not value:
        raise DataError(path, f"annotation must be a non-empty {{object: value}} object for {task}", line)
    if task != "dynamic_object_number" and len(value) != 1:
        raise DataError(path, f"annotation of {task} must hold one {{object: value}} pair, got {len(value)}", line)
    for name, number in value.items():
        if kind is int and (isinstance(number, bool) or not isinstance(number, int)):
            raise DataError(path, f"annotation {name!r}: the number must be an integer, got {number!r}", line)
        if kind is str and not isinstance(number, str):
            raise DataError(path, f"annotation {name!r}: the color must be a string, got {number!r}", line)
    return dict(value)


def load_task(path: Path, task: str) -> tuple[list[CapRecord], list[str]]:
    """One dimension's records, in file order with the last annotation of a repeated id; and the repeated ids."""
    if not path.is_file():
        raise DataError(path, f"no annotation file for {task} (choose the dimensions present with --dimensions)")
    by_id: dict[str, CapRecord] = {}
    repeated: list[str] = []
    for line in iter_jsonl(path):
        if line.error is not None:
            raise line.error
        record = line.record
        file_id, file_path = record.get("file_id"), record.get("file_path")
        if not isinstance(file_id, str) or not file_id or not isinstance(file_path, str):
            raise DataError(path, "needs string 'file_id' and 'file_path' fields", line.line)
        data_type = record.get("data_type")
        if data_type not in ("image", "video"):
            raise DataError(path, f"data_type must be image or video, got {data_type!r}", line.line)
        annotation = _annotation(path, line.line, task, record.get("annotation"))
        if file_id in by_id:
            repeated.append(file_id)
        by_id[file_id] = CapRecord(task, file_id, file_path, annotation, data_type, line.line)
    if not by_id:
        raise DataError(path, f"no records for {task}")
    return list(by_id.values()), repeated


def load(root: str | Path, tasks: list[str]) -> CapData:
    """Read ``<root>/<task>.jsonl`` for each of ``tasks``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "no such folder of CAPability annotation files (<dimension>.jsonl)")
    data = CapData(str(root), {})
    for task in tasks:
        records, repeated = load_task(root / f"{task}.jsonl", task)
        data.tasks[task] = records
        if repeated:
            data.duplicates[task] = repeated
    return data
