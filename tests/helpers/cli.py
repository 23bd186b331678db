"""owlcap's command line as tests drive it: in a fresh process (exit status, stderr, signals, ``ulimit -f``) or in
this one (``CliRunner``), and the one ``error:`` line a user error must end in."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import owlcap

SRC = Path(owlcap.__file__).resolve().parents[1]
SMALL = ["--nframes", "4", "--min-pixels", str(28 * 28), "--max-pixels", str(56 * 84)]
"""Caption flags that keep decoding cheap: 4 frames of at most 56x84 pixels."""


def owlcap_env(**extra: str) -> dict[str, str]:
    return os.environ | {"PYTHONPATH": str(SRC), "OWLCAP_DEBUG": "", "OWLCAP_DISABLE_PROGRESS": "1"} | extra


def owlcap_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "owlcap.cli.main", *map(str, args)]


def run_owlcap(*args: object, timeout: float = 60, file_size_limit: int | None = None, **env: str):
    """``owlcap ARGS`` in a fresh process, as a shell runs it: exit status, stdout, stderr. ``file_size_limit``
    (bytes) is ``ulimit -f``: a write past it fails with EFBIG, as on a full disk."""

    def limit() -> None:
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        owlcap_command(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=owlcap_env(**env),
        preexec_fn=limit if file_size_limit is not None else None,
    )


def start_owlcap(*args: object, **env: str) -> subprocess.Popen:
    """``owlcap ARGS`` started in a fresh process, left running (``communicate`` to end it)."""
    return subprocess.Popen(
        owlcap_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=owlcap_env(**env)
    )


def invoke(*args: object, env: dict[str, str] | None = None):
    """``owlcap ARGS`` in this process (``CliRunner``): for what needs no second process, signal or limit."""
    from typer.testing import CliRunner

    from owlcap.cli.main import app

    return CliRunner().invoke(app, [str(arg) for arg in args], env=env)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]
