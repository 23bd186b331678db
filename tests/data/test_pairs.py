"""``owlcap data pairs``: preference pairs from HMD builds, GRPO completions and CSER-scored caption files;
deduplicated, capped per video, resumable and locked like every other writer."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import LoopbackLLMServer, Reply
from typer.testing import CliRunner

from owlcap.data.pairs import PairsConfig, PreferencePair, build_pairs
from owlcap.data.pairs.select import select_pairs
from owlcap.errors import ConfigError
from owlcap.locks import lock_folder, unlock

SRC = Path(__file__).resolve().parents[2] / "src"
RED = "The boy wears a red cap."
BALL = "The boy throws a ball."
DOG = "A brown dog runs across the lawn."
KITE = "A purple kite flies above the hills."


def _record(record_id: str, video: str, verdicts: list[tuple[str, bool | None]], **extra) -> dict:
    units = [unit for unit, _ in verdicts]
    caption = " ".join(units)
    return {
        "id": record_id,
        "video": video,
        "caption": caption,
        "fused_caption": caption,
        "units": units,
        "unit_verdicts": [{"unit": unit, "supported": ok} for unit, ok in verdicts],
        "status": "kept",
        "kept": True,
        **extra,
    }


def _write_jsonl(path: Path, records: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [record if isinstance(record, str) else json.dumps(record) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _pairs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]


def _config(**sections) -> PairsConfig:
    return PairsConfig.model_validate(sections)


def test_fge_removal_pairs_and_why_a_record_gives_none(tmp_path, hmd_videos):
    video = str(hmd_videos[0])
    build = _write_jsonl(
        tmp_path / "build" / "records.jsonl",
        [
            _record("one-wrong", video, [(RED, True), (BALL, True), (DOG, True), (KITE, False)]),
            _record("all-right", video, [(RED, True), (BALL, True)]),
            _record("mostly-wrong", video, [(RED, True), (BALL, False), (DOG, False), (KITE, False)]),
            _record("unverified", video, [(RED, True), (BALL, None)]),
            {"id": "broken", "video": video, "status": "failed", "error": "verifier: connection error"},
            "{not json",
        ],
    )
    summary = build_pairs(_config(hmd={"builds": [str(build.parent)]}), tmp_path / "out")
    [pair] = _pairs(tmp_path / "out")
    assert pair["source"] == "hmd_fge" and pair["video_id"] == "one-wrong" and pair["video"] == video
    assert pair["chosen"] == f"{RED} {BALL} {DOG}" and pair["rejected"] == f"{RED} {BALL} {DOG} {KITE}"
    assert (pair["chosen_score"], pair["rejected_score"], pair["margin"]) == (1.0, 0.75, 0.25)
    assert "1 of 4 units unsupported" in pair["why"] and KITE in pair["why"] and "plain removal" in pair["why"]
    assert pair["prompt"] == "Describe this video in detail." and pair["origin"].endswith("records.jsonl:one-wrong")
    assert summary.no_pair == {
        "hmd_fge: every unit supported": 1,
        "hmd_fge: more than max_removed_share=0.5 of the units unsupported": 1,
        "hmd: a unit has no verdict (the verifier failed)": 1,
    }
    assert summary.skipped_records == {"hmd: failed record": 1}
    assert summary.bad_lines == 1 and "records.jsonl:6" in summary.first_bad_lines[0]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["by_source"] == {"hmd_fge": {"made": 1, "kept": 1}}


def test_p_yes_cut_decides_from_the_verifiers_probabilities(tmp_path, hmd_videos):
    record = _record("r", str(hmd_videos[0]), [(RED, False), (BALL, False), (DOG, False)])
    for verdict, p_yes in zip(record["unit_verdicts"], (0.47, 0.41, 0.45), strict=True):
        verdict["p_yes"] = p_yes
    build = _write_jsonl(tmp_path / "records.jsonl", [record])
    assert build_pairs(_config(hmd={"builds": [str(build)]}), tmp_path / "a").pairs == 0
    build_pairs(_config(hmd={"builds": [str(build)], "p_yes_cut": 0.44}), tmp_path / "b")
    [pair] = _pairs(tmp_path / "b")
    assert pair["chosen"] == f"{RED} {DOG}" and pair["rejected_score"] == pytest.approx(2 / 3)


def test_motion_caption_against_fused_caption_by_verified_coverage(tmp_path, hmd_videos):
    verdicts = [(RED, True), (BALL, True), (DOG, False), (KITE, False)]
    faithful = _record("motion-wins", str(hmd_videos[0]), verdicts, motion_caption=RED)
    detailed = _record("fused-wins", str(hmd_videos[1]), [(RED, True), (BALL, True), (DOG, True)], motion_caption=RED)
    build = _write_jsonl(tmp_path / "records.jsonl", [faithful, detailed])
    build_pairs(_config(hmd={"builds": [str(build)], "judge": "rules"}), tmp_path / "out")
    motion = {pair["video_id"]: pair for pair in _pairs(tmp_path / "out") if pair["source"] == "hmd_motion"}
    # the fusion added two hallucinations to the one fact the motion caption had right: net 0 against 1/4
    assert motion["motion-wins"]["chosen"] == RED and motion["motion-wins"]["margin"] == pytest.approx(0.25)
    assert motion["fused-wins"]["rejected"] == RED and motion["fused-wins"]["chosen_score"] == 1.0
    assert "judge rules" in motion["fused-wins"]["why"]


def test_rejoin_model_through_a_server_and_a_dead_server_is_retried(tmp_path, hmd_videos, llm_server):
    build = _write_jsonl(
        tmp_path / "records.jsonl", [_record("r", str(hmd_videos[0]), [(RED, True), (BALL, True), (KITE, False)])]
    )
    llm = fast_llm_config(max_retries=0).model_dump()
    config = _config(hmd={"builds": [str(build)], "rejoin_model": llm_server.spec()}, llm=llm)
    llm_server.responder = lambda request: Reply.error(503)
    failed = build_pairs(config, tmp_path / "out")
    assert not failed.ok and failed.items_failed == 1 and "503" in failed.failures[0] and failed.pairs == 0
    llm_server.responder = lambda request: Reply.ok("The boy, in a red cap, throws a ball.")
    retried = build_pairs(config, tmp_path / "out")
    assert retried.ok and retried.items_made == 1 and retried.items_done_before == 0
    [pair] = _pairs(tmp_path / "out")
    assert pair["chosen"] == "The boy, in a red cap, throws a ball." and "re-joined by openai:" in pair["why"]
    request = llm_server.requests[-1].text_of("user")
    assert "<unsupported>\n1. A purple kite flies above the hills.\n</unsupported>" in request
    lines = (tmp_path / "out" / "candidates.jsonl").read_text().splitlines()
    assert len(lines) == 1 and "error" not in json.loads(lines[0])  # the failed attempt's line is compacted away


def _completions_run(tmp_path: Path, hmd_videos) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    train = _write_jsonl(
        tmp_path / "train.jsonl",
        [
            {"id": "a", "video": str(hmd_videos[0]), "caption": "ref a", "start": 1.0, "end": 3.0},
            {"id": "b", "video": str(hmd_videos[1]), "caption": "ref b"},
        ],
    )
    run = tmp_path / "grpo"
    (run / "completions").mkdir(parents=True)
    (run / "owlcap_config.yaml").write_text(
        f"# owlcap recipe: grpo\nreward: {{cser_weight: 1.0, length_weight: 0.5}}\ndata: {{train_files: [{train}]}}\n"
    )
    rows = [  # (video_id, completion, cser, length)
        ("a", "best caption of a", 1.5, 1.0),
        ("a", "worst caption of a", 0.1, 0.2),
        ("a", "middle caption of a", 0.9, 1.0),
        ("a", "unscored caption of a", math.nan, 1.0),
        ("b", "caption one of b", 0.50, 1.0),
        ("b", "caption two of b", 0.45, 1.0),
        ("c", "caption of a video not in the data", 2.0, 1.0),
        ("c", "another caption of c", 0.0, 0.2),
    ]
    table = pa.table(
        {
            "step": [3] * len(rows),
            "prompt": ["Describe this video in detail."] * len(rows),
            "completion": [row[1] for row in rows],
            "cser": [row[2] for row in rows],
            "length": [row[3] for row in rows],
            "video_id": [row[0] for row in rows],
            "advantage": [0.0] * len(rows),
        }
    )
    pq.write_table(table, run / "completions" / "completions_00003.parquet")
    return run


def test_grpo_groups_give_best_against_worst_by_the_runs_total_reward(tmp_path, hmd_videos):
    run = _completions_run(tmp_path, hmd_videos)
    summary = build_pairs(_config(grpo={"runs": [str(run)]}), tmp_path / "out")
    [pair] = _pairs(tmp_path / "out")
    assert (pair["chosen"], pair["rejected"]) == ("best caption of a", "worst caption of a")
    assert pair["chosen_score"] == pytest.approx(1.5 + 0.5 * 1.0) and pair["rejected_score"] == pytest.approx(0.2)
    assert (pair["video"], pair["start"], pair["end"]) == (str(hmd_videos[0]), 1.0, 3.0)
    assert "step 3" in pair["why"] and "1 x cser + 0.5 x length" in pair["why"]
    assert summary.no_pair == {
        "grpo: a completion without a reward (judge failure or undecodable video)": 1,
        "grpo: a group whose reward margin is not above min_margin=0.2": 1,  # b: 0.05 apart
        "grpo: a video id not in the run's training data": 1,
    }


def test_caption_files_scored_with_cser_against_the_references(tmp_path, samples_dir):
    references = samples_dir / "hmd" / "captions.jsonl"
    refs = [json.loads(line) for line in references.read_text().splitlines()]
    good = _write_jsonl(tmp_path / "good.jsonl", [{"id": r["id"], "caption": r["caption"]} for r in refs])
    rotated = [{"id": r["id"], "caption": refs[(i + 1) % len(refs)]["caption"]} for i, r in enumerate(refs)]
    rotated.insert(0, {"id": refs[0]["id"], "error": "CUDA out of memory"})  # a failed caption, replaced later
    bad = _write_jsonl(tmp_path / "rotated.jsonl", [*rotated, '{"id": 7}'])
    section = {"files": [str(good), str(bad)], "references": str(references), "judge": "rules"}
    summary = build_pairs(_config(captions=section), tmp_path / "out")
    pairs = {pair["video_id"]: pair for pair in _pairs(tmp_path / "out")}
    assert set(pairs) == {r["id"] for r in refs} and summary.bad_lines == 1
    for ref in refs:
        pair = pairs[ref["id"]]
        assert pair["chosen"] == ref["caption"] and pair["source"] == "captions"
        assert pair["video"] == str((references.parent / ref["video"]).resolve())
        assert pair["origin"] == "good.jsonl > rotated.jsonl" and pair["margin"] > 0.2


def test_selection_drops_duplicates_and_balances_sources_under_the_cap():
    def pair(source: str, margin: float, text: str, video: str = "v.mp4") -> PreferencePair:
        return PreferencePair(video, video, "p", f"chosen {text}", f"rejected {text}", margin, 0.0, source, "", "")

    proposed = [
        *(pair("grpo", m, f"g{m}") for m in (0.3, 0.9, 0.5, 0.7)),
        pair("hmd_fge", 0.2, "h1"),
        pair("captions", 0.4, "c1"),
        pair("captions", 0.4, "c1"),  # the same pair twice
        pair("hmd_fge", 0.1, "x", video="w.mp4"),
    ]
    kept, dropped = select_pairs(proposed, cap=4)
    on_v = [(p.source, p.margin) for p in kept if p.video == "v.mp4"]
    assert on_v == [("hmd_fge", 0.2), ("grpo", 0.9), ("captions", 0.4), ("grpo", 0.7)]
    assert [p.video for p in kept].count("w.mp4") == 1
    assert dropped == {"duplicate": 1, "over the per-video cap": 2}
    same = PreferencePair("v", "v.mp4", "p", "A  cat.", "A cat.", 1.0, 0.0, "grpo", "", "")
    assert select_pairs([same], cap=4)[1] == {"chosen equals rejected": 1}


def test_a_rerun_remakes_nothing_and_the_output_loads_with_datasets(tmp_path, hmd_videos):
    import datasets

    build = _write_jsonl(
        tmp_path / "records.jsonl", [_record(f"r{i}", str(hmd_videos[i]), [(RED, True), (KITE, False)]) for i in (0, 1)]
    )
    config = _config(hmd={"builds": [str(build)]}, grpo={"runs": [str(_completions_run(tmp_path, hmd_videos))]})
    first = build_pairs(config, tmp_path / "out")
    before = (tmp_path / "out" / "pairs.jsonl").read_text()
    with (tmp_path / "out" / "candidates.jsonl").open("a") as handle:
        handle.write('{"id": "hmd:torn')  # a kill mid-write
    again = build_pairs(config, tmp_path / "out")
    assert (first.items_made, again.items_made, again.items_done_before) == (3, 0, 3)
    assert (tmp_path / "out" / "pairs.jsonl").read_text() == before and again.pairs == 3
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "out" / "pairs.jsonl"), split="train")
    assert loaded.num_rows == 3 and {"prompt", "chosen", "rejected", "video", "source"} <= set(loaded.column_names)
    capped = build_pairs(config.model_copy(update={"max_pairs_per_video": 1}), tmp_path / "out")
    assert capped.items_made == 0 and capped.pairs == 3  # one per video: re-selected, nothing remade


def test_one_writer_per_folder(tmp_path, hmd_videos):
    build = _write_jsonl(tmp_path / "records.jsonl", [_record("r", str(hmd_videos[0]), [(RED, True), (KITE, False)])])
    (tmp_path / "out").mkdir()
    held = lock_folder(tmp_path / "out", busy="busy", advice="wait")
    try:
        with pytest.raises(ConfigError, match=rf"being written by another owlcap data pairs \(pid {os.getpid()}\)"):
            build_pairs(_config(hmd={"builds": [str(build)]}), tmp_path / "out")
    finally:
        unlock(held)


def _owlcap(*args: str) -> list[str]:
    return [sys.executable, "-m", "owlcap.cli.main", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "OWLCAP_DISABLE_PROGRESS": "1"}


def test_the_command_killed_mid_run_resumes_where_it_stopped(tmp_path, hmd_videos):
    verdicts = [[(RED, True), (f"Unit {i} is wrong.", False)] for i in range(8)]
    records = [_record(f"r{i}", str(hmd_videos[i % 3]), verdicts[i]) for i in range(8)]
    build = _write_jsonl(tmp_path / "records.jsonl", records)
    with LoopbackLLMServer(lambda request: Reply.slow("A rewritten caption.", 0.3)) as server:
        args = ["data", "pairs", "--out", str(tmp_path / "out"), "--hmd", str(build), "--model", server.spec()]
        args += ["--concurrency", "1", "--llm.cache", "false"]
        candidates = tmp_path / "out" / "candidates.jsonl"
        process = subprocess.Popen(_owlcap(*args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while (not candidates.exists() or not candidates.read_text().count("\n")) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
        done = candidates.read_text().count("\n")
        assert 1 <= done < 8
        finished = subprocess.run(_owlcap(*args), env=_env(), capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout.splitlines()[-1])
    assert summary["items_done_before"] == done and summary["items_made"] == 8 - done and summary["pairs"] == 8
    assert "8 pair(s) (hmd_fge 8)" in finished.stderr


def test_the_command_says_what_is_wrong(tmp_path, hmd_videos):
    from owlcap.cli.main import app

    runner = CliRunner()
    missing = runner.invoke(app, ["data", "pairs", "--out", str(tmp_path / "o"), "--hmd", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such HMD build" in missing.output
    nothing = runner.invoke(app, ["data", "pairs", "--out", str(tmp_path / "o")])
    assert nothing.exit_code == 2 and "no source given" in nothing.output
    one_file = runner.invoke(app, ["data", "pairs", "--out", str(tmp_path / "o"), "--captions", "a.jsonl"])
    assert one_file.exit_code == 2 and "two or more caption files" in one_file.output
    not_logged = tmp_path / "sft"
    not_logged.mkdir()
    (not_logged / "owlcap_config.yaml").write_text("# owlcap recipe: sft\n")
    result = runner.invoke(app, ["data", "pairs", "--out", str(tmp_path / "o"), "--grpo", str(not_logged)])
    assert result.exit_code == 2 and "log_completions: true" in result.output


def test_every_pairs_setting_is_documented():
    from owlcap.data.pairs import CaptionPairsConfig, GRPOPairsConfig, HMDPairsConfig

    for model in (PairsConfig, HMDPairsConfig, GRPOPairsConfig, CaptionPairsConfig):
        assert [name for name, field in model.model_fields.items() if not field.description] == [], model
