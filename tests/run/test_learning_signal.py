"""The quickstart's training stages learn: SFT's loss falls; GRPO's rewards differ within groups, its gradient is
not zero, and the vision tower's weights move. Checked on the finished QUICK run, from the trainers' own files and
the saved weights (not only from the summaries the pipeline wrote)."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

pytestmark = pytest.mark.slow


def _history(model_dir):
    return json.loads((model_dir / "trainer_state.json").read_text())["log_history"]


def _vision(weights):
    return {key: tensor for key, tensor in weights.items() if key.startswith("visual.") and "merger" not in key}


def test_sft_loss_falls(finished_run):
    losses = [entry["loss"] for entry in _history(finished_run / "sft" / "model") if "loss" in entry]
    assert len(losses) == 10
    assert losses[-1] < 0.85 * losses[0], losses
    summary = json.loads((finished_run / "sft" / "stage.json").read_text())["summary"]
    assert (summary["loss_first"], summary["loss_last"]) == (losses[0], losses[-1])


def test_grpo_rewards_differ_within_groups_and_the_gradient_is_not_zero(finished_run):
    steps = [entry for entry in _history(finished_run / "grpo" / "model") if "reward_std" in entry]
    assert len(steps) == 4
    with_signal = [entry for entry in steps if entry["reward_std"] > 0]
    assert len(with_signal) > len(steps) / 2, [entry["reward_std"] for entry in steps]
    assert all(entry["grad_norm"] > 0 for entry in steps), [entry["grad_norm"] for entry in steps]
    # completions long enough to be judged: well past the 16 tokens of the old smoke run
    assert min(entry["completions/mean_length"] for entry in steps) > 50


def test_grpo_moves_every_vision_tower_weight(finished_run):
    before = _vision(load_file(str(finished_run / "sft" / "model" / "model.safetensors")))
    after = _vision(load_file(str(finished_run / "grpo" / "model" / "model.safetensors")))
    assert before and before.keys() == after.keys()
    unchanged = [key for key in before if after[key].equal(before[key])]
    assert not unchanged
    change = json.loads((finished_run / "grpo" / "stage.json").read_text())["summary"]["weight_change"]
    assert change["vision tower"]["changed"] == change["vision tower"]["tensors"] == len(before)
    assert change["vision tower"]["relative"] > 0


def test_the_report_shows_the_signal(finished_run):
    report = json.loads((finished_run / "report" / "report.json").read_text())
    assert report["sft"]["loss_last"] < report["sft"]["loss_first"]
    assert report["grpo"]["steps_with_reward_std"] > report["grpo"]["steps"] / 2
    assert report["grpo"]["steps_with_grad"] == report["grpo"]["steps"]
    models = report["eval"]["cser"]["models"]
    assert list(models) == ["base", "sft", "grpo"]
    assert all(means["scored"] == 3 and means["failed"] == 0 for means in models.values())
