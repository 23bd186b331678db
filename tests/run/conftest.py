"""Fixtures of the pipeline tests: one finished run of the QUICK quickstart, shared, and private copies of it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from run_helpers import overrides

from owlcap.run import quickstart_config, run_pipeline


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One complete run of the QUICK quickstart, shared by every test that only reads it (or copies it first)."""
    run_dir = tmp_path_factory.mktemp("pipeline") / "quick"
    lines = _Lines()
    logging.getLogger("owlcap").addHandler(lines)
    try:
        result = run_pipeline(quickstart_config(), overrides(run_dir))
    finally:
        logging.getLogger("owlcap").removeHandler(lines)
    assert [outcome.status for outcome in result.outcomes] == ["ran"] * 6
    assert not [line for line in lines.seen if "settings changed" in line], "a brand-new run directory changed nothing"
    return run_dir


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A private copy of the finished run, for tests that change it."""
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    return copy
