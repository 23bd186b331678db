"""``owlcap eval carebench|capability`` walked as a user: a run on the sample files, re-scoring, comparing, a wrong
path, a dead judge, a captioning request the benchmark cannot serve."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from owlcap.cli.main import app

DEAD = "openai:deepseek-chat@http://127.0.0.1:9/v1"


def invoke(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def test_carebench_run_rescore_and_compare(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations = samples_dir / "carebench" / "metadata.sample.json"
    captions = samples_dir / "hmd" / "captions.jsonl"
    run = tmp_path / "care"
    result = invoke(
        "carebench", "--annotations", annotations, "--captions", captions, "--judge", judge.spec(), "--out", run
    )
    assert result.exit_code == 0, result.output
    assert "| **OVERALL** |" in result.stdout and "Action F1" in result.stdout
    header = json.loads((run / "run.json").read_text())
    assert header["prompts"]["name"] == "official" and header["benchmark"] == "carebench"
    rescored = invoke("report", run, "--failure_scope", "aspect", "--no-plots")
    assert rescored.exit_code == 0, rescored.output
    assert "scoring.failure_scope=aspect" in rescored.stdout
    other = tmp_path / "care2"
    assert invoke("carebench", "--annotations", annotations, "--captions", captions, "--judge", judge.spec("other"),
                  "--out", other, "--prompts", "owlcap").exit_code == 0  # fmt: skip
    compared = invoke("compare", run, other)
    assert compared.exit_code == 0, compared.output
    assert "Action F1/R/P" in compared.stdout and "prompt set differs (owlcap)" in compared.stdout


def test_capability_run_and_rescore_under_lmms(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    run = tmp_path / "cap"
    args = ("capability", "--annotations", samples_dir / "capability", "--dimensions", "video")
    args += ("--captions", samples_dir / "hmd" / "captions.jsonl", "--judge", judge.spec(), "--out", run)
    result = invoke(*args, "--retry.max_allow_missing", "0")
    assert result.exit_code == 0, result.output
    assert "| **average** |" in result.stdout and "retry.max_allow_missing=0" in result.stdout
    lmms = invoke("report", run, "--preset", "lmms", "--no-plots")
    assert lmms.exit_code == 0, lmms.output
    assert "scored here with preset lmms's rules" in lmms.stdout and (run / "rescored-lmms" / "report.json").is_file()
    official = invoke(*args[:-2], "--out", tmp_path / "cap-official")  # the official 5: 3 files per dimension
    assert official.exit_code == 0, official.output
    assert "12 file(s) left unjudged by the official retry rule" in official.stdout


def test_bad_input_and_a_dead_judge_end_with_one_error_line(samples_dir, tmp_path):
    missing = invoke("carebench", "--annotations", tmp_path / "nope.json", "--captions", tmp_path / "c.jsonl",
                     "--judge", "rules", "--out", tmp_path / "a")  # fmt: skip
    assert missing.exit_code == 2 and "error:" in missing.output and "nope.json" in missing.output
    assert "Traceback" not in missing.output
    images = invoke("capability", "--annotations", samples_dir / "capability", "--dimensions", "event,scene",
                    "--videos", samples_dir / "hmd" / "videos", "--model", "hf:x", "--judge", "rules",
                    "--out", tmp_path / "b")  # fmt: skip
    assert images.exit_code == 2 and "scene are image dimensions" in images.output
    dead = invoke("carebench", "--annotations", samples_dir / "carebench" / "metadata.sample.json",
                  "--captions", samples_dir / "hmd" / "captions.jsonl", "--judge", DEAD, "--retries", "0",
                  "--out", tmp_path / "c")  # fmt: skip
    assert dead.exit_code == 2 and "did not answer a test request" in dead.output
    assert "Traceback" not in dead.output
