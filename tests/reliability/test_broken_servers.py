"""Broken servers cost their item, never the run: a 200 of the wrong shape (``content`` an int, a list or an object;
``choices`` a string; ``usage`` holding words) or of absurd size is retried, then that item's failure, counted like
any other; an empty or null caption is a failed caption, asked again, never a saved ``"caption": ""``; and what the
answers are written into (records, the viewer, evaluation items) stays small."""

from __future__ import annotations

import json

import pytest
from helpers.buildkit import build_config, write_manifest
from helpers.cli import SMALL, invoke
from helpers.fixtures import fast_llm_config
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer, RecordedRequest, Reply
from helpers.scripted_judges import responder

from owlcap.jsonl import read_jsonl
from owlcap.llm import from_spec

HUGE = "word " * 2_000_000  # 10 MB of answer


def completion(choices: object = None, usage: object = None, content: object = "An answer.") -> Reply:
    """A 200 chat.completion body with any shape."""
    if choices is None:
        choices = [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return Reply(body=json.dumps(body))


WRONG_SHAPES = {
    "content an int": completion(content=5),
    "content a list": completion(content=["A", "dog"]),
    "content an object": completion(content={"text": "A dog."}),
    "choices a string": completion(choices="A dog runs."),
    "no choices": completion(choices=[]),
    "usage with words": completion(usage={"prompt_tokens": "many", "completion_tokens": "few"}),
    "a body that is not an object": Reply(body='["A dog runs."]'),
}


@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_a_wrong_shape_is_retried_then_that_items_failure_alone(llm_server, shape):
    llm_server.responder = lambda r: WRONG_SHAPES[shape] if "broken" in r.text_of("user") else Reply.ok("Fine.")
    llm = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    try:
        items = [[{"role": "user", "content": "broken"}], [{"role": "user", "content": "healthy"}]]
        broken, healthy = llm.chat_many_sync(items)
    finally:
        llm.close()
    assert healthy.ok and healthy.value == "Fine."
    assert not broken.ok and "gave up after 3 attempt(s): invalid answer from" in broken.error
    assert "not a chat completion" in broken.error
    stats = llm.stats.snapshot()
    assert (stats.failures, stats.successes, stats.retries) == (1, 1, 2)


def test_an_answer_past_its_bound_is_refused_and_the_body_is_not_read_whole(llm_server):
    llm_server.responder = lambda r: Reply.ok(HUGE)
    llm = from_spec(llm_server.spec(), fast_llm_config(cache=False, max_retries=0))
    try:
        (outcome,) = llm.chat_many_sync([[{"role": "user", "content": "Describe."}]])
    finally:
        llm.close()
    assert not outcome.ok and "a body over" in outcome.error and "max_tokens" in outcome.error
    assert llm.stats.snapshot().completion_chars == 0  # nothing of it reached a caller


def _breaking(broken: Reply, healed: list):
    """A captioner that answers ``broken`` to the video asked for with the prompt naming it, captions the others;
    once ``healed`` holds anything, it captions that one too."""
    answer = responder()
    return lambda r: broken if "broken video" in r.text_of("user") and not healed else answer(r)


@pytest.mark.parametrize(
    ("broken", "cause"),
    [
        (completion(content=7), "not a chat completion"),
        (completion(choices="A caption."), "not a chat completion"),
        (Reply.ok(HUGE), "a body over"),
        (Reply.ok(""), "an empty caption"),
        (completion(content=None), "an empty caption"),
        (Reply.ok("<think>Let me look.</think>"), "an empty caption"),
    ],
    ids=["content an int", "choices a string", "10 MB", "empty", "null", "reasoning only"],
)
def test_caption_fails_only_the_video_whose_answer_is_broken(clips, tmp_path, broken, cause):
    out = tmp_path / "captions.jsonl"
    manifest = write_manifest(tmp_path / "v.jsonl", [{"id": "b", "video": str(clips[0]), "prompt": "A broken video?"}])
    inputs = [manifest, clips[1], clips[2]]
    healed: list = []
    with LoopbackLLMServer(_breaking(broken, healed)) as server:
        result = invoke("caption", *inputs, "--model", server.spec("c"), "--out", out, *SMALL)
        assert result.exit_code == 1, result.output
        records = {r["id"]: r for r in read_jsonl(out)}
        assert "caption" not in records["b"] and cause in records["b"]["error"]
        assert records[clips[1].stem]["caption"] and records[clips[2].stem]["caption"]
        assert json.loads(result.stdout.splitlines()[-1])["failed"] == 1
        assert out.stat().st_size < 10_000 and "Traceback" not in result.output

        healed.append(True)  # a re-run retries it
        again = invoke("caption", *inputs, "--model", server.spec("c"), "--out", out, *SMALL)
    assert again.exit_code == 0, again.output
    assert all(r.get("caption") for r in read_jsonl(out)) and len(read_jsonl(out)) == 3


def _examine_responder(request: RecordedRequest):
    """HMD answers, except: the verifier of a zebra's units answers an int; the splitter of a giraffe 10 MB."""
    user = request.text_of("user")
    if request.schema_name == "VerdictList" and "zebra" in user:
        return completion(content=12)
    if request.schema_name == "UnitList" and "giraffe" in user:
        return Reply.ok(json.dumps({"units": [HUGE]}))
    return hmd_responder()(request)


def test_a_build_fails_only_the_records_with_broken_answers_and_its_pages_stay_small(clips, tmp_path):
    long_caption = " ".join(f"The dog runs past tree number {i}." for i in range(400))  # about 14k characters
    manifest = write_manifest(
        tmp_path / "captions.jsonl",
        [
            {"id": "zebra", "video": str(clips[3]), "caption": "A zebra runs. The zebra stops."},
            {"id": "giraffe", "video": str(clips[4]), "caption": "A giraffe eats. The giraffe walks."},
            {"id": "long", "video": str(clips[5]), "caption": long_caption},
        ],
    )
    with LoopbackLLMServer(_examine_responder) as server:
        config = tmp_path / "examine.yaml"
        config.write_text(json.dumps(build_config(server, tmp_path, llm={"max_retries": 1})))
        result = invoke("data", "examine", manifest, "--out", tmp_path / "out", "-c", config)
    assert result.exit_code == 1, result.output
    records = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "records.jsonl")}
    assert records["zebra"]["failure"]["stage"] == "verifier" and "not a chat completion" in records["zebra"]["error"]
    assert records["giraffe"]["failure"]["stage"] == "splitter" and "a body over" in records["giraffe"]["error"]
    assert records["long"]["status"] == "kept"
    assert "Traceback" not in result.output
    assert (tmp_path / "out" / "records.jsonl").stat().st_size < 200_000
    viewer = (tmp_path / "out" / "report" / "index.html").read_text()
    assert len(viewer) < 200_000 and long_caption not in viewer
    assert 'href="../records.jsonl"' in viewer and "more characters: the full record" in viewer


