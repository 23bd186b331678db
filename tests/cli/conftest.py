"""Fixtures of this folder: the loopback OpenAI-compatible server."""

from helpers.fixtures import llm_server  # noqa: F401
