"""Captioning through an OpenAI-compatible video server: ``owlcap caption --model openai:...`` keeps requests in
flight, isolates failures and fails at once on a dead server."""

from __future__ import annotations

import pytest
from helpers.llm_server import LoopbackLLMServer, Reply
from helpers.scripted_judges import caption_for
from typer.testing import CliRunner

from owlcap.caption.engines import RemoteCaptionEngine, load_caption_engine
from owlcap.cli.main import app
from owlcap.errors import ConfigError
from owlcap.jsonl import read_jsonl

FAST = ["--nframes", "4", "--min-pixels", str(28 * 28), "--max-pixels", str(56 * 84)]


def _failing_long_videos(request):
    """A 400 for the 28 s video (its last frame is past 20 s), a caption for the others."""
    text = request.text_of("user")
    if any(f"{second}." in text for second in range(20, 29)):
        return Reply.error(400, "video too long for this server")
    return Reply.ok(caption_for(text))


def test_caption_cli_through_a_server_keeps_requests_in_flight_and_isolates_failures(samples_dir, tmp_path):
    with LoopbackLLMServer(_failing_long_videos, slots=8, delay_s=0.3) as server:
        out = tmp_path / "captions.jsonl"
        args = ["caption", str(samples_dir / "hmd" / "videos"), "--model", server.spec("qwen2.5-vl")]
        result = CliRunner().invoke(app, [*args, "--out", str(out), "--concurrency", "4", *FAST])
        requests = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert result.exit_code == 1, result.output
    assert requests[0].body["messages"] == [{"role": "user", "content": "Reply with OK."}]  # the server check
    requests = requests[1:]
    records = {r["id"]: r for r in read_jsonl(out)}
    failed = records["hummingbird_3"]["error"]
    assert (
        failed.startswith("generation: RuntimeError")
        and "HTTP 400" in failed
        and "caption" not in records["hummingbird_3"]
    )
    for video in ("blackboard_20350807", "programs_2"):
        assert records[video]["caption"].startswith("A person walks") and records[video]["frames"] == 4
        assert records[video]["model"] == server.spec("qwen2.5-vl")
    body = requests[0].body
    parts = body["messages"][0]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url", "image_url", "image_url", "text"]
    assert parts[-1]["text"] == "Describe this video in detail." and body["temperature"] == 0.0
    assert server.max_in_flight >= 2  # the runner sends videos concurrently to a server


def test_a_dead_caption_server_fails_at_once_in_one_line(samples_dir, tmp_path):
    out = tmp_path / "captions.jsonl"
    args = ["caption", str(samples_dir / "hmd" / "videos"), "--model", "openai:qwen@http://127.0.0.1:9/v1"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), *FAST])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "the caption server openai:qwen@http://127.0.0.1:9/v1 did not answer a test request" in result.stderr
    assert not out.exists() or not out.read_text().strip()  # no video was sent, so none failed


def test_load_caption_engine_picks_the_engine(tmp_path):
    engine = load_caption_engine("openai:qwen@http://127.0.0.1:9/v1", check=False)
    assert isinstance(engine, RemoteCaptionEngine) and engine.max_concurrent_batches == 16
    assert engine.name == "openai:qwen@http://127.0.0.1:9/v1"
    engine.close()
    with pytest.raises(ConfigError, match="cannot see videos"):
        load_caption_engine("rules")
