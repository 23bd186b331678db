"""JSONL I/O shared by every long job: tolerant reading, durable appends, resume by id, atomic rewrites.

A job appends one line per finished record and flushes it to disk (fsync) before moving on, so a crash, even
``kill -9``, loses at most the records in flight. A re-run reads the ids already written and skips them. A file
that is rewritten whole (a compacted record file, a report, a marker) goes through ``replace_atomically``, so a
reader or a crash sees the old file or the whole new one, never half of either.

Torn lines never outlive a resume: opening a ``JsonlWriter`` drops a torn last line (a crash mid-write) before
appending, and a record the disk refuses half-way (full disk, file size limit) is taken back before the error
(``OutputError``) is raised. So every file owlcap appends to stays loadable (``datasets.load_dataset("json")``,
pandas, jq), whatever ended the job that wrote it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from owlcap.errors import DataError, OutputError, os_cause

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JsonlLine:
    """One line of a JSONL file: the parsed object, or the error that names the file, line and cause."""

    path: str
    line: int
    record: dict[str, Any] | None
    error: DataError | None


def iter_jsonl(path: str | Path) -> Iterator[JsonlLine]:
    """Yield every non-blank line of ``path``; a malformed line comes back with ``error`` set, not raised.

    A UTF-8 byte order mark (Windows editors write one) is accepted; a line that is not UTF-8 is a malformed line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                cause = f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                yield JsonlLine(str(path), number, None, DataError(path, cause, number))
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
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

    Opening drops a torn last line (a crash mid-write) so the file stays loadable; ``torn_lines_dropped`` says
    whether it did (the warning log says so too). A record the disk refuses (full disk, ``ulimit -f``, a read-only
    folder) is taken back and ``OutputError`` raised: the file ends on the last whole record.
    """

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self._fsync = fsync
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as exc:
            raise OutputError(self.path, os_cause(exc)) from exc
        self.torn_lines_dropped = repair_torn_tail(self.path, self._fd)

    def write(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        size = os.fstat(self._fd).st_size
        try:
            _write_all(self._fd, data)
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)  # take back the part of the record that made it
            raise OutputError(self.path, os_cause(exc)) from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written == 0:  # pragma: no cover - a regular file never accepts nothing without an error
            raise OSError(0, "the file accepted no more bytes")
        view = view[written:]


def repair_torn_tail(path: str | Path, fd: int | None = None) -> int:
    """Drop an unfinished last line of ``path`` (a crash mid-write); return 1 if one was dropped, else 0.

    A last line that is whole JSON but lacks its newline (a file written by hand) is kept and given one.
    """
    path = Path(path)
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        start = _last_line_start(handle, size)
        handle.seek(start)
        tail = handle.read()
    try:
        complete = isinstance(json.loads(tail.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        complete = False
    own = fd if fd is not None else os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        if complete:
            _write_all(own, b"\n")
            return 0
        os.ftruncate(own, start)
    except OSError as exc:
        raise OutputError(path, os_cause(exc)) from exc
    finally:
        if fd is None:
            os.close(own)
    logger.warning(
        "%s: dropped a torn last line (%d bytes, a crash mid-write); its record is redone", path, size - start
    )
    return 1


def _last_line_start(handle: Any, size: int) -> int:
    """The offset just after the last newline before ``size`` (0 when the file is one line)."""
    position = size
    while position > 0:
        step = min(65536, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return position + newline + 1
    return 0


def compact_jsonl(path: str | Path, key: str = "id") -> int:
    """Rewrite ``path`` with one line per ``key``: the last line without ``error`` if any, else the last line.

    Used when a job resumes or has finished retrying failed records, so a record that failed on one run and
    succeeded (or failed again) on the next is one line, not one per run, and two writers that once raced on the
    file leave one line per id after the next run. Lines without the key are kept; lines that are not JSON objects
    (torn by a crash, cut by a full disk) are dropped, so the file loads anywhere. Atomic: the new file is written
    beside the old one, fsync'ed and renamed over it, so a crash leaves either file whole; a file with nothing to
    drop is not rewritten. Returns the number of lines dropped.
    """
    path = Path(path)
    keep: dict[str, tuple[int, bool]] = {}  # id -> (line number of the kept line, that line is an error)
    other: set[int] = set()  # lines kept as they are: records without the key
    lines = 0
    for line in iter_jsonl(path):
        lines += 1
        if line.record is None:
            continue
        if key not in line.record:
            other.add(line.line)
            continue
        item, failed = str(line.record[key]), bool(line.record.get("error"))
        if item not in keep or failed <= keep[item][1]:
            keep[item] = (line.line, failed)
    kept_lines = other | {number for number, _ in keep.values()}
    dropped = lines - len(kept_lines)
    if dropped == 0:
        return 0
    with path.open("rb") as source, replace_atomically(path) as target:
        for number, raw in enumerate(source, start=1):
            if number in kept_lines:
                text = raw.decode("utf-8").removeprefix("\ufeff") if number == 1 else raw.decode("utf-8")
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
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(temporary), str(path)):
            raise OutputError(path, os_cause(exc)) from exc  # the disk refused the new file; the old one stands
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
