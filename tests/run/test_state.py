"""Stage markers and fingerprints: done only after success, resume in place only with the same fingerprint."""

from __future__ import annotations

import json

import pytest

from owlcap.errors import ConfigError
from owlcap.run.state import StageDir, StageRecord, file_fingerprints, fingerprint, run_dir_lock, write_json_atomic


def test_a_stage_is_done_only_once_finished(tmp_path):
    stage = StageDir(tmp_path, "sft")
    assert stage.done() is None
    assert stage.begin("fp1", fresh=False) is False
    assert stage.done() is None and stage.running_fingerprint() == "fp1"
    stage.finish(StageRecord("sft", "fp1", seconds=1.5, summary={"loss_last": 1.0}))
    done = stage.done()
    assert done.fingerprint == "fp1" and done.summary == {"loss_last": 1.0}
    assert stage.running_fingerprint() is None


def test_an_interrupted_stage_resumes_in_place_with_the_same_fingerprint_and_starts_over_otherwise(tmp_path):
    stage = StageDir(tmp_path, "grpo")
    stage.begin("fp1", fresh=False)
    (stage.path / "checkpoint-2").mkdir()
    assert stage.begin("fp1", fresh=False) is True  # killed, re-run with the same config: keep the checkpoint
    assert (stage.path / "checkpoint-2").is_dir()
    assert stage.begin("fp1", fresh=True) is False  # --from: start over
    assert not (stage.path / "checkpoint-2").exists()
    (stage.path / "partial").write_text("x")
    assert stage.begin("fp2", fresh=False) is False  # the config changed: start over
    assert not (stage.path / "partial").exists()


def test_a_done_stage_rerun_loses_its_marker_first(tmp_path):
    stage = StageDir(tmp_path, "caption")
    stage.begin("fp1", fresh=False)
    stage.finish(StageRecord("caption", "fp1"))
    stage.begin("fp1", fresh=True)
    assert stage.done() is None  # a kill now must not leave the old "done" behind


def test_an_unreadable_marker_means_not_done(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "stage.json").write_text('{"stage": "eval", "finger')
    assert StageDir(tmp_path, "eval").done() is None


def test_atomic_json_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a" / "x.json"
    write_json_atomic(target, {"b": 1})
    write_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_fingerprints_follow_content_not_names_or_key_order(tmp_path):
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1}) != fingerprint({"a": 2})
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    one.write_text("same\n")
    two.write_text("same\n")
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"1")
    first = file_fingerprints({"f": one, "d": folder}, what="stage x")
    assert file_fingerprints({"f": two, "d": folder}, what="stage x") == first
    (folder / "b.mp4").write_bytes(b"2")
    assert file_fingerprints({"f": one, "d": folder}, what="stage x")["d"] != first["d"]


def test_a_second_run_on_the_same_run_dir_is_refused(tmp_path):
    refused = pytest.raises(ConfigError, match="another owlcap run is using it")
    with run_dir_lock(tmp_path / "run"), refused, run_dir_lock(tmp_path / "run"):
        pass
    with run_dir_lock(tmp_path / "run"):  # released when the first run ended
        pass
