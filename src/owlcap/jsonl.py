"""JSONL I/O shared by every long job: tolerant reading, durable appends, resume by id, atomic rewrites.

A job appends one line per finished record and flushes it to disk (fsync) before moving on, so a crash, even
``kill -9``, loses at most the records in flight. A re-run reads the ids already written and skips them. A file
that is rewritten whole (a compacted record file, a report, a marker) goes through ``replace_atomically``, so a
reader or a crash sees the old file or the whole new one, never half of either.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from owlcap.errors import DataError


@dataclass(frozen=True)
class JsonlLine:
    """One line of a JSONL file: the parsed object, or the error that names the file, line and cause."""

    path: str
    line: int
    record: dict[str, Any] | None
    error: DataError | None


def iter_jsonl(path: str | Path) -> Iterator[JsonlLine]:
    """Yield every non-blank line of ``path``; a malformed line comes back with ``error`` set, not raised."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    with path.open("r", encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield JsonlLine(str(path), number, None, DataError(path, f"invalid JSON ({exc.msg})", number))
                continue
            if not isinstance(record, dict):
                error = DataError(path, f"expected a JSON object, got {type(record).__name__}", number)
                yield JsonlLine(str(path), number, None, error)
                continue
            yield JsonlLine(str(path), number, record, None)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a whole JSONL file strictly: the first malformed line raises ``DataError``."""
    records = []
    for line in iter_jsonl(path):
        if line.error is not None:
            raise line.error
        records.append(line.record)
    return records


def done_ids(path: str | Path, key: str = "id", *, include_errors: bool = False) -> set[str]:
    """Ids already written to an output file, for resuming. Lines with ``error`` are retried unless asked.

    A torn last line (the crash happened mid-write) is ignored, so its record is redone.
    """
    path = Path(path)
    if not path.exists():
        return set()
    ids = set()
    for line in iter_jsonl(path):
        if line.record is None or key not in line.record:
            continue
        if line.record.get("error") and not include_errors:
            continue
        ids.add(str(line.record[key]))
    return ids


class JsonlWriter:
    """Append-only JSONL writer that makes each record durable before returning.

    Opening repairs a torn last line (from a crash mid-write) by starting on a fresh line.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        self._handle = self.path.open("a", encoding="utf-8")
        if needs_newline:
            self._handle.write("\n")

    def write(self, record: dict[str, Any]) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        if self._fsync:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def compact_jsonl(path: str | Path, key: str = "id") -> int:
    """Rewrite ``path`` with one line per ``key``: the last line without ``error`` if any, else the last line.

    Used when a job has finished retrying failed records, so a record that failed on one run and succeeded (or
    failed again) on the next is one line, not one per run. Lines without the key, and lines that are not JSON, are
    kept as they are. Atomic: the new file is written beside the old one, fsync'ed and renamed over it, so a crash
    leaves either file whole. Returns the number of lines dropped.
    """
    path = Path(path)
    keep: dict[str, tuple[int, bool]] = {}  # id -> (line number of the kept line, that line is an error)
    for line in iter_jsonl(path):
        if line.record is None or key not in line.record:
            continue
        item, failed = str(line.record[key]), bool(line.record.get("error"))
        if item not in keep or failed <= keep[item][1]:
            keep[item] = (line.line, failed)
    kept_lines = {number for number, _ in keep.values()}
    dropped = 0
    with path.open("r", encoding="utf-8") as source, replace_atomically(path) as target:
        for number, text in enumerate(source, start=1):
            if not text.strip():
                continue
            if _record_key(text, key) is not None and number not in kept_lines:
                dropped += 1
                continue
            target.write(text if text.endswith("\n") else text + "\n")
    return dropped


@contextlib.contextmanager
def replace_atomically(path: str | Path) -> Iterator[TextIO]:
    """Write the new content of ``path`` to the handle this yields; on success it replaces ``path`` at once (a
    temporary file beside it, fsynced, renamed over it, the folder fsynced), on an error ``path`` stays as it was."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (see ``replace_atomically``)."""
    with replace_atomically(path) as handle:
        handle.write(text)


def write_jsonl_atomic(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace ``path`` by ``records``, one JSON object per line, atomically (see ``replace_atomically``)."""
    with replace_atomically(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (a no-op where the OS does not allow it)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _record_key(text: str, key: str) -> str | None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None
    return str(record[key]) if isinstance(record, dict) and key in record else None
