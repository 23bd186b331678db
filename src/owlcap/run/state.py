"""What a run directory remembers between invocations: per-stage markers and the fingerprints they compare.

Each stage owns ``RUN_DIR/<stage>/``. Two small JSON files in it drive skipping and resuming:

* ``running.json`` is written (atomically) before the stage starts work, with the stage's fingerprint. A killed run
  leaves it behind; the next run with the same fingerprint continues in place (training resumes from its own
  checkpoints, captioning skips the videos already written). A different fingerprint means the stage's inputs
  changed: its folder is emptied and it starts over.
* ``.owlcap-stage`` says owlcap made the folder (written when it creates it, never removed). owlcap empties only a
  folder that carries it (or, from before it existed, one of the two markers): a folder of the same name that a
  user made, or a file in its place, is refused with one error naming it, never deleted.
* ``stage.json`` is written (atomically, last) only after the stage succeeded: fingerprint, a fresh ``execution``
  id, wall time and the stage's summary. A stage whose ``stage.json`` carries the current fingerprint is skipped.

A stage's fingerprint hashes its resolved config, the files its config names (content for small files, size and
modification time for large ones) and the ``execution`` ids of the upstream stages it reads, so re-running an
upstream stage (even with the same config) makes everything downstream run again.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError
from owlcap.hashing import file_digest, json_digest
from owlcap.jsonl import write_text_atomic
from owlcap.locks import claim_folder, unlock

MARKER = "stage.json"
RUNNING = "running.json"
OWNER = ".owlcap-stage"
HASH_CONTENT_UP_TO = 16 * 1024 * 1024  # bigger files (videos, weights) are fingerprinted by size and mtime


@dataclass
class StageRecord:
    """The contents of ``stage.json``: what ran, with which fingerprint, how long it took, what it produced."""

    stage: str
    fingerprint: str
    execution: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = 0.0
    finished: float = 0.0
    seconds: float = 0.0
    resumed: bool = False
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> StageRecord | None:
        """The record at ``path``, or ``None`` when there is none or it is unreadable (then the stage reruns)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so that readers see the old file or the whole new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


class StageDir:
    """One stage's folder in the run directory and its two markers."""

    def __init__(self, run_dir: Path, name: str):
        self.name = name
        self.path = run_dir / name

    def done(self) -> StageRecord | None:
        return StageRecord.load(self.path / MARKER)

    def running_fingerprint(self) -> str | None:
        record = StageRecord.load(self.path / RUNNING)
        return record.fingerprint if record else None

    def begin(self, fingerprint: str, *, fresh: bool, keep: bool = False) -> bool:
        """Prepare to run: keep the folder (same fingerprint, interrupted before; or ``keep``: the stage reconciles
        its own outputs) or empty it, if owlcap made it (``ConfigError`` otherwise). True = resuming."""
        self.check_owned()
        resuming = not fresh and self.running_fingerprint() == fingerprint
        if not resuming and not keep and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / OWNER).touch()
        (self.path / MARKER).unlink(missing_ok=True)
        write_json_atomic(self.path / RUNNING, asdict(StageRecord(self.name, fingerprint, started=time.time())))
        return resuming

    def check_owned(self) -> None:
        """``ConfigError`` unless the stage's folder is absent, empty, or carries owlcap's own marker: owlcap
        removes and rewrites only what it can show it made."""
        if not self.path.exists() and not self.path.is_symlink():
            return
        if not self.path.is_dir() or self.path.is_symlink():
            raise ConfigError(
                f"stage {self.name}: {self.path} is in the way (not a folder owlcap made); move it away or choose "
                "another run_dir"
            )
        if any((self.path / name).exists() for name in (OWNER, MARKER, RUNNING)):
            return
        found = sorted(entry.name for entry in self.path.iterdir())
        if found:
            shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
            raise ConfigError(
                f"stage {self.name}: {self.path} holds files owlcap did not write ({shown}); owlcap would replace "
                "this folder: move them away or choose another run_dir"
            )

    def finish(self, record: StageRecord) -> None:
        """Mark the stage done; the marker is the last thing written, so a kill before it means "not done"."""
        write_json_atomic(self.path / MARKER, asdict(record))
        (self.path / RUNNING).unlink(missing_ok=True)


@contextlib.contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run directory for this process: a second ``owlcap run`` on it is refused, not interleaved. The
    lock is the kernel's (``flock``), so a killed run never leaves it behind."""
    handle = claim_folder(
        run_dir, name="run_dir", busy=f"run_dir {run_dir}: another owlcap run is using it", advice="wait for it to end"
    )
    try:
        yield
    finally:
        unlock(handle)


# ------------------------------------------------------------------------------------------------ fingerprints


def fingerprint(parts: dict[str, Any]) -> str:
    """A short, stable hash of JSON-able ``parts`` (key order does not matter)."""
    return json_digest(parts, 16)


def file_fingerprints(paths: dict[str, str | Path], *, what: str, where=None) -> dict[str, str]:
    """``{field: fingerprint}`` of the files and folders (each file in a folder) that config fields name; a missing
    one is a ``ConfigError`` naming ``what`` (the stage), the field, the path and ``where(field)`` (where it was
    set)."""
    result: dict[str, str] = {}
    for name, raw in paths.items():
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            result[name] = fingerprint({str(p.relative_to(path)): _file_fingerprint(p) for p in files})
        elif path.is_file():
            result[name] = _file_fingerprint(path)
        else:
            origin = f" (set in {where(name)})" if where else ""
            raise ConfigError(f"{what}: {name}: {path}: no such file or folder{origin}")
    return result


def _file_fingerprint(path: Path) -> str:
    stat = path.stat()
    if stat.st_size > HASH_CONTENT_UP_TO:
        return f"size={stat.st_size},mtime={stat.st_mtime_ns}"
    return file_digest(path, 16)
