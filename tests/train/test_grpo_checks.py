"""``reward.checks``: a dead judge ends a GRPO run before anything is loaded; a judge that starts failing mid-run stops
it with a checkpoint; a run with no reward signal warns. Against the loopback judge server."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from grpo_support import SMOKE
from helpers.fixtures import fast_llm_config, llm_server  # noqa: F401
from helpers.judge_responder import rules_responder
from helpers.llm_server import Reply
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.errors import JudgeError, TrainingStopped
from owlcap.llm import from_spec
from owlcap.train.guards import PREFLIGHT_CAPTION, RewardChecksConfig, RewardWatch, preflight_judge

TINY = Path(__file__).resolve().parents[2] / "configs" / "grpo" / "tiny.yaml"
FAST_JUDGE = "{request_timeout_s: 2, max_retries: 1, backoff_base_s: 0.01, backoff_max_s: 0.02, cache: false}"


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed on exit: nothing listens there


def test_a_dead_judge_ends_the_run_before_any_model_is_loaded(samples_dir, tmp_path):
    spec = f"openai:judge@http://127.0.0.1:{_dead_port()}/v1"
    out = tmp_path / "run"
    args = ["train", "grpo", str(TINY), "--model.name_or_path", str(tmp_path / "no-model-here"),
            "--data.train_files", str(samples_dir / "hmd" / "captions.jsonl"),  # a scalar: a one-item list
            "--output_dir", str(out), "--reward.judge", spec, "--reward.llm", FAST_JUDGE]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"reward.judge {spec}: the judge failed a test request" in result.output
    assert "reward.checks.preflight: false" in result.output and "Traceback" not in result.output
    assert not out.exists()  # nothing written, and the (missing) model was never asked for


def test_the_preflight_asks_one_uncached_question_and_can_be_skipped(llm_server):  # noqa: F811
    llm_server.responder = rules_responder()
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=True))
    try:
        for _ in range(2):  # the answer is not taken from the result cache: a second check asks again
            preflight_judge(judge, RewardChecksConfig())
        assert len(llm_server.requests) == 2 and PREFLIGHT_CAPTION in llm_server.requests[0].text_of("user")
        preflight_judge(judge, RewardChecksConfig(preflight=False))
        assert len(llm_server.requests) == 2
        llm_server.responder = lambda request: Reply.ok('{"units": []}')
        with pytest.raises(JudgeError, match="no units"):
            preflight_judge(judge, RewardChecksConfig())
    finally:
        judge.close()


@pytest.mark.slow
def test_a_judge_that_starts_failing_mid_run_stops_it_with_a_checkpoint(
    tiny_qwen25,
    samples_dir,
    tmp_path,
    llm_server,  # noqa: F811
):
    from owlcap.train.grpo import run_grpo

    judge = rules_responder()
    answered = []

    def respond(request):  # splits references all along; judges the first 4 predictions, then only fails
        if request.schema_name == "PairJudgement":
            answered.append(request)
            if len(answered) > 4:
                return Reply.error(500, "judge out of memory")
        return judge(request)

    llm_server.responder = respond
    overrides = ["--model.name_or_path", str(tiny_qwen25), "--output_dir", str(tmp_path),
                 "--data.train_files", f"[{samples_dir / 'hmd' / 'captions.jsonl'}]",
                 "--reward.judge", llm_server.spec(), "--reward.llm", FAST_JUDGE,
                 "--reward.checks", "{window_steps: 2, max_failed_share: 0.5}",
                 "--max_steps", "8", "--save_steps", "100", "--log_completions", "true", *SMOKE]  # fmt: skip
    with pytest.raises(TrainingStopped, match=r"the judge failed on \d+% of the completions") as stopped:
        run_grpo(TINY, overrides)
    step = int(str(stopped.value).split("stopped at step ")[1].split(":")[0])
    assert 2 <= step < 8
    assert f"checkpoint-{step} is saved" in str(stopped.value) and (tmp_path / f"checkpoint-{step}").is_dir()
    assert not (tmp_path / "grpo_result.json").exists() and not (tmp_path / "model.safetensors").exists()
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    shares = [record["rewards/cser/failed_share"] for record in metrics if "loss" in record]
    assert len(shares) == step and shares[0] == 0.0 and shares[-1] == 1.0
    import pandas as pd

    table = pd.read_parquet(tmp_path / "completions" / "completions_00001.parquet")
    assert set(table["video_id"]) <= {"blackboard_20350807", "hummingbird_3", "programs_2"}
    assert table["video_id"].nunique() == 2  # two videos' groups per step, each row named


def _logged(failed: float, zero_std: float = 0.0) -> dict:
    return {"rewards/cser/failed_share": failed, "rewards/length/failed_share": 0.0, "frac_reward_zero_std": zero_std}


def test_the_watch_stops_on_a_failing_judge_only_over_a_full_window():
    watch = RewardWatch(RewardChecksConfig(window_steps=3, max_failed_share=0.5))
    stops = [watch.observe(_logged(share)).stop for share in (1.0, 1.0, 0.0)]
    assert stops[:2] == [None, None]  # the window is not full yet
    assert "the judge failed on 67% of the completions over the last 3 logged steps" in stops[2]
    watch = RewardWatch(RewardChecksConfig(window_steps=3, max_failed_share=0.7))
    stops = [watch.observe(_logged(share)).stop for share in (0.0, 1.0, 1.0, 1.0)]
    assert stops[:3] == [None, None, None]  # 2 of 3 = 0.67 <= 0.7
    assert "failed on 100%" in stops[3]
    never = RewardWatch(RewardChecksConfig(window_steps=1, max_failed_share=1.0))
    assert never.observe(_logged(1.0)).stop is None


def test_the_watch_warns_or_stops_when_no_group_has_a_reward_spread():
    warn = RewardWatch(RewardChecksConfig(zero_std_steps=2))
    verdicts = [warn.observe(_logged(0.0, zero)) for zero in (1.0, 1.0, 0.5, 1.0, 1.0)]
    # The first step without a spread is named at once; then every 2 in a row.
    assert [bool(v.warn) for v in verdicts] == [True, True, False, False, True]
    assert "on this logged step (reward std 0)" in verdicts[0].warn and "the last 2 logged steps" in verdicts[1].warn
    assert all(v.stop is None for v in verdicts) and (warn.signal_steps, warn.logged_steps) == (1, 5)
    later = RewardWatch(RewardChecksConfig())  # default: 3 in a row; a first flat step after a learning one waits
    assert [bool(later.observe(_logged(0.0, zero)).warn) for zero in (0.5, 1.0, 1.0, 1.0)] == [False] * 3 + [True]
    stop = RewardWatch(RewardChecksConfig(zero_std_steps=1, on_zero_std="stop"))
    assert "on_zero_std: stop" in stop.observe(_logged(0.0, 1.0)).stop
    off = RewardWatch(RewardChecksConfig(zero_std_steps=0))
    assert not any(off.observe(_logged(0.0, 1.0)).warn for _ in range(20))


def test_the_callback_saves_and_stops_the_trainer_once():
    from owlcap.train.callbacks import RewardChecksCallback

    callback = RewardChecksCallback(RewardChecksConfig(window_steps=1))
    state = SimpleNamespace(global_step=7, is_world_process_zero=True)
    control = SimpleNamespace(should_save=False, should_training_stop=False)
    callback.on_log(None, state, control, logs=_logged(0.2))
    assert not control.should_save and not control.should_training_stop
    callback.on_log(None, state, control, logs=_logged(0.9))
    assert control.should_save and control.should_training_stop and callback.stopped_at == 7
    assert "failed on 90%" in callback.stop_reason
