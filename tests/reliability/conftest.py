"""Fixtures of the reliability tests: owlcap in a fresh process, small clips, a scripted captioner and judge on
loopback, and hostile filesystems (a read-only folder, a full one, a file size limit)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.buildkit import make_clip
from helpers.fixtures import llm_server  # noqa: F401
from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import responder


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
