"""Captioning through an OpenAI-compatible video server: ``owlcap caption --model openai:...`` and benchmark runs
that caption first (sample HMD videos standing in for benchmark videos)."""

from __future__ import annotations

import json

import pytest
from helpers.llm_server import LoopbackLLMServer, Reply
from scripted_judges import caption_for, responder
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.errors import ConfigError
from owlcap.eval import evaluate_dream1k, evaluate_vdc, load_caption_engine
from owlcap.eval.engines import RemoteCaptionEngine
from owlcap.eval.prompt_sets import load_prompt_set
from owlcap.eval.vdc import prompts as vdc_prompts
from owlcap.jsonl import read_jsonl

FAST = ["--nframes", "4", "--min-pixels", str(28 * 28), "--max-pixels", str(56 * 84)]
SAMPLING = {"nframes": 4, "min_pixels": 28 * 28, "max_pixels": 56 * 84}


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


def _manifest(samples_dir, tmp_path, ids):
    videos = sorted((samples_dir / "hmd" / "videos").glob("*.mp4"))
    path = tmp_path / "videos.jsonl"
    path.write_text("".join(json.dumps({"id": i, "video": str(v)}) + "\n" for i, v in zip(ids, videos, strict=False)))
    return path


def test_dream1k_captions_sample_videos_standing_in_then_judges(samples_dir, tmp_path):
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    with LoopbackLLMServer(responder()) as server:
        config = {
            "annotations": str(annotations),
            "limit": 4,
            "captioning": {
                "videos": str(_manifest(samples_dir, tmp_path, ["1", "2", "3"])),
                "model": server.spec("qwen2.5-vl"),
                "sampling": SAMPLING,
            },
            "judge": {"model": server.spec("judge"), "concurrency": 8},
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
        result = evaluate_dream1k(config)
    captions = read_jsonl(tmp_path / "run" / "captions.jsonl")
    assert sorted(c["id"] for c in captions) == ["1", "2", "3"]
    assert {c["prompt"] for c in captions} == {"Describe the video in detail."}
    counts = result.report["counts"]
    assert (counts["judged"], counts["no_caption"]) == (3, 1)  # item 4 has no video
    assert result.report["captions"]["captioning"]["videos_missing"] == ["4"]


def test_vdc_captions_each_dimension_with_a_prompt_from_its_pool(samples_dir, benchmarks_dir, tmp_path):
    qa_dir = samples_dir / "vdc"
    ids = ["07309684-1f6e-4977-ab74-f3e63c361f36", "0d271871-c8ba-4249-9434-d39ce0060e58"]
    with LoopbackLLMServer(responder()) as server:
        config = {
            "qa_dir": str(qa_dir),
            "dimensions": ["camera", "short"],
            "limit": 2,
            "prompts": str(benchmarks_dir / "vdc" / "official_prompts.json"),
            "captioning": {
                "videos": str(_manifest(samples_dir, tmp_path, ids)),
                "model": server.spec("qwen2.5-vl"),
                "sampling": SAMPLING,
            },
            "judge": {"model": server.spec("judge"), "concurrency": 8},
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
        result = evaluate_vdc(config)
    captions = {c["id"]: c for c in read_jsonl(tmp_path / "run" / "captions.jsonl")}
    prompts = load_prompt_set(
        "official", benchmark="vdc", search_dirs=[benchmarks_dir / "vdc"], required=vdc_prompts.REQUIRED
    )
    assert sorted(captions) == sorted(f"{d}/{v}" for d in ("camera", "short") for v in ids)
    for key, record in captions.items():
        assert record["prompt"] in prompts.get("caption_prompt_pools", key.split("/")[0])
    assert result.report["counts"]["judged"] == 4 and result.complete
    items = {r["key"]: r for r in read_jsonl(tmp_path / "run" / "items.jsonl")}
    assert items[f"camera/{ids[0]}#0"]["caption_prompt"] == captions[f"camera/{ids[0]}"]["prompt"]


def test_a_benchmark_run_captions_with_an_in_process_model_too(tiny_qwen25, samples_dir, tmp_path):
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    with LoopbackLLMServer(responder()) as server:
        result = evaluate_dream1k(
            {
                "annotations": str(annotations),
                "limit": 2,
                "captioning": {
                    "videos": str(_manifest(samples_dir, tmp_path, ["1", "2"])),
                    "model": str(tiny_qwen25),
                    "sampling": SAMPLING,
                    "generation": {"max_new_tokens": 6},
                    "batch_size": 2,
                },
                "judge": {"model": server.spec("judge"), "concurrency": 4},
                "out": str(tmp_path / "run"),
                "report": {"bootstrap_samples": 0, "plots": False},
            }
        )
    captions = read_jsonl(tmp_path / "run" / "captions.jsonl")
    assert [c["model"] for c in captions] == [str(tiny_qwen25)] * 2 and all("caption" in c for c in captions)
    assert result.report["captions"]["captioners"] == [str(tiny_qwen25)]
    assert result.report["counts"]["items"] == 2 and result.report["counts"]["no_caption"] == 0
