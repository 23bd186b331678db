"""``owlcap probe``: one JSON line per video, errors as lines, exit status 1 with a summary."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from owlcap.cli.main import app


def test_probe_prints_one_json_line_per_video(hmd_videos):
    result = CliRunner().invoke(app, ["probe", *map(str, hmd_videos)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["video"] for line in lines] == [str(video) for video in hmd_videos]
    assert {line["num_frames"] for line in lines} == {330, 681, 159}
    assert set(lines[0]) == {"video", "duration", "fps", "num_frames", "width", "height", "codec", "rotation"}


def test_probe_reports_failures_and_goes_on(hmd_videos, text_file, truncated_video, tmp_path):
    missing = tmp_path / "missing.mp4"
    args = ["probe", "--exact", str(text_file), str(hmd_videos[0]), str(truncated_video), str(missing)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["video"] for line in lines] == args[2:]
    assert "not a readable video" in lines[0]["error"] and lines[1]["num_frames"] == 330
    assert lines[2]["error"].startswith("truncated") and lines[3]["error"] == "no such file"
    assert "3 of 4 videos could not be probed" in result.stderr
