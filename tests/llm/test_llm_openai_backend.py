"""The openai backend against a real HTTP server on loopback: answers, faults, retries, payloads, cache."""

import asyncio
import base64
import logging
import time
from dataclasses import dataclass

import numpy as np
import pytest
from helpers.fixtures import fast_llm_config
from helpers.judge_responder import rules_responder
from helpers.llm_server import Reply

from owlcap.errors import JudgeError
from owlcap.llm import from_spec
from owlcap.units import UnitList, decompose_task, verify_video_task

UNITS = '{"units": ["A dog runs.", "A man throws a ball."]}'
TASK = decompose_task("A dog runs. A man throws a ball.")


def test_valid_answer_and_request_payload(llm_server, monkeypatch, caplog):
    monkeypatch.setenv("OWLCAP_API_KEY", "sk-secret-123")
    caplog.set_level(logging.DEBUG)
    llm_server.push(UNITS)
    judge = from_spec(llm_server.spec("qwen3"), fast_llm_config(cache=False))
    answer = asyncio.run(judge.run(TASK))
    assert isinstance(answer, UnitList) and answer.units == ["A dog runs.", "A man throws a ball."]
    request = llm_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-secret-123"
    body = request.body
    assert body["model"] == "qwen3"
    assert body["temperature"] == 0.7 and body["max_tokens"] == 8192
    assert body["top_k"] == 20  # extra_body is merged into the JSON body by the client
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["name"] == "UnitList"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "sk-secret-123" not in caplog.text
    stats = judge.stats.snapshot()
    assert (stats.calls, stats.successes, stats.requests, stats.failures) == (1, 1, 1, 0)
    assert stats.prompt_tokens > 0 and stats.completion_chars == len(UNITS)


def test_server_extras_off_sends_only_openai_fields(llm_server):
    llm_server.push(UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, server_extras=False, structured_output="off"))
    asyncio.run(judge.run(TASK))
    body = llm_server.requests[0].body
    assert not {"top_k", "chat_template_kwargs", "response_format"} & set(body)


def test_think_blocks_and_fences_are_stripped(llm_server):
    llm_server.responder = rules_responder(think="Let me split this carefully.", fence=True)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    assert asyncio.run(judge.run(TASK)).units == ["A dog runs.", "A man throws a ball."]
    llm_server.push("<think>hmm</think>\nHello there.")
    assert judge.chat_sync([{"role": "user", "content": "Hi"}]) == "Hello there."


def test_malformed_json_gets_one_repair_round(llm_server):
    llm_server.push(Reply.malformed(), UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    assert asyncio.run(judge.run(TASK)).units[0] == "A dog runs."
    repair = llm_server.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"units": ["unterminated'}
    assert "invalid JSON" in repair[-1]["content"]
    assert judge.stats.snapshot().repairs == 1


def test_still_malformed_after_repair_is_a_judge_error(llm_server):
    llm_server.push(Reply.malformed(), Reply.malformed('{"unit": 3}'))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    with pytest.raises(JudgeError, match="repair"):
        asyncio.run(judge.run(TASK))
    stats = judge.stats.snapshot()
    assert (stats.failures, stats.successes, stats.requests) == (1, 0, 2)


@pytest.mark.parametrize(
    "fault",
    [Reply.error(500), Reply.error(503), Reply.garbled(), Reply.drop(), Reply.error(502)],
    ids=["500", "503", "garbled-body", "dropped-connection", "502"],
)
def test_transient_faults_are_retried(llm_server, fault):
    llm_server.push(fault, UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    assert asyncio.run(judge.run(TASK)).units
    stats = judge.stats.snapshot()
    assert (stats.requests, stats.retries, stats.failures) == (2, 1, 0)


def test_client_errors_are_not_retried(llm_server):
    llm_server.push(Reply.error(400, "bad request: unknown field"))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    with pytest.raises(JudgeError, match="HTTP 400"):
        asyncio.run(judge.run(TASK))
    assert len(llm_server.requests) == 1


def test_429_retry_after_is_honoured(llm_server):
    llm_server.push(Reply.rate_limited(0.4), UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    start = time.monotonic()
    asyncio.run(judge.run(TASK))
    gap = llm_server.requests[1].received_at - llm_server.requests[0].received_at
    assert gap >= 0.4, "the retry came before the server's Retry-After"
    assert time.monotonic() - start < 5  # bounded by the settings, not the defaults (minutes); slack for a loaded box


def test_retries_run_out_into_a_judge_error(llm_server):
    llm_server.push(*[Reply.error(500)] * 3)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, max_retries=2))
    with pytest.raises(JudgeError, match="gave up after 3 attempt"):
        asyncio.run(judge.run(TASK))


def test_timeouts_are_retried_then_fail(llm_server):
    llm_server.push(Reply.never(), UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, request_timeout_s=0.3, max_retries=1))
    assert asyncio.run(judge.run(TASK)).units
    llm_server.push(Reply.never(), Reply.never())
    start = time.monotonic()
    with pytest.raises(JudgeError, match="request_timeout_s"):
        asyncio.run(judge.run(TASK))
    assert time.monotonic() - start < 5  # bounded by the settings, not the defaults (minutes); slack for a loaded box


def test_slow_answers_within_the_timeout_are_fine(llm_server):
    llm_server.push(Reply.slow(UNITS, 0.3))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, request_timeout_s=2))
    assert asyncio.run(judge.run(TASK)).units
    assert judge.stats.snapshot().retries == 0


