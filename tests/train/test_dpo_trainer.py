"""``VideoDPOTrainer``: the video in the policy and reference forwards, each pair's clip encoded once (the same
log-probs and gradients as one encode per row), reference log-probs computed once with bad pairs left out, LoRA,
TRL's losses."""

from __future__ import annotations

import pytest
import torch
from grpo_support import VisionCalls, load_tiny, tiny_sampling

from owlcap.train.dpo_data import VideoPreferenceCollator
from owlcap.train.dpo_trainer import VideoDPOTrainer
from owlcap.train.modeling import TrainModelConfig, prepare_model

CHOSEN = "A woman points at sticky notes on a blackboard and turns to a man."
REJECTED = "A man juggles three oranges on a sunny beach."


def _rows(videos) -> list[dict]:
    clips = [videos[0], videos[0], videos[1]]
    return [
        {"id": f"p{i}", "video": str(clip), "start": None, "end": None, "prompt": None, "system": None,
         "chosen": f"{CHOSEN} ({i})", "rejected": f"{REJECTED} ({i})"}
        for i, clip in enumerate(clips)
    ]  # fmt: skip


def _args(output_dir, **overrides):
    from trl import DPOConfig

    values = {
        "output_dir": str(output_dir), "per_device_train_batch_size": 3, "max_steps": 1, "learning_rate": 1e-3,
        "beta": 0.1, "bf16": False, "use_cpu": True, "report_to": [], "save_strategy": "no", "logging_steps": 1,
        "gradient_checkpointing": False, "remove_unused_columns": False, "max_length": None, "seed": 0,
        "disable_tqdm": True, "ddp_find_unused_parameters": False, "precompute_ref_log_probs": False,
    }  # fmt: skip
    return DPOConfig(**(values | overrides))


def _trainer(model_dir, family, rows, output_dir, *, share=True, tuning=None, **args) -> VideoDPOTrainer:
    from datasets import Dataset

    model, processor = load_tiny(model_dir)
    peft_config = None
    if tuning is not None:
        peft_config = prepare_model(model, TrainModelConfig(tuning=tuning, freeze_vision_tower=False))
    collator = VideoPreferenceCollator(processor, tiny_sampling(family), share_video_encoding=share)
    return VideoDPOTrainer(
        model=model,
        args=_args(output_dir, **args),
        data_collator=collator,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
        peft_config=peft_config,
        data_counters=collator.counters,
    )


def _loss_and_vision_grads(trainer: VideoDPOTrainer, rows) -> tuple[dict, dict[str, torch.Tensor], list, list]:
    batch = trainer._prepare_inputs(trainer.data_collator(rows))
    policy, reference = VisionCalls(trainer.model), VisionCalls(trainer.ref_model)
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    policy.remove(), reference.remove()
    metrics = {key: values[-1] for key, values in trainer._metrics["train"].items()}
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if n.startswith("model.visual.")}
    return metrics | {"loss": loss.item()}, grads, policy.videos_per_call, reference.videos_per_call


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_one_encode_per_clip_gives_the_per_row_log_probs_and_gradients(tiny_models, family, hmd_videos, tmp_path):
    rows = _rows(hmd_videos)
    shared = _trainer(tiny_models[family], family, rows, tmp_path / "shared")
    per_row = _trainer(tiny_models[family], family, rows, tmp_path / "per-row", share=False)
    got, grads, policy_calls, reference_calls = _loss_and_vision_grads(shared, rows)
    expected, expected_grads, per_row_policy, per_row_reference = _loss_and_vision_grads(per_row, rows)
    assert (policy_calls, reference_calls) == ([2], [2])  # two distinct clips, each once per forward
    assert (per_row_policy, per_row_reference) == ([6], [6])  # 3 pairs x (chosen + rejected)
    for key in ("loss", "logps/chosen", "logps/rejected", "rewards/margins", "rewards/chosen"):
        assert got[key] == pytest.approx(expected[key], abs=1e-5), key
    assert got["logps/chosen"] < -1 and got["logps/chosen"] != got["logps/rejected"]  # real log-probs, both sides
    assert grads.keys() == expected_grads.keys() and any(g.abs().sum() > 0 for g in grads.values())
    for name, grad in grads.items():  # the video's gradient reaches the vision tower, summed over both rows
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_reference_log_probs_once_and_a_pair_without_a_video_left_out(tiny_qwen25, hmd_videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    rows = _rows(hmd_videos)
    rows[1] = rows[1] | {"video": str(broken)}
    trainer = _trainer(tiny_qwen25, "qwen2_5_vl", rows, tmp_path / "out", precompute_ref_log_probs=True, max_steps=2)
    assert trainer.ref_model is None and trainer.pairs_without_reference == 1
    assert trainer.train_dataset["id"] == ["p0", "p2"]
    assert all(value < -1 for value in trainer.train_dataset["ref_chosen_logps"])
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if n.startswith("model.visual.")}
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "rewards/margins" in entry]
    assert len(logged) == 2 and logged[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-4)  # policy = reference
    after = dict(trainer.model.named_parameters())
    assert all(not after[name].detach().equal(value) for name, value in before.items())
    assert logged[-1]["data/videos_skipped"] >= 1  # counted once while precomputing


def test_lora_trains_against_its_own_base_without_a_second_model(tiny_qwen25, hmd_videos, tmp_path):
    trainer = _trainer(tiny_qwen25, "qwen2_5_vl", _rows(hmd_videos), tmp_path / "out", tuning="lora", max_steps=2)
    assert trainer.ref_model is None  # the reference is the model with its adapter off
    adapters = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_B" in n}
    assert any("visual" in name for name in adapters)
    trainer.train()
    changed = [n for n, p in trainer.model.named_parameters() if n in adapters and not p.detach().equal(adapters[n])]
    assert any("visual" in name for name in changed) and any("language_model" in name for name in changed)


@pytest.mark.parametrize("losses", [["ipo"], ["sigmoid_norm"], ["sigmoid", "sft"]], ids="+".join)
def test_trls_losses_run_on_video_pairs(tiny_qwen25, hmd_videos, tmp_path, losses):
    trainer = _trainer(tiny_qwen25, "qwen2_5_vl", _rows(hmd_videos), tmp_path / "out", loss_type=losses)
    trainer.train()
    [logged] = [entry for entry in trainer.state.log_history if "loss" in entry and "rewards/margins" in entry]
    assert torch.isfinite(torch.tensor(logged["loss"])) and logged["grad_norm"] > 0
