"""Fixtures of this folder: the loopback server, and the scripted judge served from its own process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fixtures import llm_server  # noqa: F401

JUDGE_PROCESS = Path(__file__).with_name("judge_process.py")


class JudgeProcess:
    """A scripted judge server in a child process; ``spec(model)`` names it. ``stop()`` ends it."""

    def __init__(self, faults: dict | None = None, *, slots: int | None = None, delay: float = 0.0):
        command = [sys.executable, str(JUDGE_PROCESS), "--delay", str(delay)]
        if faults is not None:
            command += ["--faults", json.dumps(faults)]
        if slots is not None:
            command += ["--slots", str(slots)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the scripted judge did not start (printed {line!r})")
        self.port = int(line)

    def spec(self, model: str = "judge") -> str:
        return f"openai:{model}@http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # the server stops when its stdin closes
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def judge_process() -> Iterator:
    """A factory of scripted judge processes (``judge_process(faults=..., slots=..., delay=...)``), all stopped
    at the end of the test."""
    started: list[JudgeProcess] = []

    def start(faults: dict | None = None, **kwargs) -> JudgeProcess:
        judge = JudgeProcess(faults, **kwargs)
        started.append(judge)
        return judge

    try:
        yield start
    finally:
        for judge in started:
            judge.stop()
