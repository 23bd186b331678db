"""The released OwlCap data lines through the tiny SFT and GRPO recipes, and the released GRPO replay end to end."""

import json
from pathlib import Path

import pytest
from helpers.fixtures import llm_server  # noqa: F401
from helpers.llm_server import Reply

from owlcap.train.grpo import run_grpo
from owlcap.train.sft import run_sft

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
READABLE = '{"Pred_units": [{"units": "A.", "response": "Yes"}], "Gt_units": [{"units": "B.", "response": "Yes"}]}'


@pytest.fixture(scope="module")
def released_lines(samples_dir, tmp_path_factory) -> Path:
    """The example line of issue 10 on the quickly-seeking samples: trimmed, untrimmed and with null trims."""
    records = {r["id"]: r for r in map(json.loads, (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines())}

    def line(name, **trims):
        record = records[name]
        turns = [
            {"from": "human", "value": "<video>\nDescribe this video in detail."},
            {"from": "gpt", "value": record["caption"]},
        ]
        return {"video": str(samples_dir / "hmd" / record["video"]), "conversations": turns, **trims}

    lines = [
        line("hummingbird_3", start_time=2.0, end_time=5.0),
        line("blackboard_20350807"),
        line("hummingbird_3", start_time=None, end_time=None),
    ]
    path = tmp_path_factory.mktemp("released") / "released.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in lines))
    return path


def test_tiny_sft_trains_on_released_lines(tiny_qwen25, released_lines, tmp_path):
    overrides = ["--model.name_or_path", str(tiny_qwen25), "--data.train_files", f"[{released_lines}]",
                 "--output_dir", str(tmp_path), "--report_to", "[]", "--max_steps", "2"]  # fmt: skip
    result = run_sft(REPO / "configs" / "sft" / "tiny.yaml", overrides)
    assert result.global_step == 2 and result.bad_lines == 0
    assert result.data["videos_decoded"] == 6 and result.data["videos_skipped"] == 0


def test_released_tiny_grpo_replays_the_reward_on_released_lines(tiny_qwen25, released_lines, tmp_path, llm_server):  # noqa: F811
    """Half the judge's answers are unreadable: those completions score CSER 0 and keep their length reward."""

    def respond(request):
        readable = len(llm_server.requests) % 2 == 1  # requests are numbered from 1 as they arrive
        return Reply.ok(READABLE if readable else "I would rather not say.")

    llm_server.responder = respond
    # This server answers the released request only, so the judge preflight (a units request) is skipped.
    overrides = ["--model.name_or_path", str(tiny_qwen25), "--data.train_files", f"[{released_lines}]",
                 "--output_dir", str(tmp_path), "--reward.judge", llm_server.spec(),
                 "--reward.checks.preflight", "false"]  # fmt: skip
    trainer = run_grpo(REPO / "configs" / "grpo" / "owlcap_released_tiny.yaml", overrides).trainer
    assert trainer.state.global_step == 2
    # the released sampling and loss settings reached the trainer
    assert trainer.generation_config.top_k == 50 and trainer.generation_config.temperature == 1.0
    assert trainer.kl_log_ratio_clamp == 10.0 and trainer.video_prompts.prompt_order == "text_first"
    assert trainer.video_prompts.sampler.min_frames == 16
    steps = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [step for step in steps if "loss" in step]
    assert len(llm_server.requests) == 4  # G=2 completions x 2 steps, each its own request, none cached
    for step in steps:
        assert step["cser/unparsable"] == 1 and step["cser/failures"] == 0
        assert step["rewards/unscorable_share"] == 0  # a 0, not an unscored completion
        assert step["rewards/cser/mean"] == pytest.approx(1.0)  # one 2.0 and one 0.0 per group
        assert step["reward"] == pytest.approx(1.0 + step["rewards/length/mean"])
        assert step["reward_std"] > 0