def _judge_breaking(marker: str, broken: Reply):
    answer = responder()

    def respond(request: RecordedRequest):
        return broken if marker in request.text_of("user").lower() else answer(request)

    return respond


@pytest.mark.parametrize(("broken", "cause"), [(completion(content=3), "not a chat completion"),
                                                (Reply.ok(HUGE), "a body over")])  # fmt: skip
def test_an_evaluation_counts_the_items_a_broken_judge_failed(samples_dir, tmp_path, broken, cause):
    from owlcap.eval.dream1k.data import load

    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = load(annotations).items[:4]
    captions = tmp_path / "captions.jsonl"
    lines = [
        {"id": item.id, "caption": ("A zebra. " if n == 0 else "") + item.reference} for n, item in enumerate(items)
    ]
    captions.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with LoopbackLLMServer(_judge_breaking("zebra", broken)) as judge:
        result = invoke(
            "eval", "dream1k", "--annotations", annotations, "--captions", captions, "--limit", "4",
            "--judge", judge.spec("gpt-3.5-turbo-0125"), "--retries", "1", "--out", tmp_path / "run",
            "--report.plots", "false", "--report.bootstrap_samples", "0",
        )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["counts"]["failed"] == 1 and "Traceback" not in result.output
    failed = [item for item in read_jsonl(tmp_path / "run" / "items.jsonl") if item["status"] == "failed"]
    assert len(failed) == 1 and cause in json.dumps(failed[0])
    assert (tmp_path / "run" / "items.jsonl").stat().st_size < 200_000
