"""``owlcap caption`` when things go wrong: a config file's values stand unless a flag is given, an output made with
other settings is refused (resumed only with the same ones), and bad options end in one line, exit status 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.jsonl import read_jsonl

SMALL = ["--nframes", "4", "--min-pixels", str(28 * 28), "--max-pixels", str(56 * 84), "--max-new-tokens", "4"]


def _caption(*args: str):
    return CliRunner().invoke(app, ["caption", *map(str, args)])


def test_a_config_files_values_stand_unless_a_flag_is_given(tiny_qwen25, hmd_videos, tmp_path):
    config = tmp_path / "caption.yaml"
    settings = {
        "sampling": {"nframes": 4, "min_pixels": 28 * 28, "max_pixels": 56 * 84},
        "generation": {"max_new_tokens": 3, "temperature": 0.7, "top_p": 0.9, "seed": 1},
        "batch_size": 1,
    }
    config.write_text(yaml.safe_dump(settings))
    out = tmp_path / "captions.jsonl"
    result = _caption(hmd_videos[1], "--model", tiny_qwen25, "--out", out, "--config", config, "--max-new-tokens", "2")
    assert result.exit_code == 0, result.output
    generation = read_jsonl(out)[0]["generation"]
    assert generation["max_new_tokens"] == 2  # given on the command line
    assert (generation["temperature"], generation["top_p"], generation["seed"]) == (0.7, 0.9, 1)  # from the file


def test_other_settings_are_refused_the_same_resume_and_overwrite_starts_afresh(tiny_qwen25, hmd_videos, tmp_path):
    out = tmp_path / "captions.jsonl"
    base = [hmd_videos[1], "--model", tiny_qwen25, "--out", out, *SMALL]
    assert _caption(*base).exit_code == 0
    made = out.read_bytes()
    meta = json.loads((tmp_path / "captions.jsonl.meta.json").read_text())
    assert meta["settings"]["model"] == str(tiny_qwen25) and meta["settings"]["sampling"]["nframes"] == 4

    refused = _caption(*base, "--prompt", "Say what happens.", "--temperature", "0.5")
    assert refused.exit_code == 2 and out.read_bytes() == made
    assert "prompt: 'Describe this video in detail.' -> 'Say what happens.'" in refused.output
    assert "generation.temperature: 0.0 -> 0.5" in refused.output and "--overwrite" in refused.output

    resumed = _caption(*base)
    assert resumed.exit_code == 0 and json.loads(resumed.stdout.splitlines()[-1])["skipped"] == 1
    assert out.read_bytes() == made

    fresh = _caption(*base, "--prompt", "Say what happens.", "--overwrite")
    assert fresh.exit_code == 0, fresh.output
    assert [record["prompt"] for record in read_jsonl(out)] == ["Say what happens."]
    assert json.loads((tmp_path / "captions.jsonl.meta.json").read_text())["settings"]["prompt"] == "Say what happens."


def test_a_file_without_its_sidecar_is_checked_against_its_records(tiny_qwen25, hmd_videos, tmp_path):
    out = tmp_path / "captions.jsonl"
    record = {"id": "x", "video": "x.mp4", "model": "another/model", "prompt": "Describe this video in detail."}
    out.write_text(json.dumps(record | {"caption": "An old caption."}) + "\n")
    refused = _caption(hmd_videos[1], "--model", tiny_qwen25, "--out", out, *SMALL)
    assert refused.exit_code == 2 and f"model: 'another/model' -> '{tiny_qwen25}'" in refused.output


def test_a_video_failing_on_every_run_keeps_one_line(tiny_qwen25, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "captions.jsonl"
    for _ in range(3):
        assert _caption(broken, "--model", tiny_qwen25, "--out", out, *SMALL).exit_code == 1
    assert [record["id"] for record in read_jsonl(out)] == ["broken"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--fps", "1", "--nframes", "4"], "give --fps or --nframes, not both"),
        (["--min-pixels", "900000", "--max-pixels", "1000"], "min_pixels (900000) > max_pixels (1000)"),
        (["--model", "{tmp}/runs/doesnotexist"], "runs/doesnotexist: no such folder"),
        (["--model", "{tmp}/empty-run"], "empty-run: the folder holds no config.json"),
        (["--out", "{tmp}"], "is a folder; name a file"),
        (["--out", "{tmp}/a-file.txt/captions.jsonl"], "cannot create the folder"),
        (["--device", "cuda:7"], "device 'cuda:7'"),
        (["--device", "gpu"], "not a device name"),
    ],
)
def test_bad_options_end_in_one_line(tiny_qwen25, hmd_videos, tmp_path, options, message):
    (tmp_path / "empty-run").mkdir()
    (tmp_path / "a-file.txt").write_text("")
    defaults = {"--model": str(tiny_qwen25), "--out": str(tmp_path / "captions.jsonl")}
    options = [option.format(tmp=tmp_path) for option in options]
    for flag, value in defaults.items():
        if flag not in options:
            options += [flag, value]
    result = _caption(hmd_videos[1], *options)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "captions.jsonl").exists()
