"""One decode per clip: items asking one video several prompts (VDC's five dimensions) share one decode, and their
captions equal those of the old path that decoded the video once per prompt."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import responder

from owlcap.caption import runner
from owlcap.caption.config import CaptionConfig
from owlcap.caption.engines import RemoteCaptionEngine
from owlcap.caption.runner import caption_videos
from owlcap.data.sources import VideoItem
from owlcap.jsonl import read_jsonl
from owlcap.models import load_mllm
from owlcap.video import SamplingConfig

SAMPLING = {"nframes": 4, "min_pixels": 28 * 28, "max_pixels": 56 * 84}
PROMPTS = ["Describe the camera.", "One sentence, please.", "What is in the background?"]


def items_for(videos: list[Path]) -> list[VideoItem]:
    """Every prompt for every video, prompt by prompt (the order a benchmark plans its dimensions in)."""
    return [
        VideoItem(f"{p}/{video.stem}", str(video), (("prompt", prompt),))
        for p, prompt in enumerate(PROMPTS)
        for video in videos
    ]


@pytest.fixture
def decodes(monkeypatch) -> Counter:
    """How many times each video file is decoded."""
    counted: Counter = Counter()
    original = SamplingConfig.sample

    def counting(self, path, **kwargs):
        counted[Path(path).name] += 1
        return original(self, path, **kwargs)

    monkeypatch.setattr(SamplingConfig, "sample", counting)
    return counted


def per_prompt_path(monkeypatch) -> None:
    """The old path: every item its own clip, so every prompt decodes its video again."""
    monkeypatch.setattr(runner, "_clip_key", lambda item: item.id)


def test_an_in_process_model_captions_each_video_from_one_decode_as_before(
    tiny_qwen25, hmd_videos, decodes, monkeypatch, tmp_path
):
    videos = hmd_videos[:2]
    engine = load_mllm(str(tiny_qwen25))
    config = CaptionConfig(sampling=SAMPLING, generation={"max_new_tokens": 8}, batch_size=1)
    once = caption_videos(items_for(videos), tmp_path / "once.jsonl", engine, config)
    assert once.captioned == 6 and decodes == {video.name: 1 for video in videos}
    decodes.clear()
    per_prompt_path(monkeypatch)
    caption_videos(items_for(videos), tmp_path / "before.jsonl", engine, config)
    assert decodes == {video.name: 3 for video in videos}
    new = {r["id"]: r for r in read_jsonl(tmp_path / "once.jsonl")}
    old = {r["id"]: r for r in read_jsonl(tmp_path / "before.jsonl")}
    assert {k: (r["caption"], r["prompt"], r["frames"]) for k, r in new.items()} == {
        k: (r["caption"], r["prompt"], r["frames"]) for k, r in old.items()
    }


def test_a_server_gets_the_same_frames_for_every_prompt_and_one_decode_per_clip(
    hmd_videos, decodes, monkeypatch, tmp_path
):
    """Through a server every request carries the frames: the requests of both paths are equal, byte for byte."""
    videos = hmd_videos[:2]
    trimmed = VideoItem("trimmed", str(videos[0]), (("prompt", PROMPTS[0]),), start=0.0, end=2.0)
    missing = [
        VideoItem(f"missing/{i}", str(tmp_path / "gone.mp4"), (("prompt", p),)) for i, p in enumerate(PROMPTS[:2])
    ]
    items = [*items_for(videos), trimmed, *missing]
    config = CaptionConfig(sampling=SAMPLING)
    bodies = {}
    for name in ("once", "before"):
        if name == "before":
            decodes.clear()
            per_prompt_path(monkeypatch)
        with LoopbackLLMServer(responder()) as server:
            engine = RemoteCaptionEngine(server.spec("qwen2.5-vl"))
            summary = caption_videos(items, tmp_path / f"{name}.jsonl", engine, config)
            engine.close()
            bodies[name] = sorted(str(request.body["messages"]) for request in server.requests)
        assert summary.captioned == 7 and summary.failed == 2
        if name == "once":
            # One decode per clip: each video once for its three prompts, the trimmed clip apart, the missing file
            # tried once for its two items (both get its error).
            assert decodes == {videos[0].name: 2, videos[1].name: 1, "gone.mp4": 1}
    assert decodes == {videos[0].name: 4, videos[1].name: 3, "gone.mp4": 2}
    assert bodies["once"] == bodies["before"]
    once = {r["id"]: r for r in read_jsonl(tmp_path / "once.jsonl")}
    assert once["missing/0"]["error"] == once["missing/1"]["error"] == "video: no such file"
    assert once["trimmed"]["frames"] == 4 and once["trimmed"]["end"] == 2.0
