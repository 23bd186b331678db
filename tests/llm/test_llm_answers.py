"""Tasks whose answer is text or goes through the caller's own parser (official scorers), with provenance."""

from __future__ import annotations

import ast
import asyncio

import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import Reply

from owlcap.errors import JudgeError
from owlcap.llm import Task, from_spec


def _events(text: str) -> list[str]:
    """A stand-in official parser: a Python dict literal with an 'events' list."""
    try:
        events = ast.literal_eval(text)["events"]
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise ValueError(f"not a Python dict with 'events' ({type(exc).__name__})") from exc
    return list(events)


def _task(prompt: str, **fields) -> Task:
    return Task(
        kind="test.events",
        version="v1",
        messages=[{"role": "user", "content": prompt}],
        inputs={"p": prompt},
        **{"schema": None, **fields},
    )


def test_text_task_is_cached_with_its_raw_answer(llm_server, tmp_path):
    llm_server.push(Reply.ok("<think>hmm</think>A dog runs."))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache_path=tmp_path / "c.sqlite"))
    first = asyncio.run(judge.answer(_task("caption it")))
    again = asyncio.run(judge.answer(_task("caption it")))
    assert (first.value, first.attempts, first.cached) == ("A dog runs.", 1, False)
    assert (again.value, again.raw, again.attempts, again.cached) == ("A dog runs.", first.raw, 0, True)
    assert "<think>" in first.raw and len(llm_server.requests) == 1
    assert "response_format" not in llm_server.requests[0].body


def test_resample_resends_the_same_request_and_counts_attempts(llm_server):
    llm_server.push(Reply.ok("not python"), Reply.ok("{'events': oops"), Reply.ok("{'events': ['a runs']}"))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    answer = asyncio.run(judge.answer(_task("extract", parse=_events, on_invalid="resample", max_attempts=10)))
    assert (answer.value, answer.attempts, answer.raw) == (["a runs"], 3, "{'events': ['a runs']}")
    bodies = [request.body["messages"] for request in llm_server.requests]
    assert bodies == [bodies[0]] * 3  # no repair conversation: the same request each time
    assert judge.stats.snapshot().repairs == 2


def test_spent_attempts_raise_and_nothing_is_cached(llm_server, tmp_path):
    llm_server.responder = lambda request: Reply.ok("garbage")
    judge = from_spec(llm_server.spec(), fast_llm_config(cache_path=tmp_path / "c.sqlite"))
    with pytest.raises(JudgeError, match="after 4 attempt"):
        asyncio.run(judge.run(_task("extract", parse=_events, on_invalid="resample", max_attempts=4)))
    llm_server.responder = lambda request: Reply.ok("{'events': []}")
    assert asyncio.run(judge.run(_task("extract", parse=_events, on_invalid="resample", max_attempts=4))) == []
    assert len(llm_server.requests) == 5


def test_repair_of_a_parsed_task_quotes_the_answer_without_a_schema(llm_server):
    llm_server.push(Reply.ok("nope"), Reply.ok("{'events': ['x']}"))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    assert asyncio.run(judge.run(_task("extract", parse=_events))) == ["x"]
    repair = llm_server.requests[1].body["messages"]
    assert (
        repair[-2] == {"role": "assistant", "content": "nope"} and "following the instructions" in repair[-1]["content"]
    )


def test_rules_backend_answers_a_parsed_task_offline():
    judge = from_spec("rules")
    task = _task("extract", parse=_events, offline=lambda rules: ["offline"])
    answer = asyncio.run(judge.answer(task))
    assert (answer.value, answer.raw, answer.attempts) == (["offline"], '["offline"]', 1)


def test_closing_cancels_what_still_runs_on_the_background_loop():
    from owlcap.llm.loop import BackgroundLoop

    loop = BackgroundLoop()
    unwound = []

    async def forever():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            unwound.append(True)
            raise

    future = loop.submit(forever())
    future.cancel()  # what Ctrl-C does to a batch: the task itself is only cancelled later, on the loop
    loop.close()
    assert unwound == [True] and not loop.started
