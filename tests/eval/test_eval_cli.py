"""``owlcap eval`` walked as a user: a run, a dead judge, Ctrl-C and a re-run, re-scoring, comparing, bad input."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.eval.dream1k.data import load as load_dream
from owlcap.jsonl import read_jsonl

DEAD = "openai:gpt-3.5-turbo-0125@http://127.0.0.1:9/v1"


def invoke(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


@pytest.fixture
def dream_sample(samples_dir, tmp_path):
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    captions = tmp_path / "captions.jsonl"
    items = load_dream(annotations).items
    captions.write_text(
        "".join(json.dumps({"id": i.id, "caption": i.reference + " The camera pans."}) + "\n" for i in items)
    )
    return annotations, captions


def test_dream1k_run_then_rescore_and_compare(judge_process, dream_sample, tmp_path):
    annotations, captions = dream_sample
    judge = judge_process()
    run = tmp_path / "d"
    result = invoke(
        "dream1k", "--annotations", annotations, "--captions", captions, "--judge", judge.spec(), "--out", run
    )
    assert result.exit_code == 0, result.output
    assert "| **OVERALL** |" in result.stdout and f"report: {run / 'report.json'}" in result.stdout
    header = json.loads((run / "run.json").read_text())  # no official file beside the sample: the shipped texts
    assert header["prompts"]["name"] == "official" and header["prompts"]["source"].endswith("official_prompts.json")
    rescored = invoke("report", run, "--f1_mode", "mean_of_f1", "--no-plots")
    assert rescored.exit_code == 0, rescored.output
    first = run / "rescored-tarsier-f1_mode=mean_of_f1" / "report.json"
    assert "scoring.f1_mode=mean_of_f1" in rescored.stdout and first.is_file()
    # Another switch is another folder: one re-score never silently replaces another.
    assert invoke("report", run, "--overall_mode", "micro", "--no-plots").exit_code == 0
    assert (run / "rescored-tarsier-overall_mode=micro" / "report.json").is_file()
    assert "mean_of_f1" in first.read_text()
    other = tmp_path / "d2"
    args = ("dream1k", "--annotations", annotations, "--captions", captions, "--out", other, "--limit", "20")
    assert invoke(*args, "--judge", judge.spec("other-judge")).exit_code == 0
    compared = invoke("compare", run, other, "--out", tmp_path / "cmp")
    assert compared.exit_code == 0, compared.output
    assert "d2 (!)" in compared.stdout and "judge differs (model=openai:other-judge)" in compared.stdout
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 5_000


def test_a_dead_judge_is_named_at_once_or_counted_item_by_item(dream_sample, tmp_path):
    annotations, captions = dream_sample
    base = ("dream1k", "--annotations", annotations, "--captions", captions, "--judge", DEAD, "--retries", "0")
    result = invoke(*base, "--out", tmp_path / "a")
    assert result.exit_code == 2 and "did not answer a test request" in result.output
    assert "Traceback" not in result.output
    counted = invoke(*base, "--out", tmp_path / "b", "--no-preflight", "--judge.stop_after_consecutive_failures", "0")
    assert counted.exit_code == 1 and "Traceback" not in counted.output
    assert "incomplete: 40 item(s) with failed judge calls" in counted.output
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["counts"]["failed_calls"]["judge_unavailable"] == 80  # extraction and recall of each item


def test_ctrl_c_keeps_what_was_judged_and_a_rerun_resumes(judge_process, dream_sample, tmp_path):
    annotations, captions = dream_sample
    judge = judge_process(slots=2, delay=0.1)
    args = ("dream1k", "--annotations", annotations, "--captions", captions, "--judge", judge.spec())
    args += ("--out", tmp_path / "run", "--concurrency", "2")
    timer = threading.Timer(2.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        interrupted = invoke(*args)
    finally:
        timer.cancel()
    assert interrupted.exit_code == 130 and "run the same command to resume" in interrupted.output
    kept = len(read_jsonl(tmp_path / "run" / "items.jsonl"))
    assert 0 < kept < 40
    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    last = json.loads((tmp_path / "run" / "run.json").read_text())["last_run"]
    assert (last["reused_items"], last["judged_items"]) == (kept, 40 - kept)


def test_vdc_report_under_another_preset(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    captions = tmp_path / "captions"
    captions.mkdir()
    for dimension in ("camera", "short"):
        rows = read_jsonl(samples_dir / "vdc" / f"{dimension}.sample.jsonl")
        ids = [next(iter(row)) for row in rows]
        (captions / f"{dimension}.jsonl").write_text(
            "".join(json.dumps({"video_id": v, "text": f"A {dimension} caption of {v}."}) + "\n" for v in ids)
        )
    run = tmp_path / "vdc"
    result = invoke(
        "vdc", "--qa-dir", samples_dir / "vdc", "--dimensions", "camera,short", "--captions", captions,
        "--id-field", "video_id", "--caption-field", "text", "--judge", judge.spec(), "--out", run, "--limit", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "| camera |" in result.stdout and "| **average** |" in result.stdout
    lmms = invoke("report", run, "--preset", "lmms")
    assert lmms.exit_code == 0 and "preset: `lmms`" in lmms.stdout
    assert "judged with preset auroracap's judge settings" in lmms.stdout
    assert (run / "rescored-lmms" / "vdc.png").is_file()


def test_vdc_captions_without_a_dimension_name_the_layout_before_judging(samples_dir, tmp_path):
    """{"id": <video_id>, "caption"} lines (one caption per video) are the commonest mistake: VDC needs one caption
    per video and dimension, and the error says how to give it instead of reporting 40 missing captions."""
    ids = [next(iter(row)) for row in read_jsonl(samples_dir / "vdc" / "camera.sample.jsonl")]
    captions = tmp_path / "captions.jsonl"
    captions.write_text("".join(json.dumps({"id": v, "caption": "A man walks."}) + "\n" for v in ids))
    result = invoke(
        "vdc", "--qa-dir", samples_dir / "vdc", "--captions", captions, "--judge", "rules", "--out", tmp_path / "o"
    )
    assert result.exit_code == 2
    assert "write ids as <dimension>/<video_id>" in result.output and "--dimension-field" in result.output
    assert not (tmp_path / "o" / "items.jsonl").exists()
    help_text = CliRunner().invoke(app, ["eval", "vdc", "--help"], terminal_width=200).output
    assert "<dimension>/<video_id>" in " ".join(help_text.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("dream1k", "--annotations", "missing.jsonl", "--captions", "c.jsonl", "--out", "o"),
            "missing.jsonl: no such file",
        ),
        (("dream1k", "--annotations", "a.jsonl", "--out", "o"), "give captions (--captions FILE) or captioning"),
        (("vdc", "--qa-dir", "q", "--captions", "c", "--out", "o", "--preset", "best"), "unknown preset 'best'"),
        (("vdc", "--qa-dir", "q", "--captions", "c", "--out", "o", "--judge", "gpt4"), "model spec 'gpt4': expected"),
        (("report", "nowhere"), "no items.jsonl here"),
        (("compare", "nowhere"), "not a readable owlcap report"),
    ],
)
def test_bad_input_gets_one_clear_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output
