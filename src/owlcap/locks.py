"""Exclusive locks on outputs: two processes never write one folder (or one output file) at once.

The lock is the kernel's (``flock`` on ``FOLDER/.lock``, or ``.NAME.lock`` beside an output file), so a killed
holder never leaves it behind; the holder writes its pid into the file so that the refusal can say who holds it.
Every writer that resumes takes one: the data store, ``owlcap run``, ``owlcap eval`` (``--out``) and
``owlcap caption`` (``--out``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from owlcap.errors import ConfigError, OutputError, os_cause

LOCK_FILE = ".lock"

# Folders ``claim_folder`` created, by their lock's handle: ``unlock`` removes such a folder when the command
# wrote nothing into it (a bad config or a dead server found after the claim leaves no empty folder behind).
_CREATED: weakref.WeakKeyDictionary[TextIO, Path] = weakref.WeakKeyDictionary()


def lock_folder(folder: Path, *, busy: str, advice: str) -> TextIO:
    """Hold ``folder``'s lock until ``unlock``; when another process holds it, ``ConfigError("<busy> (pid N);
    <advice>")``. The folder must exist."""
    return _hold(Path(folder) / LOCK_FILE, busy, advice)


def claim_folder(folder: Path, *, name: str, busy: str, advice: str) -> TextIO:
    """Create the output folder ``folder`` if it is missing and hold its lock (``lock_folder``) until ``unlock``.
    ``name`` is how the user named it (``--out``, ``run_dir``): ``ConfigError`` when it is a file, ``OutputError``
    when it cannot be created (a read-only filesystem), ``ConfigError`` naming the holder when another process has
    it. A folder created here that still holds nothing but its lock at ``unlock`` is removed again."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{name} {folder}: exists and is not a folder; give a folder (it is created if missing)")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(folder, os_cause(exc)) from exc
    handle = lock_folder(folder, busy=busy, advice=advice)
    if created:
        _CREATED[handle] = folder
    return handle


def lock_output(path: Path, *, busy: str, advice: str) -> TextIO:
    """Hold the lock of the output file ``path`` (``.NAME.lock`` beside it) until ``unlock``; as ``lock_folder``.
    The folder must exist; the file need not."""
    path = Path(path)
    return _hold(path.with_name(f".{path.name}.lock"), busy, advice)


@contextlib.contextmanager
def holding(lock: TextIO) -> Iterator[None]:
    """Release ``lock`` (from ``lock_folder``/``lock_output``) when the block ends, however it ends."""
    try:
        yield
    finally:
        unlock(lock)


def unlock(handle: TextIO) -> None:
    """Release a lock taken with ``lock_folder``, ``claim_folder`` or ``lock_output`` (idempotent)."""
    created = _CREATED.pop(handle, None)
    if not handle.closed:
        if created is not None:
            _remove_if_unused(created)
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            handle.close()


def _hold(lock_path: Path, busy: str, advice: str) -> TextIO:
    try:
        handle = lock_path.open("a+")
    except OSError as exc:
        raise OutputError(lock_path, os_cause(exc)) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(f"{busy} ({holder}); {advice}") from exc
    with contextlib.suppress(OSError):  # the pid is a courtesy to whoever is refused; a full disk must not stop us
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
    return handle


def _remove_if_unused(folder: Path) -> None:
    """Remove ``folder`` if it holds only its lock file; while the lock is still held, so that no other writer can
    have claimed it: one that opens the lock file after it is gone finds no folder, or makes a new one (then the
    folder is not empty and stays)."""
    with contextlib.suppress(OSError):
        if [entry.name for entry in folder.iterdir()] == [LOCK_FILE]:
            (folder / LOCK_FILE).unlink()
            folder.rmdir()
