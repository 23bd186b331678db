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


def fast_llm_config(**overrides):
    """An ``LLMConfig`` with short timeouts and backoffs, so fault tests finish in a fraction of a second."""
    from owlcap.llm import LLMConfig

    values = {"request_timeout_s": 2.0, "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
    return LLMConfig(**{**values, **overrides})
