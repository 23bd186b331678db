"""The data stage: MDF + FGE really run on the samples with the tiny model, every verdict is kept, and what SFT and
GRPO train on is the build's hmd.jsonl (the sample HMD captions, examined by FGE). A changed FGE setting keeps the
build and redoes only FGE; a failed video or an empty kept set fails the stage with a clear message."""

from __future__ import annotations

import json
import logging

import pytest
import yaml
from run_helpers import overrides

from owlcap.run import StageError, quickstart_config, run_pipeline

pytestmark = pytest.mark.slow


def _built_with_the_original_model(run_copy, finished_run) -> list[str]:
    """The copy's data stage pointed at the model its records were built with: a build's record fingerprints hold
    the hf: model's path, and the copy's own base model lies elsewhere (in a run directory that stays put, it is
    the same path)."""
    spec = f"hf:{finished_run / 'base-model'}"
    return [arg for stage in ("motion", "fusion", "verifier") for arg in (f"--data.config.models.{stage}", spec)]


def _records(folder):
    return [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]


def test_sft_and_grpo_train_on_the_builds_kept_records(finished_run, samples_dir):
    hmd = finished_run / "data" / "hmd.jsonl"
    for stage in ("sft", "grpo"):
        config = yaml.safe_load((finished_run / stage / "config.yaml").read_text())
        assert config["data"]["train_files"] == [str(hmd)]
    samples = {json.loads(line)["id"]: json.loads(line)["caption"] for line in
               (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()}  # fmt: skip
    kept = {json.loads(line)["id"]: json.loads(line)["caption"] for line in hmd.read_text().splitlines()}
    assert kept == samples  # the real HMD captions, after FGE (threshold 0 keeps them all)
    summary = json.loads((finished_run / "data" / "stage.json").read_text())["summary"]
    assert summary["train"]["kept"] == 3 and summary["train"]["kept_at_paper_threshold"] == 0


def test_fge_verdicts_and_mdf_outputs_are_recorded(finished_run):
    for folder in (finished_run / "data", finished_run / "data" / "preview"):
        records = _records(folder)
        assert len(records) == 3
        for record in records:
            assert record["units"] and len(record["unit_verdicts"]) == len(record["units"])
            assert all(0.0 <= verdict["p_yes"] <= 1.0 for verdict in record["unit_verdicts"])  # per-unit probability
    for record in _records(finished_run / "data" / "preview"):  # MDF ran on the bare videos
        assert record["motion_caption"] and record["fused_caption"] == record["caption"]
        assert record["stages"]["motion"]["source"] == record["stages"]["fusion"]["source"] == "model"
    for record in _records(finished_run / "data"):  # the sample captions skipped MDF
        assert "motion_caption" not in record and record["stages"]["fusion"]["source"] == "manifest"


def test_a_stricter_threshold_keeps_the_build_redoes_fge_only_and_fails_with_nothing_kept(
    run_copy, finished_run, caplog
):
    args = overrides(run_copy, data__config__fge__threshold=0.9) + _built_with_the_original_model(
        run_copy, finished_run
    )
    with (
        caplog.at_level(logging.INFO, logger="owlcap"),
        pytest.raises(StageError, match=r"no record was kept \(3 rejected at fge.threshold 0.9\)") as caught,
    ):
        run_pipeline(quickstart_config(), args)  # the data stage's config changed: it reruns, in its kept folder
    assert "stage data: settings changed" in caplog.text
    assert caught.value.stage == "data" and caught.value.finished == []
    preview = _records(run_copy / "data" / "preview")
    assert all(record["status"] == "rejected" and record["threshold"] == 0.9 for record in preview)
    assert {record["stages"]["motion"]["source"] for record in preview} == {"previous"}  # MDF was not redone


def test_a_video_that_cannot_be_built_fails_the_stage_by_name(run_copy, finished_run, samples_dir, tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"id": "gone", "video": "missing.mp4", "caption": "A dog runs."}) + "\n")
    args = overrides(run_copy) + ["--data.inputs", f"[{samples_dir / 'hmd' / 'captions.jsonl'}, {broken}]"]
    args += _built_with_the_original_model(run_copy, finished_run)
    before = {record["id"]: record for record in _records(run_copy / "data")}
    with pytest.raises(StageError, match=r"1 input\(s\) could not be built .*\n  train: gone: decode: ") as caught:
        run_pipeline(quickstart_config(), args)
    assert caught.value.stage == "data"
    records = {record["id"]: record for record in _records(run_copy / "data")}
    assert records["gone"]["status"] == "failed"
    assert all(records[name] == before[name] for name in before)  # one more input: the others were not rebuilt
