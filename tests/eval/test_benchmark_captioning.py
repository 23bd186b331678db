"""Benchmark runs that caption first, through an OpenAI-compatible video server or an in-process model (the sample
HMD videos standing in for benchmark videos)."""

from __future__ import annotations

import json

from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import responder

from owlcap.eval import evaluate_dream1k, evaluate_vdc
from owlcap.eval.prompt_sets import load_prompt_set, official_file
from owlcap.eval.vdc import prompts as vdc_prompts
from owlcap.jsonl import read_jsonl

SAMPLING = {"nframes": 4, "min_pixels": 28 * 28, "max_pixels": 56 * 84}


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


def test_vdc_captions_each_dimension_with_a_prompt_from_its_pool(samples_dir, tmp_path):
    qa_dir = samples_dir / "vdc"
    ids = ["07309684-1f6e-4977-ab74-f3e63c361f36", "0d271871-c8ba-4249-9434-d39ce0060e58"]
    with LoopbackLLMServer(responder()) as server:
        config = {
            "qa_dir": str(qa_dir),
            "dimensions": ["camera", "short"],
            "limit": 2,
            "prompts": str(official_file("vdc")),
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
    prompts = load_prompt_set("official", benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)
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
