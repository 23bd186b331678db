"""The TRL reward functions (run through TRL 1.16's own reward code) and the verl ``compute_score``."""

import asyncio
import collections
import json
import math
from types import SimpleNamespace

import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import Reply

from owlcap.errors import ConfigError, JudgeError
from owlcap.llm import from_spec
from owlcap.reward import (
    CSER,
    CSERRewardFunc,
    LengthRewardFunc,
    compute_score,
    compute_score_batch,
    length_reward,
    reward_functions,
)


@pytest.fixture(scope="module")
def captions(samples_dir):
    lines = (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()
    return [json.loads(line)["caption"] for line in lines if line.strip()]


def test_reward_funcs_fit_trls_contract():
    from trl.trainer.utils import get_callable_name, is_async_callable

    cser_fn, length_fn = reward_functions("rules")
    assert is_async_callable(cser_fn) and not is_async_callable(length_fn)
    assert (get_callable_name(cser_fn), get_callable_name(length_fn)) == ("cser", "length")


def test_trl_calculate_rewards_runs_our_functions(captions):
    """TRL's own ``GRPOTrainer._calculate_rewards`` on a stand-in trainer: async CSER on TRL's loop thread, the
    sync length reward, dataset columns, log_metric/log_extra, and a judge failure becoming NaN."""
    import torch
    from trl import GRPOTrainer
    from trl.trainer.utils import shutdown_event_loop_in_daemon, start_event_loop_in_daemon

    cser_fn, length_fn = reward_functions("rules")
    metrics, extra = collections.defaultdict(list), collections.defaultdict(list)
    thread, loop, ready = start_event_loop_in_daemon(name="trl-test")
    ready.wait()
    trainer = SimpleNamespace(
        accelerator=SimpleNamespace(device=torch.device("cpu"), is_main_process=True),
        args=SimpleNamespace(report_to=[]),
        state=SimpleNamespace(global_step=0),
        reward_funcs=[cser_fn, length_fn],
        reward_processing_classes=[None, None],
        reward_func_names=["cser", "length"],
        environments=None,
        async_loop=loop,
        _log_metric=lambda name, value: metrics[name].append(value),
        _log_completion_extra=lambda column, values: extra[column].extend(values),
    )
    reference = captions[0]
    completions = [[{"role": "assistant", "content": reference}], [{"role": "assistant", "content": captions[1]}]]
    completions.append([{"role": "assistant", "content": "A caption."}])
    prompts = [[{"role": "user", "content": "Describe this video in detail."}]] * 3
    inputs = [{"prompt": p, "reference": r} for p, r in zip(prompts, [reference, reference, "   "], strict=True)]
    try:
        rewards = GRPOTrainer._calculate_rewards(trainer, inputs, prompts, completions, [[1]] * 3)
    finally:
        shutdown_event_loop_in_daemon(thread, loop)
    assert rewards.shape == (3, 2)
    assert rewards[0, 0].item() == 2.0 and rewards[1, 0].item() == 0.0
    assert math.isnan(rewards[2, 0].item()), "a failed judgement must reach TRL as NaN, not 0"
    assert rewards[:, 1].tolist() == pytest.approx([1.0, 1.0, 0.2])
    assert metrics["cser/failures"] == [1.0] and metrics["cser/correctness"] == [0.5]
    assert extra["cser_failed"] == [False, False, True]
    assert cser_fn.total_failures == 1


def test_reward_func_reads_the_released_solution_column(captions):
    cser_fn = CSERRewardFunc(CSER("rules"), reference_key="solution")
    rewards = asyncio.run(cser_fn(prompts=["p"], completions=[captions[2]], solution=[{"answer": captions[2]}]))
    assert rewards == [2.0]
    assert cser_fn.last_metrics["judge_requests"] == 2


def test_a_missing_reference_column_is_a_config_error():
    cser_fn = CSERRewardFunc(CSER("rules"))
    with pytest.raises(ConfigError, match="no 'reference' column"):
        asyncio.run(cser_fn(prompts=["p"], completions=["c"], caption=["x"]))


def test_http_judge_failures_become_none(llm_server, captions):
    llm_server.push(*[Reply.error(500)] * 10)
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False, max_retries=1))
    cser_fn = CSERRewardFunc(CSER(judge))
    rewards = asyncio.run(cser_fn(prompts=["p", "p"], completions=captions[:2], reference=[captions[0]] * 2))
    assert rewards == [None, None]
    assert cser_fn.last_metrics["failures"] == 2 and cser_fn.last_metrics["failure_rate"] == 1.0


def test_length_reward_func_matches_length_reward(captions):
    length_fn = LengthRewardFunc()
    logged = {}
    completions = [captions[0], "", [{"role": "assistant", "content": "word " * 350}]]
    out = length_fn(completions=completions, log_metric=logged.__setitem__)
    assert out == [length_reward(captions[0]), 0.2, 0.5]
    assert logged["length/words"] > 0


def test_verl_compute_score(captions):
    result = compute_score("hmd", captions[0], captions[0])
    assert result["score"] == pytest.approx(2.0 + 1.0)
    assert (result["correctness"], result["completeness"], result["judge_failed"]) == (1.0, 1.0, 0.0)
    no_length = compute_score("hmd", captions[0], {"answer": captions[0]}, length=False)
    assert no_length["score"] == 2.0
    batch = compute_score_batch(["hmd"] * 2, [captions[0], captions[1]], [captions[0]] * 2)
    assert [b["correctness"] for b in batch] == [1.0, 0.0]


def test_verl_failure_raises_unless_a_failure_score_is_given(captions):
    with pytest.raises(JudgeError, match="failure_score"):
        compute_score("hmd", captions[0], "  ")
    flagged = compute_score("hmd", captions[0], "  ", failure_score=0.0)
    assert flagged["judge_failed"] == 1.0 and math.isnan(flagged["correctness"])
