"""The benchmarks in the eval stage, end to end on the sample annotation files: VDC on captions the GRPO model
wrote (one prompt per video and dimension) of stand-in videos, DREAM-1K on its reference captions (the rules
judge's ceiling), CaReBench and CAPability on the GRPO model's captions of the sample videos their samples
annotate (CaReBench also on its reference captions); every judge answer in the official format, read by the
official parsers."""

from __future__ import annotations

import ast
import json
import socket

import pytest
from run_helpers import overrides

from owlcap.eval.prompt_sets import official_file
from owlcap.run import StageError, quickstart_config, run_pipeline

pytestmark = pytest.mark.slow


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_vdc_captions_by_the_grpo_model_are_judged_on_every_dimension(finished_run, samples_dir):
    summary = json.loads((finished_run / "eval" / "stage.json").read_text())["summary"]["vdc"]
    assert set(summary) == {"grpo"} and summary["grpo"]["complete"]
    assert summary["grpo"]["counts"]["judged"] == summary["grpo"]["counts"]["items"] == 5  # 1 video x 5 dims
    captions = _lines(finished_run / "eval" / "vdc" / "grpo" / "captions.jsonl")
    assert len(captions) == 5 and {c["model"] for c in captions} == {str(finished_run / "grpo" / "model")}
    assert len({c["prompt"] for c in captions}) > 1  # each dimension's own captioning prompt
    assert {c["video"] for c in captions} <= {str(p) for p in (samples_dir / "hmd" / "videos").glob("*.mp4")}
    for item in _lines(finished_run / "eval" / "vdc" / "grpo" / "items.jsonl"):
        for question in item["questions"]:
            verdict = ast.literal_eval(question["verdict_call"]["raw"])  # the official format
            assert set(verdict) == {"pred", "score"} and question["verdict"]["status"] == "ok"


def test_dream1k_reference_captions_give_the_rules_judges_ceiling(finished_run):
    summary = json.loads((finished_run / "eval" / "stage.json").read_text())["summary"]["dream1k"]
    references = summary["references"]
    assert references["complete"] and references["counts"]["judged"] == 40
    assert references["headline"]["overall.precision"] == 1.0
    assert 0.8 < references["headline"]["overall.recall"] < 1.0
    report = json.loads((finished_run / "eval" / "dream1k" / "references" / "report.json").read_text())
    assert report["judge"]["spec"] == "rules" and report["counts"]["failed"] == 0


def test_carebench_and_capability_judge_the_grpo_models_captions_of_the_sample_videos(finished_run):
    summary = json.loads((finished_run / "eval" / "stage.json").read_text())["summary"]
    care, cap = summary["carebench"], summary["capability"]
    assert set(care) == {"grpo", "references"} and set(cap) == {"grpo"}
    assert care["grpo"]["complete"] and care["grpo"]["counts"]["judged"] == 3
    assert care["references"]["headline"]["events.precision"] == 1.0  # a reference's own events are entailed
    captions = _lines(finished_run / "eval" / "carebench" / "grpo" / "captions.jsonl")
    assert {c["id"] for c in captions} == {"blackboard_20350807", "programs_2", "hummingbird_3"}
    assert {c["model"] for c in captions} == {str(finished_run / "grpo" / "model")}
    assert cap["grpo"]["complete"] and cap["grpo"]["counts"]["judged"] == 12  # 4 video dimensions x 3 files
    captions = _lines(finished_run / "eval" / "capability" / "grpo" / "captions.jsonl")
    video_prompt = json.loads(official_file("capability").read_text())["caption_prompts"]["video"]
    assert len(captions) == 3 and {c["prompt"] for c in captions} == {video_prompt}  # one per video, shared
    for item in _lines(finished_run / "eval" / "capability" / "grpo" / "items.jsonl"):
        assert all(ast.literal_eval(call["raw"]) for call in item["calls"])  # the official format
    report = (finished_run / "report" / "report.md").read_text()
    assert "CaReBench (grpo)" in report and "CAPability (grpo)" in report


def test_a_benchmark_judge_that_does_not_answer_fails_the_eval_stage(run_copy):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = f"openai:judge@http://127.0.0.1:{port}/v1"
    args = overrides(run_copy, eval__dream1k__config__judge__model=judge) + ["--eval.vdc", "null"]
    args += ["--eval.carebench", "null", "--eval.capability", "null"]
    with pytest.raises(StageError, match=r"the judge openai:judge@.* did not answer a test request") as caught:
        run_pipeline(quickstart_config(), args)
    assert caught.value.stage == "eval" and caught.value.finished == ["data", "sft", "grpo", "caption"]
