"""Loading DREAM-1K annotations (``DREAM-1k.jsonl``, Tarsier's layout) the way Tarsier's ``read_dataset`` does.

Rows whose ``dataset`` does not start with ``DREAM`` are skipped; a repeated ``dataset_idx`` keeps its first row;
the reference caption is the ``''.join`` of the assistant contents' truthy ``reference``; the GT events, counts of
events, shots and subjects come from ``extra_info`` as they are. A malformed row (not JSON, no reference, no
``extra_info``, events that are not strings) raises ``DataError`` naming the file and line: the official scorer
would crash on most of these, mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from owlcap.errors import DataError
from owlcap.jsonl import iter_jsonl


@dataclass(frozen=True)
class DreamItem:
    """One benchmark item; ``id`` (the ``idx`` as text) keys its caption and its records."""

    idx: int
    dataset: str
    reference: str
    events: tuple[str, ...]
    n_events: float
    n_shots: float
    n_subjects: float
    duration: float | None
    prompt: str
    line: int

    @property
    def id(self) -> str:
        return str(self.idx)


@dataclass
class DreamData:
    path: str
    items: list[DreamItem]
    skipped_other_datasets: int = 0
    duplicates: list[dict] = field(default_factory=list)

    def selected(self, limit: int | None = None) -> list[DreamItem]:
        """The items to evaluate: all, or the first ``limit``."""
        return self.items[:limit] if limit else self.items

    def notes(self) -> dict[str, Any]:
        datasets: dict[str, int] = {}
        for item in self.items:
            datasets[item.dataset] = datasets.get(item.dataset, 0) + 1
        return {
            "file": self.path,
            "items": len(self.items),
            "datasets": datasets,
            "empty_gt_events": [item.id for item in self.items if not item.events],
            "skipped_other_datasets": self.skipped_other_datasets,
            "duplicates": self.duplicates,
        }


def reference_of(record: dict[str, Any]) -> str:
    """``''.join`` of the ``reference`` of every assistant content that has a truthy one (Tarsier's rule)."""
    parts = []
    for message in record.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for content in message.get("content") or []:
                if isinstance(content, dict) and content.get("reference"):
                    parts.append(str(content["reference"]))
    return "".join(parts)


def prediction_of(record: dict[str, Any]) -> str:
    """A Tarsier prediction file's caption: ``''.join`` of ``text`` of the assistant contents with a reference."""
    parts = []
    for message in record.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for content in message.get("content") or []:
                if isinstance(content, dict) and content.get("reference"):
                    parts.append(str(content.get("text") or ""))
    return "".join(parts)


def _prompt_of(record: dict[str, Any]) -> str:
    for message in record.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            for content in message.get("content") or []:
                if isinstance(content, dict) and content.get("type") == "text" and content.get("text"):
                    return str(content["text"])
    return ""


def _number(path: Path, line: int, extra: dict[str, Any], key: str) -> float:
    value = extra.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(path, f"extra_info.{key} must be a number, got {value!r}", line)
    return value


def _item(path: Path, line: int, record: dict[str, Any]) -> DreamItem:
    dataset, idx = record.get("dataset"), record.get("idx")
    if not isinstance(dataset, str) or isinstance(idx, bool) or not isinstance(idx, int):
        raise DataError(path, "needs a string 'dataset' and an integer 'idx'", line)
    extra = record.get("extra_info")
    if not isinstance(extra, dict):
        raise DataError(path, f"{dataset} idx {idx}: no extra_info object (events and counts live there)", line)
    events = extra.get("events")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise DataError(path, f"{dataset} idx {idx}: extra_info.events must be a list of strings", line)
    reference = reference_of(record)
    if not reference:
        raise DataError(path, f"{dataset} idx {idx}: no reference caption in the assistant message", line)
    duration = extra.get("duration")
    return DreamItem(
        idx=idx,
        dataset=dataset,
        reference=reference,
        events=tuple(events),
        n_events=_number(path, line, extra, "n_events"),
        n_shots=_number(path, line, extra, "n_shots"),
        n_subjects=_number(path, line, extra, "n_subjects"),
        duration=float(duration) if isinstance(duration, int | float) else None,
        prompt=_prompt_of(record),
        line=line,
    )


def load(
    path: str | Path, *, dataset_prefix: str = "DREAM", duplicate_ids: Literal["first", "last", "error"] = "first"
) -> DreamData:
    """Read the annotation file (see the module docstring for the rules)."""
    path = Path(path)
    kept: dict[str, DreamItem] = {}
    data = DreamData(str(path), [])
    for line in iter_jsonl(path):
        if line.error is not None:
            raise line.error
        dataset = line.record.get("dataset")
        if not isinstance(dataset, str) or dataset.split("/")[0] != dataset_prefix:
            data.skipped_other_datasets += 1
            continue
        item = _item(path, line.line, line.record)
        key = f"{item.dataset}_{item.idx}"
        if key in kept:
            data.duplicates.append({"key": key, "lines": [kept[key].line, line.line]})
            if duplicate_ids == "error":
                raise DataError(path, f"{key} repeats line {kept[key].line}", line.line)
            if duplicate_ids == "first":
                continue
        kept[key] = item
    ids: dict[str, str] = {}
    for key, item in kept.items():
        if item.id in ids:
            raise DataError(path, f"idx {item.idx} is used by {ids[item.id]} and {key}; captions are keyed by idx")
        ids[item.id] = key
    data.items = list(kept.values())
    if not data.items:
        raise DataError(path, f"no rows whose dataset starts with {dataset_prefix!r}")
    return data
