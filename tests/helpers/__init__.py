"""Test helpers shared across test folders: the scripted loopback OpenAI-compatible server and its responders.

Import as ``from helpers.llm_server import LoopbackLLMServer, Reply`` (pytest puts ``tests/`` on ``sys.path``
through the root conftest). The ``llm_server`` fixture lives in ``helpers.fixtures``; pull it into a test folder's
conftest with ``from helpers.fixtures import llm_server  # noqa: F401``.
"""
