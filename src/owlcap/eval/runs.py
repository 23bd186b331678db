"""The run folder of one evaluation: ``run.json`` (what made it), ``items.jsonl`` (one record per judged item).

``items.jsonl`` is appended durably, one record per item as soon as it is judged, so Ctrl-C or a crash costs only
the items in flight. Reading keeps the last record of each key (a re-run appends the items it judged again), and
a finished run rewrites the file with one record per item of its selection, in benchmark order.

A run folder belongs to one judge (model and sampling), one prompt set and one judge protocol: a re-run with
another refuses, saying what differs, unless ``overwrite`` (the old items are kept in a backup file). Captions may
change between runs: items whose inputs changed are judged again, the others are reused as they are. One
evaluation at a time writes a folder (``claim``: the folder lock); a second is refused, naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError, DataError
from owlcap.jsonl import iter_jsonl, write_jsonl_atomic, write_text_atomic
from owlcap.locks import claim_folder, holding

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
ITEMS_FILE = "items.jsonl"


@contextlib.contextmanager
def claim(out: Path) -> Iterator[None]:
    """Create the run folder ``out`` and hold it while the block runs (captioning, judging, the report): a second
    evaluation into it is refused (``ConfigError`` naming the holder's pid) instead of mixing its items in."""
    out = Path(out)
    busy = f"out: {out} is being written by another evaluation"
    lock = claim_folder(out, name="out:", busy=busy, advice="wait for it, or choose another --out")
    with holding(lock):
        yield


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def items_path(self) -> Path:
        return self.path / ITEMS_FILE

    @property
    def run_path(self) -> Path:
        return self.path / RUN_FILE

    def header(self) -> dict[str, Any] | None:
        if not self.run_path.is_file():
            return None
        try:
            return json.loads(self.run_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(self.run_path, f"unreadable run header ({exc})") from exc

    def open(self, header: dict[str, Any], *, overwrite: bool) -> dict[str, dict[str, Any]]:
        """Claim the folder for a run with ``header`` (its ``identity`` must match the folder's); return the
        latest record of every key already there."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"out: {self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        previous = self.header()
        if previous is not None and not overwrite:
            differences = _differences(previous.get("identity", {}), header["identity"])
            if differences:
                raise ConfigError(
                    f"out: {self.path} holds a run made with other settings ({'; '.join(differences)}); "
                    "use another --out, or --overwrite to start this folder afresh"
                )
        if overwrite and self.items_path.exists():
            backup = self.path / f"items.{time.strftime('%Y%m%d-%H%M%S')}.jsonl.bak"
            os.replace(self.items_path, backup)
            logger.warning("overwrite: the previous items are kept in %s", backup)
        self.write_header({**(previous or {}), **header} if not overwrite else header)
        return self.latest()

    def write_header(self, header: dict[str, Any]) -> None:
        write_json(self.run_path, header)

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last record of each key in ``items.jsonl`` (torn or bad lines are skipped with a warning)."""
        return _latest(self.items_path) if self.items_path.exists() else {}

    def compact(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        """Rewrite ``items.jsonl`` with the latest record of each of ``keys`` (in that order); return them."""
        latest = self.latest()
        records = [latest[key] for key in keys if key in latest]
        write_jsonl_atomic(self.items_path, records)
        return records


def _differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            found += _differences(before, after, f"{prefix}{key}.")
        elif before != after:
            found.append(f"{prefix}{key}: {before!r} then, {after!r} now")
    return found


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (see ``owlcap.jsonl.replace_atomically``), so a crash never leaves half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def read_items(path: str | Path) -> list[dict[str, Any]]:
    """The latest record per key of a run folder's ``items.jsonl`` (or of that file itself), in file order."""
    path = Path(path)
    file = path / ITEMS_FILE if path.is_dir() else path
    if not file.is_file():
        raise DataError(file, "no items.jsonl here (is this an owlcap eval run folder?)")
    return list(_latest(file).values())


def _latest(file: Path) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    bad = 0
    for line in iter_jsonl(file):
        if line.record is None or "key" not in line.record:
            bad += 1
            continue
        records[line.record["key"]] = line.record
    if bad:
        logger.warning("%s: %d unreadable line(s) skipped (a crash mid-write?)", file, bad)
    return records