def test_server_killed_mid_batch_every_item_ends_scored_or_failed(llm_server):
    llm_server.responder = rules_responder()
    llm_server.delay_s = 0.05
    llm_server.kill_after(4)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, concurrency=2))
    tasks = [decompose_task(f"Dog number {i} runs across the yard.") for i in range(10)]
    outcomes = judge.chat_many_sync(tasks)
    assert [o.index for o in outcomes] == list(range(10))
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    assert ok and failed, "some items finish before the crash and the rest fail"
    assert all(o.value is None and "connection" in o.error for o in failed)
    assert all(o.value.units for o in ok)
    assert judge.stats.snapshot().failures == len(failed)


def test_concurrency_is_bounded(llm_server):
    llm_server.responder = rules_responder()
    llm_server.delay_s = 0.15
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, concurrency=3))
    outcomes = judge.chat_many_sync([decompose_task(f"Bird {i} sings on a branch.") for i in range(9)])
    assert all(o.ok for o in outcomes)
    assert llm_server.max_in_flight == 3


def test_results_are_cached_on_disk_and_failures_are_not(llm_server, tmp_path):
    config = fast_llm_config(cache=True, cache_path=tmp_path / "judge.sqlite")
    llm_server.push(Reply.error(400), UNITS)
    judge = from_spec(llm_server.spec(), config)
    with pytest.raises(JudgeError):
        asyncio.run(judge.run(TASK))
    first = asyncio.run(judge.run(TASK))
    again = from_spec(llm_server.spec(), config)  # a new process would see the same file
    assert asyncio.run(again.run(TASK)) == first
    assert len(llm_server.requests) == 2
    assert again.stats.snapshot().cache_hits == 1
    other_model = from_spec(llm_server.spec("other"), config)
    llm_server.push(UNITS)
    asyncio.run(other_model.run(TASK))
    assert len(llm_server.requests) == 3, "another model must not reuse the first model's answers"


@dataclass
class FakeVideo:
    frames: np.ndarray
    timestamps: list[float]


def test_video_is_sent_as_jpeg_frames(llm_server):
    frames = np.zeros((3, 32, 48, 3), dtype=np.uint8)
    frames[1, :, :, 0] = 255
    video = FakeVideo(frames, [0.0, 0.5, 1.0])
    llm_server.push('{"verdicts": ["yes", "no"]}')
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    answer = asyncio.run(judge.run(verify_video_task(["A red frame.", "A dog."], video, video_key="clip-1")))
    assert answer.verdicts == ["yes", "no"]
    parts = llm_server.requests[0].body["messages"][1]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == 3
    url = images[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1])[:2] == b"\xff\xd8"  # JPEG magic
    assert "0.0s, 0.5s, 1.0s" in parts[0]["text"]


