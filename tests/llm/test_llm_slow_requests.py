"""A request with no answer yet is logged once, early, not only when its timeout and retries are spent."""

from __future__ import annotations

import logging

from helpers.fixtures import fast_llm_config
from helpers.llm_server import Reply

from owlcap.llm import from_spec


def _slow_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if "no answer after" in record.getMessage()]


def test_many_slow_requests_log_one_line_and_fast_ones_none(llm_server, monkeypatch, caplog):
    monkeypatch.setenv("OWLCAP_SLOW_REQUEST_S", "0.3")
    llm = from_spec(llm_server.spec(), fast_llm_config(request_timeout_s=5.0))
    try:
        with caplog.at_level(logging.WARNING, logger="owlcap.llm"):
            llm_server.responder = lambda request: Reply.ok("fine")
            assert llm.chat_sync([{"role": "user", "content": "quick"}]) == "fine"
            assert _slow_lines(caplog) == []
            llm_server.responder = lambda request: Reply.slow("late", delay_s=1.0)
            messages = [[{"role": "user", "content": f"slow {i}"}] for i in range(6)]
            outcomes = llm.chat_many_sync(messages)
    finally:
        llm.close()
    assert all(outcome.ok and outcome.value == "late" for outcome in outcomes)  # slow is not failed
    lines = _slow_lines(caplog)
    assert len(lines) == 1 and llm.name in lines[0] and "request_timeout_s=5" in lines[0]
