"""Helpers of the pipeline tests: the QUICK variant of the quickstart, the ``owlcap`` command in a subprocess (to kill
it), and a page opened in headless Chromium (``helpers.browser``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers.browser import dump_dom

# The quickstart with fewer steps: SFT still overfits visibly, GRPO still sees rewards differ within its groups.
QUICK = {
    "sft.overrides.max_steps": 10,
    "sft.overrides.save_steps": 5,
    "grpo.overrides.max_steps": 4,
    "grpo.overrides.save_steps": 2,
    "caption.config.generation.max_new_tokens": 120,
    "eval.vdc.config.limit": 1,  # one video's 5 dimensions
    "eval.vdc.config.captioning.generation.max_new_tokens": 48,
}


def overrides(run_dir: Path, **changes) -> list[str]:
    """``--key value`` arguments for the quickstart config: the QUICK variant into ``run_dir``, plus ``changes``
    (dotted keys written with ``__``: ``grpo__overrides__max_steps=2``)."""
    values = {"run_dir": str(run_dir), **QUICK, **{key.replace("__", "."): value for key, value in changes.items()}}
    args: list[str] = []
    for key, value in values.items():
        args += [f"--{key}", str(value)]
    return args


def owlcap_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "owlcap.cli.main", *args]


def subprocess_env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "OWLCAP_DISABLE_PROGRESS": "1"}


def run_owlcap(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(owlcap_command(*args), capture_output=True, text=True, timeout=timeout, env=subprocess_env())


def kill_when(args: list[str], ready: Path, *, timeout: float = 240) -> str:
    """Start ``owlcap ARGS``, SIGKILL it as soon as ``ready`` exists, and return its output so far."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(owlcap_command(*args), stdout=log, stderr=subprocess.STDOUT, env=subprocess_env())
        deadline = time.monotonic() + timeout
        try:
            while not ready.exists():
                if process.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"owlcap ended (status {process.returncode}) before {ready} appeared:\n{log.read()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"{ready} did not appear within {timeout} s")
                time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        log.seek(0)
        return log.read()


def chromium_dom(page: Path, tmp_path: Path) -> str:
    """The DOM of ``page`` after it loaded in headless Chromium (scripts run, images decoded)."""
    return dump_dom(page.resolve().as_uri(), tmp_path / "chromium-profile")
