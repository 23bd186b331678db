"""Inputs are checked before anything is loaded or written: a missing input, an empty folder or manifest, a dead
server or a malformed model spec is one ``error:`` line, exit 2, and leaves nothing behind that would trip the next,
correct command. Manifests are read as users write them (a BOM, symlinked folders), ids are real ids, captions are
printed as written, and a caption file that lost its sidecar still refuses another prompt."""

from __future__ import annotations

import json

import pytest
from helpers.buildkit import build_config, write_manifest
from helpers.cli import SMALL, error_lines, invoke
from helpers.llm_server import LoopbackLLMServer

from owlcap.data.records import clip_trims
from owlcap.data.sources import collect_videos
from owlcap.errors import ConfigError
from owlcap.llm import parse_spec
from owlcap.video import rules


def _one_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = error_lines(result.stderr)
    return line


def test_caption_with_a_missing_input_loads_nothing_and_writes_nothing(tmp_path):
    out = tmp_path / "new" / "x.jsonl"
    missing = tmp_path / "nope"
    result = invoke("caption", f"{missing}/", "--model", tmp_path / "no-such-model", "--out", out)
    assert (
        _one_error(result)
        == f"error: input {missing}: no such folder, manifest or video file (No such file or directory)"
    )
    assert not (tmp_path / "new").exists()  # no x.jsonl, no x.jsonl.meta.json: the next command is not tripped


@pytest.mark.parametrize("empty", ["folder", "manifest"])
def test_an_empty_folder_or_manifest_is_a_user_error(captioner, clips, tmp_path, empty):
    source = tmp_path / "videos"
    if empty == "folder":
        source.mkdir()
    else:
        source = tmp_path / "videos.jsonl"
        source.write_text("")
    line = _one_error(invoke("caption", source, "--model", captioner.spec("c"), "--out", tmp_path / "c.jsonl"))
    assert line.startswith(f"error: {source}: no videos in the inputs (an empty folder or manifest?)")
    with LoopbackLLMServer() as server:
        config = tmp_path / "build.yaml"
        config.write_text(json.dumps(build_config(server, tmp_path)))
        built = invoke("data", "build", source, "--out", tmp_path / "out", "-c", config)
    assert _one_error(built).startswith(f"error: {source}: no videos in the inputs")
    assert not (tmp_path / "out").exists() and not (tmp_path / "c.jsonl").exists()


def test_data_build_with_a_missing_folder_is_a_user_error(tmp_path):
    result = invoke("data", "build", tmp_path / "nope_dir", "--out", tmp_path / "out", "--verifier", "hf:x")
    assert _one_error(result).startswith(f"error: input {tmp_path / 'nope_dir'}: no such folder")
    assert not (tmp_path / "out").exists()


def test_data_examine_with_a_dead_server_fails_up_front(clips, tmp_path):
    dead = LoopbackLLMServer().start()
    dead.stop()  # its port is closed now
    manifest = write_manifest(tmp_path / "m.jsonl", [{"id": "a", "video": str(clips[0]), "caption": "A dog runs."}])
    config = tmp_path / "examine.yaml"
    config.write_text(json.dumps(build_config(dead, tmp_path)))
    line = _one_error(invoke("data", "examine", manifest, "--out", tmp_path / "out", "-c", config))
    assert line.startswith(f"error: models.splitter: the server openai:splitter@{dead.base_url}") or line.startswith(
        f"error: models.verifier: the server openai:verifier@{dead.base_url}"
    )
    assert "did not answer a test request" in line
    assert not (tmp_path / "out" / "records.jsonl").exists()  # no record failed one by one