def test_video_url_transport_sends_the_file(llm_server, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    video = FakeVideo(np.zeros((1, 8, 8, 3), dtype=np.uint8), [0.0])
    llm_server.push('{"verdicts": ["yes"]}')
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, video_transport="video_url"))
    asyncio.run(judge.run(verify_video_task(["A clip."], video, path=str(clip))))
    part = llm_server.requests[0].body["messages"][1]["content"][0]
    assert part["type"] == "video_url"
    assert part["video_url"]["url"].startswith("data:video/mp4;base64,")


def test_a_real_sampled_video_goes_out_frame_by_frame(llm_server, hmd_videos):
    from owlcap.video import sample_frames

    video = sample_frames(hmd_videos[0], nframes=4, min_pixels=28 * 28, max_pixels=28 * 28 * 16)
    llm_server.push('{"verdicts": ["yes"]}', '{"verdicts": ["yes"]}')
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    task = verify_video_task(["A woman stands at a blackboard."], video)
    assert asyncio.run(judge.run(task)).verdicts == ["yes"]
    parts = llm_server.requests[0].body["messages"][1]["content"]
    assert sum(p["type"] == "image_url" for p in parts) == len(video.frames) == 4
    url_judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, video_transport="video_url"))
    asyncio.run(url_judge.run(task))  # the SampledVideo knows its file
    assert llm_server.requests[1].body["messages"][1]["content"][0]["type"] == "video_url"
    assert task.inputs["video"] == verify_video_task(["x"], video).inputs["video"], "frames digest is stable"


def test_chat_many_with_messages_and_a_schema(llm_server):
    llm_server.push(UNITS, Reply.malformed(), Reply.malformed())
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, concurrency=1))
    messages = [{"role": "user", "content": "Split: A dog runs."}]
    outcomes = judge.chat_many_sync([messages, messages], UnitList)
    assert outcomes[0].ok and outcomes[0].value.units[0] == "A dog runs."
    assert not outcomes[1].ok and "repair" in outcomes[1].error
    judge.close()


def test_an_option_set_to_none_sends_no_such_field(llm_server):
    """A judge that must leave sampling to the server (Tarsier's DREAM-1K scorer sends none) sets it to None."""
    llm_server.push("hello", "hello again")
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    judge.chat_sync([{"role": "user", "content": "Hi"}], temperature=None, max_tokens=None, top_k=None)
    judge.chat_sync([{"role": "user", "content": "Hi"}], temperature=0.2)
    unset, set_ = (request.body for request in llm_server.requests)
    assert not {"temperature", "max_tokens", "top_p", "top_k"} & set(unset)
    assert (set_["temperature"], set_["max_tokens"]) == (0.2, 8192)


def _recording_clients(judge, monkeypatch) -> list:
    made = []
    new_client = judge._new_client
    monkeypatch.setattr(judge._clients, "_make", lambda url: made.append(new_client(url)) or made[-1])
    return made


def test_a_caller_that_never_closes_leaves_no_open_client_when_its_loop_ends(llm_server, monkeypatch):
    # Left open, a client is closed later by the garbage collector on whatever loop runs then (another caller's),
    # where its close fails and "Task exception was never retrieved" lands in that caller's output.
    llm_server.push(UNITS, UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    made = _recording_clients(judge, monkeypatch)
    asyncio.run(judge.run(TASK))  # no aclose
    asyncio.run(judge.run(TASK))  # a second loop gets a client of its own
    assert len(made) == 2 and all(client.is_closed() for client in made)
    assert len(judge._clients._by_loop) == 0  # nothing kept for the finished loops


def test_close_and_aclose_close_every_client_and_the_llm_stays_usable(llm_server, monkeypatch):
    llm_server.push(UNITS, UNITS, UNITS)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    made = _recording_clients(judge, monkeypatch)
    assert judge.run_sync(TASK).units  # on the background loop
    judge.close()
    assert len(made) == 1 and made[0].is_closed()

    async def twice() -> None:
        await judge.run(TASK)
        await judge.aclose()
        assert made[1].is_closed()
        await judge.run(TASK)  # a new client on demand
        assert not made[2].is_closed()

    asyncio.run(twice())
    assert len(made) == 3 and made[2].is_closed()  # ...closed with its loop
