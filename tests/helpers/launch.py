"""Launch a multi-process test run with torchrun, and never leave its workers behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def torchrun(args: list[str], *, nproc: int = 2, timeout: float, **popen) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node NPROC ARGS`` with its output captured; fails the test on timeout.

    ``--standalone`` lets the agent bind its store to a port the OS picks: no probe-then-bind race with other runs.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = _stop(process)
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _stop(process: subprocess.Popen, grace: float = 30) -> tuple[str, str]:
    """SIGTERM torchrun, which stops its workers; SIGKILL what is left after ``grace`` seconds.

    torch starts each worker in a session of its own, so killing torchrun (what ``subprocess.run`` does on timeout)
    or its process group leaves the workers running, holding the output pipes open.
    """
    workers = _children(process.pid)
    process.terminate()
    try:
        return process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        for pid in (process.pid, *workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return process.communicate(timeout=grace)


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    if not tasks.is_dir():  # not Linux: SIGTERM alone
        return []
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]
