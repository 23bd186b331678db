"""The build directory's one writer: ``records.jsonl`` (every record, each id once), thumbnails, the run lock.

Exactly-once, kill -9 included, rests on three rules:

1. One process writes ``records.jsonl`` (the engines hand it finished records; Ray actors never write), under an
   exclusive ``flock`` on ``DIR/.lock``, so two builds cannot interleave. The lock dies with its process.
2. A record is one line, appended and fsynced before the next (``owlcap.jsonl.JsonlWriter``). A kill costs the
   records in flight, at worst a torn last line.
3. Opening the store compacts the file when needed: torn lines, records to redo (failed ones, unless
   ``retry_failed`` is off; ones whose fingerprints no longer match the settings and inputs) and any repeated id
   are dropped, by writing the survivors to a temporary file, fsyncing it and renaming it over the old one (atomic
   on POSIX). The items whose records were dropped are then built again and appended.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from owlcap.data.pipeline import ItemResult, WorkItem
from owlcap.errors import OutputError, os_cause
from owlcap.jsonl import JsonlWriter, write_jsonl_atomic
from owlcap.locks import claim_folder, unlock

logger = logging.getLogger(__name__)

RECORDS = "records.jsonl"
HMD = "hmd.jsonl"
STATS = "stats.json"
REPORT = "report"
FRAMES = "frames"


def strip_path(out_dir: str | Path, record_id: str) -> Path:
    """Where the thumbnail strip of a record lives (ids may hold '/' or spaces, so the file is named by a digest)."""
    name = hashlib.sha1(record_id.encode("utf-8")).hexdigest()[:20]
    return Path(out_dir) / FRAMES / f"{name}.jpg"


def read_records(path: str | Path) -> tuple[dict[str, dict[str, Any]], int]:
    """The last record of each id in a records file, in file order, and how many lines were unreadable (torn)."""
    path = Path(path)
    records: dict[str, dict[str, Any]] = {}
    bad = 0
    if not path.exists():
        return records, bad
    with path.open("r", encoding="utf-8") as handle:
        for text in handle:
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                bad += 1
                continue
            records.pop(record["id"], None)  # a later line of the same id wins and moves to the end
            records[record["id"]] = record
    return records, bad


@dataclass
class Plan:
    """What a (re-)run will do."""

    todo: list[WorkItem] = field(default_factory=list)
    skipped: int = 0
    """Inputs whose record is finished under the current settings."""
    retried: int = 0
    """Failed records being retried."""
    rebuilt: int = 0
    """Records redone because settings or inputs changed (``reused_mdf`` of them keep their MDF captions)."""
    reused_mdf: int = 0


class RecordStore:
    """Opens (locks) a build directory; ``plan`` decides what to (re)build; ``write`` appends one result."""

    def __init__(self, out_dir: str | Path):
        self.out_dir = Path(out_dir)
        self._lock = claim_folder(
            self.out_dir,
            name="--out",
            busy=f"{self.out_dir} is being written by another build",
            advice="wait for it or choose another --out",
        )
        self.path = self.out_dir / RECORDS
        self._writer: JsonlWriter | None = None

    def plan(self, items: list[WorkItem], *, retry_failed: bool = True) -> Plan:
        """Compare the inputs with the records already written; compact the file; return what to build."""
        existing, torn = read_records(self.path)
        plan = Plan()
        dropped: set[str] = set()
        for item in items:
            record = existing.get(item.id)
            if record is None:
                plan.todo.append(item)
                continue
            failed = record.get("status") == "failed" or bool(record.get("error"))
            same = (record.get("mdf_fingerprint"), record.get("fge_fingerprint")) == (
                item.mdf_fingerprint,
                item.fge_fingerprint,
            )
            if (same and not failed) or (failed and not retry_failed):
                plan.skipped += 1
                continue
            dropped.add(item.id)
            if failed:
                plan.retried += 1
            else:
                plan.rebuilt += 1
            reusable = record.get("mdf_fingerprint") == item.mdf_fingerprint and record.get("fused_caption")
            if reusable and item.caption is None:
                plan.reused_mdf += 1
                previous = {k: record.get(k) for k in ("motion_caption", "fused_caption")}
                previous["stages"] = {
                    k: v for k, v in (record.get("stages") or {}).items() if k in ("motion", "fusion")
                }
                item = replace(item, previous=previous)
            plan.todo.append(item)
        lines_on_disk = _count_lines(self.path)
        if dropped or torn or lines_on_disk != len(existing):
            survivors = [record for record_id, record in existing.items() if record_id not in dropped]
            write_jsonl_atomic(self.path, survivors)
            logger.info(
                "%s: kept %d record(s); dropped %d to redo and %d unreadable line(s)",
                self.path,
                len(survivors),
                len(dropped),
                torn,
            )
        if plan.rebuilt:
            logger.warning(
                "%d record(s) were built with other settings or inputs and will be rebuilt (%d keep their MDF "
                "captions; cached model answers are reused)",
                plan.rebuilt,
                plan.reused_mdf,
            )
        return plan

    def write(self, result: ItemResult) -> None:
        """Append one record durably; its thumbnail strip goes to disk first, so a record never lacks its strip."""
        if result.strip:
            target = strip_path(self.out_dir, result.record["id"])
            temporary = target.with_suffix(".tmp")
            try:
                target.parent.mkdir(exist_ok=True)
                temporary.write_bytes(result.strip)
                os.replace(temporary, target)
            except OSError as exc:
                temporary.unlink(missing_ok=True)
                raise OutputError(target, os_cause(exc)) from exc
        if self._writer is None:
            self._writer = JsonlWriter(self.path)
        self._writer.write(result.record)

    def close(self) -> None:
        """Close the records file and release the folder (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        unlock(self._lock)

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
