"""A faulty judge (garbage answers, 429, 500, hangs) over the full DREAM-1K file and 30 VDC videos: the run
finishes, counts what was retried, resampled, excluded and failed; a re-run with a healthy judge re-judges only
the failed items and ends with the official numbers."""

from __future__ import annotations

import json

import pytest
from test_eval_runs import official_dream, official_vdc

from owlcap.eval import evaluate_dream1k, evaluate_vdc
from owlcap.eval.dream1k.data import load as load_dream
from owlcap.eval.vdc.data import load as load_vdc

pytestmark = pytest.mark.slow

FAULTS = {
    "transient": {"garbage": 0.04, "429": 0.03, "500": 0.03, "hang": 0.002},
    "persistent": {"garbage": 0.004, "500": 0.004},
}


def judge(spec: str) -> dict:
    return {
        "model": spec,
        "concurrency": 32,
        "request_timeout_s": 2.0,
        "max_retries": 2,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "stop_after_consecutive_failures": 0,
    }


def _check_first_run(result, *, resampling: bool) -> int:
    counts, cost = result.report["counts"], result.report["last_run"]["cost"]
    assert counts["failed"] > 0 and not result.complete
    assert counts["failed_calls"].get("invalid_answer", 0) > 0  # garbage, once (VDC) or every fresh sample (DREAM)
    assert counts["failed_calls"].get("judge_unavailable", 0) > 0  # persistent 500: every retry spent
    assert cost["retried_requests"] > 0  # transient 429/500/hangs recovered by retries
    # DREAM-1K samples a garbled answer again (10 answers per call); VDC's official scorer takes one answer.
    assert (cost["resampled_answers"] > 0) == resampling and (counts["resampled_calls"] > 0) == resampling
    return counts["failed"]


def test_dream1k_full_file_with_a_faulty_judge_then_a_healthy_one(judge_process, benchmarks_dir, tmp_path):
    annotations = benchmarks_dir / "dream1k" / "DREAM-1k.jsonl"
    items = load_dream(annotations).items
    captions = {i.id: i.reference.split(".")[0] + ". A man waves. The camera pans." for i in items}
    (tmp_path / "captions.jsonl").write_text(
        "".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items())
    )
    config = {
        "annotations": str(annotations),
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    faulty = judge_process(FAULTS)
    first = evaluate_dream1k({**config, "judge": judge(faulty.spec("gpt-3.5-turbo-0125"))})
    failed = _check_first_run(first, resampling=True)
    overall = first.report["results"]["overall"]
    assert overall["failed"] == failed and overall["success"] == 1000 - failed  # failures excluded from the means
    faulty.stop()

    healthy = judge_process()
    second = evaluate_dream1k({**config, "judge": judge(healthy.spec("gpt-3.5-turbo-0125"))})
    last = second.report["last_run"]
    assert (last["judged_items"], last["reused_items"]) == (failed, 1000 - failed)
    assert second.complete, second.problems
    expected = official_dream(items, captions)
    for name, values in expected.items():
        got = second.report["results"]["overall" if name == "OVERALL" else "categories"]
        got = got if name == "OVERALL" else got[name]
        assert (got["f1"], got["recall"], got["precision"]) == pytest.approx(values, abs=1e-9)


def test_vdc_30_videos_with_a_faulty_judge_then_a_healthy_one(judge_process, benchmarks_dir, tmp_path):
    qa_dir = benchmarks_dir / "vdc"
    dimensions = ["camera", "main_object"]  # two of five, to keep the test short; main_object has the quirks
    data = load_vdc(qa_dir, dimensions)
    chosen = data.video_ids()[:30]
    captions = {f"{d}/{v}": f"The {d} of the video: a man walks away." for d in data.dimensions for v in chosen}
    (tmp_path / "captions.jsonl").write_text(
        "".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items())
    )
    config = {
        "qa_dir": str(qa_dir),
        "dimensions": dimensions,
        "limit": 30,
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    faulty = judge_process(FAULTS)
    first = evaluate_vdc({**config, "judge": judge(faulty.spec("meta-llama/Llama-3.1-8B-Instruct"))})
    failed = _check_first_run(first, resampling=False)
    items = first.report["counts"]["items"]
    assert items == sum(1 for d in data.dimensions.values() for v in chosen if v in d.videos)
    left_out = [d["videos_left_out"] for d in first.report["results"]["dimensions"].values()]
    assert sum(reasons.get("unparsable", 0) + reasons.get("judge_error", 0) for reasons in left_out) == failed
    faulty.stop()

    healthy = judge_process()
    second = evaluate_vdc({**config, "judge": judge(healthy.spec("meta-llama/Llama-3.1-8B-Instruct"))})
    last = second.report["last_run"]
    assert (last["judged_items"], last["reused_items"]) == (failed, items - failed)
    assert second.complete, second.problems
    subset = load_vdc(qa_dir, dimensions)
    for dimension in subset.dimensions.values():
        dimension.videos = {v: q for v, q in dimension.videos.items() if v in chosen}
    for dimension, values in official_vdc(subset, captions, "auroracap").items():
        got = second.report["results"]["dimensions"][dimension]
        assert (got["acc"], got["score"]) == pytest.approx(values, abs=1e-9)
