"""Headless Chromium for tests that check an HTML page as a browser shows it (scripts run, images decoded)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# As this machine's probe starts it: the closed network refuses Chromium's background connections otherwise.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
    "--dump-dom",
)


def dump_dom(url: str, profile: Path) -> str:
    """The DOM of ``url`` (a ``file://`` URI, with an optional ``#fragment``) after it loaded; skips the test when
    Chromium is not installed (``apt-get install -y chromium``)."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium)")
    done = subprocess.run(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", url], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
