"""Pytest fixtures around the loopback server. Import them into a folder's conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.llm_server import LoopbackLLMServer


@pytest.fixture
def llm_server() -> Iterator[LoopbackLLMServer]:
    """A started, empty loopback server (no responder: push replies or set ``.responder``); stopped afterwards."""
    server = LoopbackLLMServer().start()
    try:
        yield server
    finally:
        server.stop()
