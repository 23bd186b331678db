"""The HMD build against a scripted loopback server playing every model: every stage recorded, bad inputs become
failed records with their causes, outputs and exports load, resume skips what is done and reuses MDF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from buildkit import build_config, write_manifest
from helpers.llm_server import LoopbackLLMServer
from hmd_responder import hmd_responder, stage_of
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.data import BuildConfig, build, export
from owlcap.data.records import read_caption_examples
from owlcap.data.store import read_records


def _records(out: Path) -> dict[str, dict]:
    records, torn = read_records(out / "records.jsonl")
    assert torn == 0
    return records


def _by_stage(server: LoopbackLLMServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in server.requests:
        counts[stage_of(request)] = counts.get(stage_of(request), 0) + 1
    return counts


def test_build_on_samples_with_a_truncated_video_and_a_text_file(hmd_server, hmd_videos, tmp_path):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(hmd_videos[1].read_bytes()[:300_000])
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    config = tmp_path / "build.yaml"
    config.write_text(json.dumps(build_config(hmd_server, tmp_path)))  # JSON is YAML
    out = tmp_path / "out"
    args = ["data", "build", str(hmd_videos[0].parent), str(truncated), str(text), "--out", str(out), "-c", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "decode: truncated or corrupt" in result.stderr and "decode: not a video" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["built"], summary["failed"], summary["kept"] + summary["rejected"]) == (5, 2, 3)

    records = _records(out)
    assert records["cut"]["failure"]["kind"] == "truncated or corrupt" and "681 frames" in records["cut"]["error"]
    assert records["notes"]["failure"] == {
        "stage": "decode",
        "kind": "not a video",
        "message": f"{text}: not a readable video (Invalid data found when processing input)",
    }
    good = [records[video.stem] for video in hmd_videos]
    for record in good:
        assert set(record["stages"]) == {"decode", "motion", "fusion", "splitter", "verifier"}
        for stage in ("motion", "fusion", "splitter", "verifier"):
            run = record["stages"][stage]
            assert run["source"] == "model" and run["requests"] == 1 and run["completion_tokens"] > 0
            assert run["model"] == f"openai:{stage}@{hmd_server.base_url}"
        assert record["motion_caption"] in record["fused_caption"] and record["caption"] == record["fused_caption"]
        assert record["probe"]["width"] > 0 and record["frames"]["count"] == 4
        assert len(record["unit_verdicts"]) == len(record["units"]) > 1
        green = any("green" in unit for unit in record["units"])
        assert record["status"] == ("rejected" if green else "kept")
        supported = sum(v["supported"] for v in record["unit_verdicts"])
        assert record["unit_accuracy"] == pytest.approx(supported / len(record["units"]))
        if green:
            assert "not supported by the video" in record["rejection_reason"]

    kept = {r["id"] for r in good if r["status"] == "kept"}
    examples, errors = read_caption_examples(out / "hmd.jsonl")
    assert errors == [] and {e.id for e in examples} == kept
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"] == {"records": 5, "kept": len(kept), "rejected": 3 - len(kept), "failed": 2}
    assert stats["failures"]["by_cause"] == {"decode: truncated or corrupt": 1, "decode: not a video": 1}
    assert stats["stages"]["verifier"]["requests_per_record"] == 1.0
    for name in ("kept_ratio", "unit_accuracy", "caption_length", "failures"):
        assert (out / "report" / f"{name}.png").stat().st_size > 5000
    assert (out / "report" / "index.html").exists()


def test_exports_load_with_datasets_and_owlcap(hmd_server, clips, tmp_path):
    import datasets

    config = BuildConfig.model_validate(build_config(hmd_server, tmp_path, fge={"threshold": 0.0}))
    out = tmp_path / "out"
    manifest = write_manifest(tmp_path / "m.jsonl", [{"id": "a", "video": str(clips[0]), "start": 0.1, "end": 0.8}])
    build(config, [manifest, clips[1], clips[2]], out)
    sft, rows = export(out, "sft")
    assert rows == 3
    loaded = datasets.load_dataset("json", data_files=str(sft), split="train")
    line = next(r for r in loaded if r["id"] == "a")
    assert line["conversations"][0] == {"from": "human", "value": "<video>\nDescribe this video in detail."}
    assert line["conversations"][1]["value"].startswith("A ") and (line["start_time"], line["end_time"]) == (0.1, 0.8)
    grpo, _ = export(out, "grpo")
    columns = datasets.load_dataset("json", data_files=str(grpo), split="train").column_names
    assert {"prompt", "reference"} <= set(columns)
    examples, errors = read_caption_examples(grpo)
    assert errors == [] and len(examples) == 3 and next(e for e in examples if e.id == "a").start == 0.1
    examples, errors = read_caption_examples(sft)  # the released line shape, which owlcap reads too
    assert errors == [] and {e.caption for e in examples} == {line["conversations"][1]["value"] for line in loaded}
    folder, _ = export(out, "hf")
    dataset = datasets.load_from_disk(str(folder))
    assert len(dataset) == 3 and dataset.features["unit_supported"].feature.dtype == "bool"
    parquet, _ = export(out, "parquet")
    assert datasets.load_dataset("parquet", data_files=str(parquet), split="train")["id"] == dataset["id"]

    # The derived outputs come back from records.jsonl alone (after a kill, or to refresh the report).
    for derived in ("hmd.jsonl", "stats.json", "report/index.html"):
        (out / derived).unlink()
    result = CliRunner().invoke(app, ["data", "report", str(out)])
    assert result.exit_code == 0 and json.loads(result.stdout)["counts"]["kept"] == 3
    assert len((out / "hmd.jsonl").read_text().splitlines()) == 3 and (out / "report" / "index.html").exists()


@pytest.mark.parametrize(
    ("mode", "decision", "logprobs"),
    [("structured", "text", False), ("per_unit", "probability", True)],
)
def test_examine_keeps_exactly_what_the_threshold_implies(samples_dir, tmp_path, mode, decision, logprobs):
    """FGE alone on the sample captions; the verifier says no to chosen units, so each accuracy is known."""
    from owlcap.llm.rules_text import TextRules

    captions = [json.loads(line) for line in (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()]
    units = {row["id"]: TextRules().split(row["caption"]) for row in captions}
    ids = sorted(units)
    refused = {ids[0]: units[ids[0]][:1], ids[1]: units[ids[1]][:3], ids[2]: []}
    expected_accuracy = {i: 1 - len(refused[i]) / len(units[i]) for i in ids}
    reject = tuple(unit for chosen in refused.values() for unit in chosen)
    with LoopbackLLMServer(hmd_responder(reject=reject, logprobs=logprobs)) as server:
        overrides = {"fge": {"verify_mode": mode, "decision": decision}}
        config = BuildConfig.model_validate(build_config(server, tmp_path, **overrides))
        for threshold in (0.9, 0.7):
            config.fge.threshold = threshold
            summary = build(config, [samples_dir / "hmd" / "captions.jsonl"], tmp_path / "out", examine_only=True)
            assert summary.ok and summary.built == 3
            records = _records(tmp_path / "out")
            for record_id in ids:
                assert records[record_id]["unit_accuracy"] == pytest.approx(expected_accuracy[record_id], abs=1e-6)
                assert records[record_id]["stages"]["fusion"]["source"] == "manifest"
            expected = {i for i in ids if expected_accuracy[i] >= threshold}
            kept = {json.loads(line)["id"] for line in (tmp_path / "out" / "hmd.jsonl").read_text().splitlines()}
            assert kept == expected
            if logprobs:
                p_yes = [v["p_yes"] for r in records.values() for v in r["unit_verdicts"]]
                assert {round(p, 6) for p in p_yes} == {0.85, 0.2}  # decided from the logprobs, not the text
        assert "motion" not in _by_stage(server) and "fusion" not in _by_stage(server)
        per_caption = sum(len(us) for us in units.values()) if mode == "per_unit" else 3
        assert _by_stage(server)["verifier"] == per_caption  # the second threshold came from the LLM cache


def test_rerun_skips_finished_and_new_fge_settings_keep_mdf(hmd_server, clips, tmp_path):
    config = BuildConfig.model_validate(build_config(hmd_server, tmp_path))
    out = tmp_path / "out"
    first = build(config, clips[:4], out)
    assert first.built == 4 and _by_stage(hmd_server) == {"motion": 4, "fusion": 4, "splitter": 4, "verifier": 4}
    again = build(config, clips[:4], out)
    assert (again.built, again.skipped) == (0, 4) and len(hmd_server.requests) == 16
    # Other FGE settings, and no LLM cache at all: MDF comes from the records, FGE is asked again.
    changed = config.model_copy(deep=True)
    changed.fge.verify_mode, changed.llm.cache = "per_unit", False
    third = build(changed, clips[:4], out)
    assert (third.built, third.rebuilt) == (4, 4)
    counts = _by_stage(hmd_server)
    assert (counts["motion"], counts["fusion"], counts["splitter"]) == (4, 4, 8) and counts["verifier"] > 8
    records = _records(out)
    assert len(records) == 4 and all(r["stages"]["fusion"]["source"] == "previous" for r in records.values())
    assert all(r["verify_mode"] == "per_unit" for r in records.values())


def test_manifest_reuse_trims_and_bad_lines(hmd_server, clips, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"id": "given", "video": str(clips[0]), "caption": "A dog runs. The dog is brown."},
        {"id": "motion-given", "video": str(clips[1]), "motion_caption": "A cat jumps onto a sofa."},
        {"id": "clip", "video": str(clips[2]), "start_time": 0.25, "end_time": 0.75},
        {"id": "no-video"},
        {"id": "empty-caption", "video": str(clips[3]), "caption": " "},
        {  # a released OwlCap line: the caption is the gpt turn, the trims are start_time/end_time
            "video": str(clips[4]),
            "conversations": [
                {"from": "human", "value": "<video>\nWhat happens, in order?"},
                {"from": "gpt", "value": "A bird sits on a branch. The bird is yellow."},
            ],
            "start_time": 0.0,
            "end_time": 0.5,
        },
    ]
    write_manifest(manifest, rows)
    with manifest.open("a") as handle:
        handle.write("{not json\n")
    config = BuildConfig.model_validate(build_config(hmd_server, tmp_path))
    summary = build(config, [manifest], tmp_path / "out")
    assert summary.built == 4 and not summary.ok
    assert any(f"{manifest}:4: missing string field 'video'" in e for e in summary.bad_inputs)
    assert any(f"{manifest}:7: invalid JSON" in e for e in summary.bad_inputs)
    assert any("'empty-caption': 'caption' must be a non-empty string" in e for e in summary.bad_inputs)
    records = _records(tmp_path / "out")
    assert records["given"]["fused_caption"] == "A dog runs. The dog is brown."
    assert set(records["given"]["stages"]) == {"decode", "fusion", "splitter", "verifier"}
    assert records["motion-given"]["stages"]["motion"]["source"] == "manifest"
    assert records["motion-given"]["fused_caption"].startswith("A cat jumps onto a sofa.")
    clip = records["clip"]
    assert (clip["start"], clip["end"]) == (0.25, 0.75)
    assert all(0.2 <= t <= 0.8 for t in clip["frames"]["timestamps"])
    released = records["clip04@0-0.5"]
    assert released["fused_caption"] == "A bird sits on a branch. The bird is yellow." and released["end"] == 0.5
    assert "motion" not in released["stages"]
    assert _by_stage(hmd_server)["motion"] == 1
    # The line's own prompt goes with its caption into hmd.jsonl, which training reads (a line without one: the
    # trainer's data.prompt).
    assert released["prompt"] == "What happens, in order?" and "prompt" not in records["given"]
    examples, _ = read_caption_examples(tmp_path / "out" / "hmd.jsonl")
    assert {e.id: e.prompt for e in examples}["clip04@0-0.5"] == "What happens, in order?"


def test_dead_server_fails_records_with_the_cause_and_stops_early(clips, tmp_path):
    dead = LoopbackLLMServer().start()
    dead.stop()  # its port is now closed: connection refused
    config = build_config(
        dead, tmp_path, max_consecutive_failures=3, concurrency={"max_in_flight": 1, "decode_workers": 1}
    )
    path = tmp_path / "dead.yaml"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["data", "build", *map(str, clips[:8]), "--out", str(out), "-c", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "motion: connection error" in result.stderr and "is the server up?" in result.stderr
    records = _records(out)
    # Stopped admitting videos after 3 failures in a row (those already decoded still ran) instead of failing all 8.
    assert 3 <= len(records) <= 5
    assert {(r["failure"]["stage"], r["failure"]["kind"]) for r in records.values()} == {("motion", "connection error")}
    assert all("gave up after 3 attempt(s)" in r["error"] for r in records.values())


def test_a_judge_that_never_validates_fails_the_record_not_rejects_it(clips, tmp_path):
    def respond(request):
        if request.schema_name == "VerdictList":
            return "I think most of it is right."
        return hmd_responder()(request)

    with LoopbackLLMServer(respond) as server:
        summary = build(BuildConfig.model_validate(build_config(server, tmp_path)), clips[:1], tmp_path / "out")
    record = next(iter(_records(tmp_path / "out").values()))
    assert summary.failed == 1 and record["status"] == "failed" and record["kept"] is False
    assert record["failure"]["stage"] == "verifier" and record["failure"]["kind"] == "invalid answer"
    assert record["units"] and "unit_verdicts" not in record and "unit_accuracy" not in record
