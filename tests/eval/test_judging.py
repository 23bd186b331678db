"""JudgeSession and the item loop against the loopback server: provenance of every call, failure kinds, the
breaker, chains that keep their second call right behind their first, and one item's bug not sinking a run."""

from __future__ import annotations

import asyncio

import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import Reply

from owlcap.eval.judging import JudgeConfig, JudgeSession, RunStopped, judge_items
from owlcap.llm import from_spec


def session_for(server, **settings) -> JudgeSession:
    config = JudgeConfig(model=server.spec(), temperature=1.0, top_p=1.0, max_tokens=32, parse_attempts=3, **settings)
    llm = from_spec(server.spec(), fast_llm_config(concurrency=config.concurrency))
    return JudgeSession(config, llm=llm)


def number(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"not a number: {text!r}")
    return int(text)


def test_a_call_keeps_its_raw_answers_attempts_and_cache_state(llm_server):
    session = session_for(llm_server)
    llm_server.push("seven", " 7 ")
    messages = [{"role": "user", "content": "How many?"}]
    first = session.llm.run_in_background(session.ask("count", "1", messages, parse=number))
    assert (first.value, first.raw, first.attempts, first.cached) == (7, " 7 ", 2, False)
    again = session.llm.run_in_background(session.ask("count", "1", messages, parse=number))
    assert (again.value, again.attempts, again.cached) == (7, 0, True)
    llm_server.push("eight?", "nine?", "ten?")
    failed = session.llm.run_in_background(
        session.ask("count", "1", [{"role": "user", "content": "More?"}], parse=number)
    )
    assert (failed.error_kind, failed.raw, failed.attempts, failed.value) == ("invalid_answer", "ten?", 3, None)
    assert "invalid answer after 3 attempt(s)" in failed.error
    request = llm_server.requests[0].body
    assert (request["temperature"], request["top_p"], request["max_tokens"]) == (1.0, 1.0, 32)
    assert "top_k" not in request


def test_failure_kinds_and_the_breaker(llm_server):
    session = session_for(llm_server, stop_after_consecutive_failures=2)
    llm_server.responder = lambda request: Reply.error(500)
    ask = lambda text: session.ask("k", "1", [{"role": "user", "content": text}])  # noqa: E731
    first = session.llm.run_in_background(ask("a"))
    assert first.error_kind == "judge_unavailable" and session.stopped is None
    llm_server.responder = lambda request: Reply.error(404, "model not found")
    second = session.llm.run_in_background(ask("b"))
    assert second.error_kind == "judge_rejected" and "HTTP 404" in second.error
    assert "stopped after 2 judge calls in a row failed" in session.stopped
    with pytest.raises(RunStopped):
        session.llm.run_in_background(ask("c"))


def test_a_chain_sends_its_second_call_right_after_its_first(llm_server):
    """Two chain slots, four chains: chain 1's second call is sent before chains 3 and 4 start."""
    llm_server.responder = lambda request: Reply.ok("ok", delay_s=0.05)
    session = session_for(llm_server, concurrency=2)

    async def chain(index: int) -> None:
        async with session.chain():
            await session.ask("k", "1", [{"role": "user", "content": f"chain {index} first"}])
            await session.ask("k", "1", [{"role": "user", "content": f"chain {index} second"}])

    async def run() -> None:
        await asyncio.gather(*(chain(i) for i in range(4)))

    session.llm.run_in_background(run())
    order = [r.text_of("user") for r in llm_server.requests]
    assert order.index("chain 0 second") < order.index("chain 2 first")
    assert order.index("chain 1 second") < order.index("chain 3 first")
    assert llm_server.max_in_flight <= 2


def test_one_items_bug_is_logged_and_counted_and_the_rest_is_written(llm_server, caplog):
    session = session_for(llm_server)
    written = []

    async def judge_one(item: int) -> dict | None:
        if item == 2:
            raise KeyError("a bug")
        return {"key": str(item)}

    outcome = session.llm.run_in_background(
        judge_items(session, range(5), 5, judge_one, written.append, description="t")
    )
    assert sorted(r["key"] for r in written) == ["0", "1", "3", "4"]
    assert (outcome.written, outcome.not_judged) == (4, 1) and "KeyError" in outcome.errors[0]
    assert "could not be judged" in caplog.text


def test_judge_config_request_fields():
    openai = JudgeConfig(model="openai:gpt-4o-mini", temperature=0, max_tokens=64, parse_attempts=1)
    assert openai.llm_config().server_extras is False and openai.options() == {
        "temperature": 0.0, "max_tokens": 64, "top_k": None,
    }  # fmt: skip
    local = JudgeConfig(
        model="openai:m@http://127.0.0.1:8000/v1", temperature=1, top_p=1, max_tokens=8, parse_attempts=2
    )
    assert local.llm_config().server_extras is True and local.options()["top_p"] == 1.0
    assert local.fingerprint()["model"] == "openai:m"  # where it is served is not part of what it is
    offline = JudgeConfig(model="rules", temperature=0, max_tokens=8, parse_attempts=1)  # the demo/test recipes
    assert offline.offline and not local.offline
