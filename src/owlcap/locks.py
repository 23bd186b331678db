"""Exclusive locks on output folders: two processes never write one folder at once.

The lock is the kernel's (``flock`` on ``FOLDER/.lock``), so a killed holder never leaves it behind; the holder
writes its pid into the file so that the refusal can say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import TextIO

from owlcap.errors import ConfigError

LOCK_FILE = ".lock"


def lock_folder(folder: Path, *, busy: str, advice: str) -> TextIO:
    """Hold ``folder``'s lock until ``unlock``; when another process holds it, ``ConfigError("<busy> (pid N);
    <advice>")``. The folder must exist."""
    handle = (Path(folder) / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(f"{busy} ({holder}); {advice}") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def unlock(handle: TextIO) -> None:
    """Release a lock taken with ``lock_folder`` (idempotent)."""
    if not handle.closed:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
