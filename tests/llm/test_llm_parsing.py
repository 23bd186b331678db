import random

import pytest
from pydantic import BaseModel

from owlcap.llm.parsing import extract_json, parse_structured, repair_messages, response_format, strip_think
from owlcap.llm.retry import RetryableError, backoff_delay, next_wait, parse_retry_after
from owlcap.llm.stats import LLMStats


class Units(BaseModel):
    units: list[str]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('<think>step 1\nstep 2</think>\n{"a": 1}', '{"a": 1}'),
        ("reasoning without an opening tag</think>answer", "answer"),
        ("answer<think>unfinished reasoning", "answer"),
        ("<THINK>x</THINK> plain", "plain"),
        ("no reasoning", "no reasoning"),
    ],
)
def test_strip_think(text, expected):
    assert strip_think(text) == expected


def test_extract_json_from_fences_and_prose():
    assert extract_json('```json\n{"units": ["a"]}\n```') == {"units": ["a"]}
    assert extract_json('Sure! Here it is: {"units": []} Hope this helps.') == {"units": []}
    with pytest.raises(ValueError, match="invalid JSON"):
        extract_json('{"units": [')
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("   ")


def test_parse_structured_names_the_field():
    assert parse_structured('<think>hmm</think>{"units": ["A dog runs."]}', Units).units == ["A dog runs."]
    with pytest.raises(ValueError, match="units"):
        parse_structured('{"unit": ["x"]}', Units)


def test_repair_messages_show_the_answer_and_the_problem():
    original = [{"role": "user", "content": "split"}]
    messages = repair_messages(original, '{"units": [', "invalid JSON", Units)
    assert messages[0] == original[0]
    assert messages[1] == {"role": "assistant", "content": '{"units": ['}
    assert "invalid JSON" in messages[2]["content"] and '"units"' in messages[2]["content"]


def test_response_format_modes():
    fmt = response_format(Units, "json_schema")
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Units"
    assert fmt["json_schema"]["schema"]["properties"]["units"]["type"] == "array"
    assert response_format(Units, "json_object") == {"type": "json_object"}
    assert response_format(Units, "off") is None


def test_retry_after_forms():
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(0)
    delays = [backoff_delay(n, 0.5, 4.0, rng) for n in range(6)]
    for n, delay in enumerate(delays):
        nominal = min(4.0, 0.5 * 2**n)
        assert nominal / 2 <= delay <= nominal
    assert max(delays) <= 4.0


def test_retry_after_wins_over_backoff_but_is_capped():
    error = RetryableError("429", retry_after=3.0)
    assert next_wait(0, error, base_s=0.01, max_s=0.02, retry_after_max_s=10) == 3.0
    assert next_wait(0, error, base_s=0.01, max_s=0.02, retry_after_max_s=1) == 1.0


def test_stats_snapshots_subtract():
    stats = LLMStats()
    stats.add(requests=2, prompt_chars=10)
    before = stats.snapshot()
    stats.add(requests=3, completion_chars=7)
    stats.record_latency(0.5)
    delta = stats.snapshot() - before
    assert (delta.requests, delta.prompt_chars, delta.completion_chars) == (3, 0, 7)
    assert delta.latency_max_s == 0.5
