"""Fixtures of the data-engine tests: 24 small generated clips and a scripted server playing every HMD model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.buildkit import make_clip
from helpers.fixtures import llm_server  # noqa: F401
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> list[Path]:
    """24 small distinct clips, made once per session."""
    folder = tmp_path_factory.mktemp("clips")
    return [make_clip(folder / f"clip{i:02d}.mp4", seed=i) for i in range(24)]


@pytest.fixture
def hmd_server():
    """A loopback server answering as all four HMD models; it rejects units about a green ball."""
    with LoopbackLLMServer(hmd_responder(reject=("green",))) as server:
        yield server
