"""Fixtures of the pipeline tests: one finished run of the QUICK quickstart, shared, and private copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from run_helpers import overrides

from owlcap.run import quickstart_config, run_pipeline


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """One complete run of the QUICK quickstart, shared by every test that only reads it (or copies it first)."""
    run_dir = tmp_path_factory.mktemp("pipeline") / "quick"
    result = run_pipeline(quickstart_config(), overrides(run_dir))
    assert [outcome.status for outcome in result.outcomes] == ["ran"] * 6
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A private copy of the finished run, for tests that change it."""
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    return copy
