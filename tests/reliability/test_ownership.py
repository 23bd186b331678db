"""``owlcap run`` removes only what it can show it made: a stage folder carries owlcap's own marker, and a folder of
the same name that a user made (or a file in its place, or a run_dir that is a file) is refused with one error
naming it, never deleted, whether the stage starts over because its settings changed or because of ``--from``."""

from __future__ import annotations

import pytest
from helpers.cli import error_lines, invoke

from owlcap.errors import ConfigError
from owlcap.run.state import StageDir, StageRecord


@pytest.mark.parametrize("fresh", [False, True], ids=["settings changed", "--from"])
def test_a_stage_folder_owlcap_did_not_make_is_refused_not_deleted(tmp_path, fresh):
    notes = tmp_path / "caption" / "my-notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    with pytest.raises(
        ConfigError, match=r"stage caption: .*caption holds files owlcap did not write \(my-notes.txt\)"
    ):
        StageDir(tmp_path, "caption").begin("fp1", fresh=fresh)
    assert notes.read_text() == "mine"


def test_owlcap_still_starts_over_in_the_folders_it_made(tmp_path):
    stage = StageDir(tmp_path, "caption")
    stage.begin("fp1", fresh=False)
    (stage.path / "model.jsonl").write_text("{}\n")
    stage.finish(StageRecord("caption", "fp1"))
    assert stage.begin("fp2", fresh=False) is False  # the settings changed: its own outputs go
    assert not (stage.path / "model.jsonl").exists()
    stage.begin("fp2", fresh=True)  # --from
    empty = StageDir(tmp_path, "eval")
    empty.path.mkdir()
    empty.begin("fp1", fresh=False)  # an empty folder holds nothing to lose


def test_a_file_where_a_stage_folder_goes_is_refused(tmp_path):
    (tmp_path / "sft").write_text("a file of the user's")
    with pytest.raises(ConfigError, match="sft is in the way"):
        StageDir(tmp_path, "sft").begin("fp1", fresh=False)
    assert (tmp_path / "sft").read_text() == "a file of the user's"


def test_a_run_dir_naming_a_file_is_one_error_line(tmp_path):
    run_dir = tmp_path / "not-a-folder"
    run_dir.write_text("x")
    result = invoke("quickstart", "--run-dir", run_dir)
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [
        f"error: run_dir {run_dir}: exists and is not a folder; give a folder (it is created if missing)"
    ]
    assert run_dir.read_text() == "x"
