import json

import pytest
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.jsonl import iter_jsonl, read_jsonl

FAST = [
    "--nframes",
    "4",
    "--min-pixels",
    str(28 * 28),
    "--max-pixels",
    str(56 * 84),
    "--max-new-tokens",
    "6",
    "--batch-size",
    "2",
]


def _caption(args):
    return CliRunner().invoke(app, ["caption", *args, *FAST])


@pytest.fixture
def bad_inputs(tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video")
    return not_video, tmp_path / "missing.mp4"


def test_captions_every_sample_video(tiny_qwen25, samples_dir, tmp_path):
    out = tmp_path / "captions.jsonl"
    result = _caption([str(samples_dir / "hmd" / "videos"), "--model", str(tiny_qwen25), "--out", str(out)])
    assert result.exit_code == 0, result.output
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == ["blackboard_20350807", "hummingbird_3", "programs_2"]
    for record in records:
        assert record["caption"] and "error" not in record
        assert record["model"] == str(tiny_qwen25)
        assert record["prompt"] == "Describe this video in detail."
        assert record["sampling"]["nframes"] == 4 and record["frames"] == 4
        assert record["seconds"] > 0


def test_failed_videos_get_error_lines_and_the_batch_goes_on(tiny_qwen25, hmd_videos, bad_inputs, tmp_path):
    out = tmp_path / "captions.jsonl"
    not_video, missing = bad_inputs
    manifest = tmp_path / "more.jsonl"  # a missing video named on the command line is refused up front instead
    manifest.write_text(json.dumps({"id": "missing", "video": str(missing)}) + "\n")
    inputs = [str(hmd_videos[1]), str(not_video), str(manifest), str(hmd_videos[2])]
    result = _caption([*inputs, "--model", str(tiny_qwen25), "--out", str(out)])
    assert result.exit_code == 1
    records = {r["id"]: r for r in read_jsonl(out)}
    assert records["hummingbird_3"]["caption"] and records["programs_2"]["caption"]
    assert records["notes"]["error"].startswith("video: not a readable video")
    assert records["missing"]["error"] == "video: no such file" and "caption" not in records["missing"]
    assert "2 input(s) failed" in result.output


def test_rerun_skips_done_ids_and_retries_failures(tiny_qwen25, hmd_videos, bad_inputs, tmp_path):
    out = tmp_path / "captions.jsonl"
    not_video, _ = bad_inputs
    args = [str(hmd_videos[1]), str(not_video), "--model", str(tiny_qwen25), "--out", str(out)]
    assert _caption(args).exit_code == 1
    first = read_jsonl(out)
    rerun = _caption(args)
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == 1 and summary["captioned"] == 0 and summary["failed"] == 1
    second = read_jsonl(out)
    assert second[0] == first[0]  # the finished caption is left as it was
    assert [r["id"] for r in second] == ["hummingbird_3", "notes"]  # the retried failure replaced its old line


def test_manifest_input_resolves_relative_paths_and_reports_bad_lines(tiny_qwen25, samples_dir, tmp_path):
    manifest = tmp_path / "videos.jsonl"
    video = samples_dir / "hmd" / "videos" / "hummingbird_3.mp4"
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "bird.mp4").symlink_to(video)
    manifest.write_text(
        json.dumps({"id": "bird", "video": "clips/bird.mp4"}) + "\n{broken json\n" + json.dumps({"id": "x"}) + "\n"
    )
    out = tmp_path / "captions.jsonl"
    result = _caption([str(manifest), "--model", str(tiny_qwen25), "--out", str(out)])
    assert result.exit_code == 1
    assert [r["id"] for r in read_jsonl(out)] == ["bird"]
    assert "videos.jsonl:2" in result.output and "videos.jsonl:3" in result.output


def test_a_torn_last_line_from_a_crash_is_redone(tiny_qwen25, hmd_videos, tmp_path):
    out = tmp_path / "captions.jsonl"
    out.write_text('{"id": "hummingbird_3", "capt')
    result = _caption([str(hmd_videos[1]), "--model", str(tiny_qwen25), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = list(iter_jsonl(out))
    assert all(line.error is None for line in lines)  # the torn line is dropped: the file loads anywhere
    assert [line.record["id"] for line in lines] == ["hummingbird_3"]
