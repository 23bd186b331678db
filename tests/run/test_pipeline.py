"""The orchestrator: done stages are skipped, a changed stage reruns with everything after it, --from / --only do
what they say, and a failing stage names itself while the finished stages stay finished."""

from __future__ import annotations

import json

import pytest
from run_helpers import overrides, run_owlcap

from owlcap.errors import ConfigError
from owlcap.run import StageError, quickstart_config, run_pipeline

pytestmark = pytest.mark.slow

SKIPPED_TO_EVAL = {"data": "skipped", "sft": "skipped", "grpo": "skipped", "caption": "skipped"}


def _statuses(result) -> dict[str, str]:
    return {outcome.name: outcome.status for outcome in result.outcomes}


def _executions(run_dir) -> dict[str, str]:
    markers = {path.parent.name: path for path in run_dir.glob("*/stage.json")}
    return {name: json.loads(path.read_text())["execution"] for name, path in markers.items()}


def test_a_rerun_skips_every_done_stage_even_in_a_moved_run_dir(run_copy):
    before = _executions(run_copy)
    result = run_pipeline(quickstart_config(), overrides(run_copy))
    assert set(_statuses(result).values()) == {"skipped"}
    assert _executions(run_copy) == before
    assert result.report == run_copy / "report" / "index.html"


def test_a_changed_stage_reruns_with_everything_after_it(run_copy):
    before = _executions(run_copy)
    result = run_pipeline(quickstart_config(), overrides(run_copy, caption__config__generation__max_new_tokens=40))
    assert _statuses(result) == {**SKIPPED_TO_EVAL, "caption": "ran", "eval": "ran", "report": "ran"}
    after = _executions(run_copy)
    assert all(after[name] == before[name] for name in ("data", "sft", "grpo"))
    assert all(after[name] != before[name] for name in ("caption", "eval", "report"))
    captions = [json.loads(line) for line in (run_copy / "caption" / "sft.jsonl").read_text().splitlines()]
    assert len(captions) == 3 and {c["generation"]["max_new_tokens"] for c in captions} == {40}


def test_only_reruns_one_stage_and_the_next_run_catches_up(run_copy):
    before = _executions(run_copy)
    only = run_pipeline(quickstart_config(), overrides(run_copy), only="eval")
    assert _statuses(only) == {**SKIPPED_TO_EVAL, "eval": "ran", "report": "not run"}
    assert _executions(run_copy)["report"] == before["report"]
    # the report read the eval stage that --only replaced: the next plain run redoes the report, nothing else
    catch_up = run_pipeline(quickstart_config(), overrides(run_copy))
    assert _statuses(catch_up) == {**SKIPPED_TO_EVAL, "eval": "skipped", "report": "ran"}


def test_from_reruns_the_stage_and_every_stage_after_it(run_copy):
    result = run_pipeline(quickstart_config(), overrides(run_copy), from_stage="eval")
    assert _statuses(result) == {**SKIPPED_TO_EVAL, "eval": "ran", "report": "ran"}


def test_from_needs_the_stages_before_it_done(tmp_path):
    with pytest.raises(ConfigError, match=r"--from grpo: stage data comes first and is not done"):
        run_pipeline(quickstart_config(), overrides(tmp_path / "fresh"), from_stage="grpo")
    with pytest.raises(ConfigError, match=r"--only nope: no such stage \(stages, in order: data, sft, dpo, grpo,"):
        run_pipeline(quickstart_config(), overrides(tmp_path / "fresh"), only="nope")


def test_a_failing_stage_names_itself_and_the_finished_stages_stay(run_copy, tmp_path):
    references = tmp_path / "references.jsonl"
    references.write_text('{"id": "x"}\nnot json\n')  # no usable reference caption
    before = _executions(run_copy)
    args = overrides(run_copy, eval__cser__references=references)
    done = run_owlcap("run", str(quickstart_config()), *args)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "stage eval failed" in done.stderr and str(references) in done.stderr
    assert "no usable reference captions" in done.stderr
    assert "finished stages kept: data, sft, grpo, caption" in done.stderr
    after = _executions(run_copy)
    assert all(after[name] == before[name] for name in ("data", "sft", "grpo", "caption"))
    assert "eval" not in after  # not marked done: the next run (with the file fixed) runs it again
    assert (run_copy / "eval" / "running.json").is_file()


def test_an_unexpected_failure_leaves_its_traceback_in_the_stage_folder(run_copy, monkeypatch):
    from owlcap.run.stages import evaluate

    def broken(*args, **kwargs):
        raise RuntimeError("the judge exploded")

    monkeypatch.setattr(evaluate, "score_cser", broken)
    with pytest.raises(StageError) as caught:
        run_pipeline(quickstart_config(), overrides(run_copy), only="eval")
    error = caught.value
    assert error.stage == "eval" and error.finished == ["data", "sft", "grpo", "caption"]
    assert "RuntimeError: the judge exploded" in str(error)
    assert "the judge exploded" in (run_copy / "eval" / "error.log").read_text()


def test_a_dead_judge_fails_the_eval_stage_instead_of_scoring_zero(run_copy):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: every request is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    judge = f"openai:judge@http://127.0.0.1:{port}/v1"
    args = overrides(run_copy, eval__cser__judge=judge, eval__cser__llm__max_retries=0)
    with pytest.raises(StageError, match=r"could not score 9 caption\(s\) after its retries") as caught:
        run_pipeline(quickstart_config(), args)
    assert caught.value.stage == "eval" and caught.value.finished == ["data", "sft", "grpo", "caption"]
    items = [json.loads(line) for line in (run_copy / "eval" / "cser_items.jsonl").read_text().splitlines()]
    assert len(items) == 9 and all(item["failed"] and item["error"] for item in items)