def test_a_bom_does_not_cost_the_first_manifest_line(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(b"\xef\xbb\xbf" + b'{"id": "first", "video": "a.mp4"}\n{"id": "second", "video": "b.mp4"}\n')
    items, errors = collect_videos([manifest])
    assert [item.id for item in items] == ["first", "second"] and errors == []


@pytest.mark.parametrize("bad", [None, "", ["a"], {"a": 1}, True])
def test_an_id_that_is_not_an_id_is_a_bad_line(tmp_path, bad):
    manifest = write_manifest(tmp_path / "m.jsonl", [{"id": bad, "video": "a.mp4"}, {"id": 7, "video": "b.mp4"}])
    items, errors = collect_videos([manifest])
    assert [item.id for item in items] == ["7"]
    assert len(errors) == 1 and str(errors[0]).startswith(f"{manifest}:1: 'id' must be a non-empty string or a number")


@pytest.mark.parametrize("spec", ["openai:@", "openai:model@", "openai:@http://127.0.0.1:8000/v1"])
def test_an_openai_spec_without_a_model_or_url_is_refused(spec):
    with pytest.raises(ConfigError, match="nothing after '@'|the model name before '@' is empty"):
        parse_spec(spec)


def test_caption_refuses_openai_at_before_anything(clips, tmp_path):
    line = _one_error(invoke("caption", clips[0], "--model", "openai:@", "--out", tmp_path / "c.jsonl"))
    assert line.startswith("error: model spec 'openai:@': nothing after '@'")


def test_symlinked_subfolders_are_followed_once(tmp_path):
    videos, elsewhere = tmp_path / "videos", tmp_path / "elsewhere"
    (videos / "real").mkdir(parents=True)
    elsewhere.mkdir()
    (videos / "real" / "a.mp4").write_bytes(b"")
    (elsewhere / "b.mp4").write_bytes(b"")
    (videos / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back").symlink_to(videos, target_is_directory=True)  # a loop: videos/linked/back -> videos
    items, errors = collect_videos([videos])
    assert sorted(item.id for item in items) == ["linked/b", "real/a"] and errors == []


def test_a_reward_table_prints_captions_as_written():
    pred = "A man [laughs] loudly. He says [/] and [bold]stop[/bold]."
    result = invoke("reward", "--pred", pred, "--ref", "A man laughs loudly.", "--judge", "rules")
    assert result.exit_code == 0, result.output
    assert "[laughs]" in result.stdout and "[/]" in result.stdout and "[bold]stop[/bold]" in result.stdout


def test_a_caption_file_without_its_sidecar_still_refuses_another_prompt(captioner, clips, tmp_path):
    out = tmp_path / "captions.jsonl"
    args = ["caption", *clips[:2], "--model", captioner.spec("c"), "--out", out, *SMALL]
    assert invoke(*args).exit_code == 0
    (tmp_path / "captions.jsonl.meta.json").unlink()
    line = _one_error(invoke(*args, "--prompt", "Say what happens."))
    assert line == f"error: {out} holds captions made with other settings (recorded -> now):"
    refused = invoke(*args, "--prompt", "Say what happens.")
    assert "prompt (2 captioned video(s), e.g. 'clip0'): 'Describe this video in detail.' -> 'Say what happens.'" in (
        refused.stderr
    )
    assert not (tmp_path / "captions.jsonl.meta.json").exists()  # no sidecar claiming the new prompt
    assert invoke(*args).exit_code == 0  # the same prompt resumes (and records it again)
    meta = json.loads((tmp_path / "captions.jsonl.meta.json").read_text())
    assert meta["settings"]["prompt"] == "Describe this video in detail."


def test_the_odd_wordings_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"^'start_time' \(2\) contradicts 'start' \(1\); give one of them$"):
        clip_trims({"start": 1, "start_time": 2})
    with pytest.raises(ValueError, match=r"the span holds 1 frame\(s\) and sampling needs at least 2"):
        rules.smart_nframes(1, 30.0, fps=2.0)


@pytest.mark.parametrize("record_id", ["../../outside", "/etc/passwd", "a/../../b", ".."])
def test_an_id_never_names_a_file_outside_the_build_folder(tmp_path, record_id):
    from owlcap.data.store import strip_path

    path = strip_path(tmp_path / "out", record_id)
    assert path.parent == tmp_path / "out" / "frames" and path.name.endswith(".jpg") and "/" not in path.name
