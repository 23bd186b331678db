"""Resuming picks the newest checkpoint Trainer finished writing: one cut short by a kill mid-save is skipped."""

from __future__ import annotations

import json

from owlcap.train.checkpoints import last_complete_checkpoint


def _checkpoint(folder, step, *, complete=True):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x")
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_a_checkpoint_cut_short_mid_save_is_skipped(tmp_path, caplog):
    _checkpoint(tmp_path, 2)
    _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, complete=False)
    torn = _checkpoint(tmp_path, 14)
    (torn / "trainer_state.json").write_text('{"global_st')  # killed while writing the last file
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")  # 10 > 2: numeric order
    assert "checkpoint-14 was cut short" in caplog.text and "checkpoint-12 was cut short" in caplog.text


def test_no_checkpoint_means_none(tmp_path):
    assert last_complete_checkpoint(tmp_path) is None
    assert last_complete_checkpoint(tmp_path / "missing") is None
    _checkpoint(tmp_path, 3, complete=False)
    assert last_complete_checkpoint(tmp_path) is None
