"""``owlcap caption`` on the released OwlCap line format: only each line's clip is sampled and captioned."""

import json

from typer.testing import CliRunner

from owlcap.caption.config import CaptionConfig
from owlcap.caption.runner import caption_videos
from owlcap.cli.main import app
from owlcap.data.sources import collect_videos
from owlcap.jsonl import read_jsonl
from owlcap.video import SamplingConfig


def _released_manifest(tmp_path, video):
    """Released lines (singular video, conversations, optional start_time/end_time, no id) cut from one video."""
    turns = [{"from": "human", "value": "<video>\nDescribe this video in detail."}, {"from": "gpt", "value": "A."}]
    lines = [
        {"video": str(video), "conversations": turns, "start_time": 2.0, "end_time": 5.0},
        {"video": str(video), "conversations": turns},
        {"video": str(video), "conversations": turns, "start_time": None, "end_time": None, "id": "nulls"},
        {"video": str(video), "conversations": turns, "start_time": 8.0, "end_time": None},
    ]
    path = tmp_path / "released.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


class RecordingEngine:
    """Stands in for the model: keeps every request's sampled video, answers with a fixed caption."""

    name, vision_factor = "recorder", 28

    def __init__(self):
        self.videos = []

    def generate(self, requests, options):
        self.videos += [request.video for request in requests]
        return ["A caption."] * len(requests)


def test_each_released_line_is_captioned_from_its_clip_only(tmp_path, hmd_videos):
    bird = next(v for v in hmd_videos if v.stem == "hummingbird_3")  # 11 s
    items, errors = collect_videos([_released_manifest(tmp_path, bird)])
    assert errors == [] and [i.id for i in items] == ["hummingbird_3@2-5", "hummingbird_3", "nulls", "hummingbird_3@8-"]
    engine = RecordingEngine()
    config = CaptionConfig(sampling=SamplingConfig(nframes=4, min_pixels=28 * 28, max_pixels=56 * 56), batch_size=4)
    summary = caption_videos(items, tmp_path / "out.jsonl", engine, config)
    assert summary.captioned == 4
    clip, whole, nulls, tail = (video.timestamps for video in engine.videos)
    assert all(2.0 <= t <= 5.0 for t in clip), clip
    assert all(t >= 8.0 for t in tail) and whole[0] < 1.0 and whole[-1] > 10.0 and nulls == whole
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [(r.get("start"), r.get("end")) for r in records] == [(2.0, 5.0), (None, None), (None, None), (8.0, None)]


def test_owlcap_caption_runs_on_released_lines(tiny_qwen25, tmp_path, hmd_videos):
    bird = next(v for v in hmd_videos if v.stem == "hummingbird_3")
    out = tmp_path / "captions.jsonl"
    args = ["caption", str(_released_manifest(tmp_path, bird)), "--model", str(tiny_qwen25), "--out", str(out)]
    fast = ["--nframes", "4", "--min-pixels", "784", "--max-pixels", "3136", "--max-new-tokens", "4"]
    result = CliRunner().invoke(app, [*args, *fast, "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    records = read_jsonl(out)
    assert len(records) == 4 and all(r["caption"] is not None and r["frames"] == 4 for r in records)
    assert (records[0]["start"], records[0]["end"]) == (2.0, 5.0) and "start" not in records[1]
