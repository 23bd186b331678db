"""Fixtures of the reliability tests: owlcap in a fresh process, small clips, a scripted captioner and judge on
loopback, and hostile filesystems (a read-only folder, a full one, a file size limit)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.buildkit import make_clip
from helpers.fixtures import llm_server  # noqa: F401
from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import responder

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


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    """Eight small distinct clips, made once per session."""
    folder = tmp_path_factory.mktemp("reliability-clips")
    return [make_clip(folder / f"clip{i}.mp4", seed=100 + i) for i in range(8)]


@pytest.fixture
def captioner() -> Iterator[LoopbackLLMServer]:
    """A loopback server answering as a video captioner (and as the VDC/DREAM-1K judges)."""
    with LoopbackLLMServer(responder()) as server:
        yield server


def _mount(folder: Path, options: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return done.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def read_only_dir(tmp_path) -> Iterator[Path]:
    """A folder nobody can write into: a read-only tmpfs (root ignores permission bits), else mode 0555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    mounted = _mount(folder, "ro,size=64k")
    if not mounted:
        folder.chmod(0o555)
    try:
        yield folder
    finally:
        if mounted:
            _unmount(folder)
        else:
            folder.chmod(0o755)


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 2 MiB filesystem (tmpfs; needs root), to fill up."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if not _mount(folder, "size=2m"):
        pytest.skip("needs root to mount a small tmpfs (the file size limit tests cover the same path)")
    try:
        yield folder
    finally:
        _unmount(folder)
