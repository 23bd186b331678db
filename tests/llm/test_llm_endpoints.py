"""One model on several OpenAI-compatible endpoints: spec syntax, least-outstanding spreading, a replica killed
mid-batch, and a dead endpoint put back once it answers again. Real loopback servers, real HTTP."""

import asyncio
import socket
import time

import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import LoopbackLLMServer, Reply

from owlcap.errors import ConfigError
from owlcap.llm import from_spec, parse_spec
from owlcap.llm.endpoints import EndpointPool
from owlcap.units import decompose_task

UNITS = '{"units": ["A dog runs."]}'


def _answer(_request):
    return UNITS


def _tasks(n: int):
    return [decompose_task(f"A dog runs, number {i}.") for i in range(n)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spec(servers) -> str:
    return "openai:judge@" + ",".join(server.base_url for server in servers)


def test_spec_syntax_keeps_single_urls_and_lists_replicas():
    single = parse_spec("openai:m@http://a:1/v1/")
    assert (single.base_url, single.base_urls, str(single)) == (
        "http://a:1/v1",
        ("http://a:1/v1",),
        "openai:m@http://a:1/v1",
    )
    many = parse_spec("openai:Qwen/Qwen3-32B@http://a:1/v1, http://b:2/v1")
    assert many.base_urls == ("http://a:1/v1", "http://b:2/v1") and many.base_url == "http://a:1/v1"
    assert str(many) == "openai:Qwen/Qwen3-32B@http://a:1/v1,http://b:2/v1"
    assert from_spec(str(many)).name == str(many)
    with pytest.raises(ConfigError, match="not an http"):
        parse_spec("openai:m@http://a:1/v1,b:2")
    with pytest.raises(ConfigError, match="twice"):
        parse_spec("openai:m@http://a:1/v1,http://a:1/v1")


def test_pool_prefers_the_least_busy_and_round_robins_ties():
    pool = EndpointPool(["a", "b", "c"])
    with pool.use() as first, pool.use() as second, pool.use() as third:
        assert {first.url, second.url, third.url} == {"a", "b", "c"}
        with pool.use() as fourth:
            assert fourth.outstanding == 2
    picks = []
    for _ in range(6):
        with pool.use() as endpoint:
            picks.append(endpoint.url)
    assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]


def test_requests_spread_over_replicas_by_outstanding_requests():
    with (
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as a,
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as b,
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as c,
    ):
        judge = from_spec(_spec([a, b, c]), fast_llm_config(cache=False, concurrency=6))
        outcomes = judge.chat_many_sync(_tasks(30))
        assert all(o.ok for o in outcomes)
        counts = [len(server.requests) for server in (a, b, c)]
        assert sum(counts) == 30 and min(counts) >= 7, counts
        assert all(server.max_in_flight <= 3 for server in (a, b, c))
        assert all(e["healthy"] and e["outstanding"] == 0 for e in judge.endpoints())


def test_a_replica_killed_mid_batch_costs_no_item():
    with (
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as a,
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as b,
        LoopbackLLMServer(_answer, slots=2, delay_s=0.05) as c,
    ):
        b.kill_after(3)
        config = fast_llm_config(cache=False, concurrency=6, endpoint_cooldown_s=60, max_retries=3)
        judge = from_spec(_spec([a, b, c]), config)
        outcomes = judge.chat_many_sync(_tasks(40))
        assert [o.error for o in outcomes if not o.ok] == []
        assert b.killed and len(b.requests) == 3
        endpoints = {e["url"]: e for e in judge.endpoints()}
        assert endpoints[b.base_url]["healthy"] is False and endpoints[b.base_url]["ejections"] == 1
        answered_by_b = sum(r.status == 200 for r in b.requests)
        assert answered_by_b < 3 and len(a.requests) + len(c.requests) == 40 - answered_by_b


def test_an_ejected_endpoint_comes_back_when_it_answers_again():
    port = _free_port()
    late = LoopbackLLMServer(_answer, port=port)
    with LoopbackLLMServer(_answer) as alive:
        config = fast_llm_config(cache=False, endpoint_cooldown_s=0.3)
        judge = from_spec(f"openai:judge@http://127.0.0.1:{port}/v1,{alive.base_url}", config)
        assert all(o.ok for o in judge.chat_many_sync(_tasks(4)))
        dead = judge.endpoints()[0]
        assert dead["healthy"] is False and dead["ejections"] == 1 and "connection" in dead["last_error"]
        with late:
            time.sleep(0.4)
            assert all(o.ok for o in judge.chat_many_sync(_tasks(6)))
            assert judge.endpoints()[0]["healthy"] is True and len(late.requests) >= 1  # the trial request
            assert all(o.ok for o in judge.chat_many_sync(_tasks(10)[4:]))
            assert len(late.requests) >= 3  # back in the pool: it takes its share again


def test_every_endpoint_dead_fails_with_the_cause_after_retries():
    ports = [_free_port(), _free_port()]
    judge = from_spec(
        "openai:judge@" + ",".join(f"http://127.0.0.1:{p}/v1" for p in ports), fast_llm_config(cache=False)
    )
    outcome = judge.chat_many_sync(_tasks(1))[0]
    assert not outcome.ok and "connection error" in outcome.error and "gave up after 3 attempt(s)" in outcome.error


def test_server_errors_eject_after_consecutive_failures_only(llm_server):
    with LoopbackLLMServer(_answer) as healthy:
        llm_server.push(*[Reply.error(503)] * 3)
        config = fast_llm_config(cache=False, endpoint_cooldown_s=60, endpoint_max_failures=3, max_retries=6)
        judge = from_spec(_spec([llm_server, healthy]), config)

        async def one_by_one():
            return [await judge.run(task) for task in _tasks(8)]

        assert len(asyncio.run(one_by_one())) == 8
        flaky = judge.endpoints()[0]
        assert flaky["failures"] == 3 and flaky["healthy"] is False
        assert len(llm_server.requests) == 3
