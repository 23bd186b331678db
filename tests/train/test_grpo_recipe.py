"""``owlcap train grpo``: the recipe on tiny models and the HMD samples, with the rules judge or a failing server."""

import json
import logging
import zlib
from pathlib import Path

import pytest
from grpo_support import SMOKE
from helpers.fixtures import llm_server  # noqa: F401
from helpers.judge_responder import rules_responder
from helpers.llm_server import Reply

from owlcap.train.grpo import reference_prefetch, run_grpo

pytestmark = pytest.mark.slow

TINY = Path(__file__).resolve().parents[2] / "configs" / "grpo" / "tiny.yaml"
LOGGED = (
    "rewards/cser/mean",  # CSER
    "cser/correctness",
    "cser/completeness",
    "rewards/length/mean",  # length reward
    "cser/failures",  # judge failures
    "cser/latency_s",  # judge latency
    "reward_std",
    "frac_reward_zero_std",  # share of groups whose rewards are all equal
    "completions/mean_length",
)


def _run(model_dir, samples_dir, output_dir, *extra):
    captions = samples_dir / "hmd" / "captions.jsonl"
    overrides = ["--model.name_or_path", str(model_dir), "--data.train_files", f"[{captions}]",
                 "--output_dir", str(output_dir), *SMOKE, *extra]  # fmt: skip
    return run_grpo(TINY, overrides)


def _metrics(output_dir) -> list[dict]:
    lines = (Path(output_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_k_steps_with_the_rules_judge_log_every_metric(tiny_models, samples_dir, tmp_path, family, caplog):
    with caplog.at_level(logging.INFO, logger="owlcap"):
        result = _run(tiny_models[family], samples_dir, tmp_path, "--max_steps", "3")
    assert result.global_step == 3 and result.trained_steps == 3
    steps = [record for record in _metrics(tmp_path) if "loss" in record]
    assert [record["step"] for record in steps] == [1, 2, 3]
    for key in LOGGED:
        assert all(key in record for record in steps), key
    assert any(
        "step 3:" in record.getMessage() and "cser/correctness=" in record.getMessage() for record in caplog.records
    )
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "processor_config.json").is_file()
    summary = json.loads((tmp_path / "grpo_result.json").read_text())
    assert summary["global_step"] == 3 and summary["judge"] == "rules" and summary["final_model"] == str(tmp_path)
    assert set(LOGGED[:4]) <= set(summary["mean"]) and summary["stopped"] is None
    card = (tmp_path / "README.md").read_text()
    assert "[None]" not in card and str(tiny_models[family]) in card and "GRPO" in card


def test_a_rerun_resumes_from_the_newest_checkpoint(tiny_qwen25, samples_dir, tmp_path):
    _run(tiny_qwen25, samples_dir, tmp_path, "--max_steps", "2", "--save_steps", "1")
    assert (tmp_path / "checkpoint-2").is_dir()
    result = _run(tiny_qwen25, samples_dir, tmp_path, "--max_steps", "3", "--save_steps", "1")
    assert result.global_step == 3 and result.trained_steps == 1 and result.resumed_from.endswith("checkpoint-2")
    assert [record["step"] for record in _metrics(tmp_path) if "loss" in record] == [1, 2, 3]  # step 3 only, once


def test_lora_run_saves_the_adapter_and_the_merged_model(tiny_qwen25, samples_dir, tmp_path):
    result = _run(tiny_qwen25, samples_dir, tmp_path, "--max_steps", "1", "--model.tuning", "lora")
    assert result.global_step == 1 and result.adapter == str(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "processor_config.json").is_file()


def _failing_judge(server):
    """Answers like a judge, except that some predictions always fail: a 500 error, or no answer (timeout)."""
    judge = rules_responder()

    def respond(request):
        if request.schema_name == "PairJudgement":
            bucket = zlib.crc32(request.text_of("user").encode()) % 3
            if bucket == 0:
                return Reply.error(500)
            if bucket == 1:
                return Reply.never()
        return judge(request)

    server.responder = respond
    return server.spec()


def test_training_goes_on_when_the_judge_server_fails(tiny_qwen25, samples_dir, tmp_path, llm_server, caplog):  # noqa: F811
    judge = _failing_judge(llm_server)
    with caplog.at_level(logging.WARNING):
        result = _run(
            tiny_qwen25, samples_dir, tmp_path, "--max_steps", "2", "--reward.judge", judge,
            "--reward.llm", "{request_timeout_s: 0.5, max_retries: 1, backoff_base_s: 0.01, backoff_max_s: 0.02}",
        )  # fmt: skip
    assert result.global_step == 2
    steps = [record for record in _metrics(tmp_path) if "loss" in record]
    assert sum(record["cser/failures"] for record in steps) > 0
    assert all(record["rewards/unscorable_share"] == record["rewards/cser/failed_share"] for record in steps)
    assert any("judge failures" in record.getMessage() for record in caplog.records)
    statuses = {request.status for request in llm_server.requests}
    assert 500 in statuses and 200 in statuses


def test_reference_prefetch_starts_each_distinct_reference_once():
    started = []

    class FakeCSER:
        def prefetch_nowait(self, references):
            started.append(references)

    class FakeCSERReward:
        cser = FakeCSER()

    assert reference_prefetch([lambda completions, **kw: []]) is None  # no CSER reward: nothing to prefetch
    prefetch = reference_prefetch([FakeCSERReward(), lambda completions, **kw: []])
    prefetch([{"caption": "A."}, {"caption": "A."}, {"caption": "B."}])
    assert started == [["A.", "B."]]
