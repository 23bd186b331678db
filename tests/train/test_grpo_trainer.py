"""VideoGRPOTrainer on tiny Qwen-VL models: each override of TRL's GRPOTrainer does what it is there for."""

import logging
import math

import pytest
import torch
from grpo_support import VisionCalls, distinct_chars, make_trainer

from owlcap.models import vision_token_ids
from owlcap.train.shared_video import VideoPlan, VideoTensors

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_vision_tower_gets_gradients_and_its_weights_change(tiny_models, family, hmd_videos, tmp_path):
    trainer = make_trainer(tiny_models[family], family, [distinct_chars], hmd_videos[:2], tmp_path, max_steps=2)
    visual = trainer.model.model.visual
    before = {name: p.detach().clone() for name, p in visual.named_parameters()}
    grad_norms = []
    first = next(visual.parameters())
    first.register_hook(lambda grad: grad_norms.append(grad.norm().item()))
    trainer.train()
    assert grad_norms and max(grad_norms) > 0
    changed = [name for name, p in visual.named_parameters() if not torch.equal(before[name], p)]
    assert len(changed) == len(before), f"unchanged vision parameters: {sorted(set(before) - set(changed))}"


@pytest.mark.parametrize("share", [True, False])
def test_vision_tower_runs_once_per_distinct_video_per_forward_pass(tiny_qwen25, hmd_videos, tmp_path, share):
    # 2 videos x G=4 = 8 rows; num_iterations=2 makes TRL compute old log-probs; beta>0 adds the reference model.
    trainer = make_trainer(
        tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:2], tmp_path, share=share,
        per_device_train_batch_size=8, num_generations=4, num_iterations=2, beta=0.04, max_steps=2,
    )  # fmt: skip
    policy, reference = VisionCalls(trainer.model), VisionCalls(trainer.ref_model)
    trainer.train()
    # Policy: generation, old log-probs, then the loss of each of the two optimisation steps; reference: once.
    per_pass = 2 if share else 8
    assert policy.videos_per_call == [per_pass] * 4
    assert reference.videos_per_call == [per_pass]


def _scored_batch(trainer, hmd_videos):
    rows = [{"prompt": None, "video": str(hmd_videos[0]), "system": None}] * 2
    batch = trainer.video_prompts.build(rows)
    videos, ids = batch.videos, torch.tensor(batch.prompt_ids)
    completion = torch.randint(10, 200, (2, 5), generator=torch.Generator().manual_seed(0))
    input_ids = torch.cat([ids, completion], dim=1)
    return videos, input_ids, torch.ones_like(input_ids)


def test_every_log_prob_forward_sees_the_pixels(tiny_qwen25, hmd_videos, tmp_path):
    trainer = make_trainer(tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:1], tmp_path)
    videos, input_ids, mask = _scored_batch(trainer, hmd_videos)
    blank = VideoTensors("blank", torch.zeros_like(videos[0].pixel_values_videos), videos[0].video_grid_thw,
                         videos[0].second_per_grid_ts)  # fmt: skip

    def logps(rows, share=True):
        trainer._video_plan, trainer.share_video_encoding = VideoPlan.from_rows(rows), share
        with torch.no_grad():
            return trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, mask, 5, batch_size=1)[0]

    real = logps(videos)
    assert not torch.allclose(real, logps([blank, blank]))  # the video is in the forward (TRL 1.16 drops it)
    torch.testing.assert_close(real, logps(videos, share=False))  # sharing changes the cost, not the result
    trainer._video_plan = None


def _boost_vision_tokens(trainer) -> list[int]:
    """Make the vision tokens overwhelmingly likely: every other logit is 0, theirs are huge."""
    vision_ids = vision_token_ids(trainer._tokenizer)
    head = trainer.model.lm_head.weight.data
    boosted = head[vision_ids].sign() * 1e3
    head.zero_()
    head[vision_ids] = boosted
    return vision_ids


def test_vision_special_tokens_are_never_generated(tiny_qwen25, hmd_videos, tmp_path):
    seen = []

    def record(completions, completion_ids, **kwargs):
        seen.extend(completion_ids)
        return [0.0] * len(completions)

    trainer = make_trainer(tiny_qwen25, "qwen2_5_vl", [record], hmd_videos[:2], tmp_path)
    vision_ids = _boost_vision_tokens(trainer)
    assert set(vision_ids) <= set(trainer.generation_config.suppress_tokens)
    trainer.train()
    assert seen and not any(set(ids) & set(vision_ids) for ids in seen)

    # Why it matters: with TRL's own suppression (the image pad only) a sampled <|video_pad|> breaks the loss.
    stock = make_trainer(tiny_qwen25, "qwen2_5_vl", [record], hmd_videos[:2], tmp_path / "stock")
    _boost_vision_tokens(stock)
    stock.generation_config.suppress_tokens = stock.generation_kwargs["suppress_tokens"] = [
        stock.model.config.image_token_id
    ]
    with pytest.raises(ValueError, match="do not match"):
        stock.train()


def test_a_failed_judge_call_leaves_the_completion_unscored_not_zero(tiny_qwen25, hmd_videos, tmp_path):
    def judge(completions, **kwargs):  # every 4th completion: the judge failed
        return [None if i % 4 == 0 else float(i % 4) for i in range(len(completions))]

    def length(completions, **kwargs):
        return [0.0] * len(completions)

    trainer = make_trainer(
        tiny_qwen25, "qwen2_5_vl", [judge, length], hmd_videos[:2], tmp_path,
        per_device_train_batch_size=8, num_generations=4,
    )  # fmt: skip
    trainer.train()
    advantages = list(trainer._logs["advantages"])
    scale = 1.0 / (1.0 + 1e-4)  # scored rewards 1, 2, 3: mean 2, std 1 (a 0 for the failure would give mean 1.5)
    assert advantages == pytest.approx([0.0, -scale, 0.0, scale] * 2, abs=1e-5)
    logged = trainer.state.log_history[0]
    assert logged["rewards/judge/failed_share"] == pytest.approx(0.25)
    assert logged["rewards/unscorable_share"] == pytest.approx(0.25)
    assert logged["rewards/length/mean"] == 0.0


def test_an_undecodable_video_costs_its_group_only(tiny_qwen25, hmd_videos, tmp_path, caplog):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    trainer = make_trainer(tiny_qwen25, "qwen2_5_vl", [distinct_chars], [hmd_videos[0], broken], tmp_path)
    with caplog.at_level(logging.WARNING, logger="owlcap.train.grpo_inputs"):
        trainer.train()
    assert any("broken.mp4" in record.getMessage() for record in caplog.records)
    logged = trainer.state.log_history[0]
    assert logged["video/decode_failures"] == 1
    assert logged["rewards/unscorable_share"] == pytest.approx(0.5)
    assert trainer.state.global_step == 1


def test_prefetch_gets_each_generation_batch_before_generation(tiny_qwen25, hmd_videos, tmp_path):
    seen = []
    trainer = make_trainer(
        tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:2], tmp_path, max_steps=2,
        prefetch=lambda rows: seen.append((len(calls.videos_per_call), [row["caption"] for row in rows])),
    )  # fmt: skip
    calls = VisionCalls(trainer.model)
    trainer.train()
    assert [encoded for encoded, _ in seen] == [0, 2]  # before each step's generation encoded anything
    assert all(len(captions) == 4 for _, captions in seen)


def test_resume_restores_the_trained_weights(tiny_qwen25, hmd_videos, tmp_path):
    # transformers 5.20 saves Qwen2.5-VL checkpoints in legacy keys that Trainer cannot load back (see
    # owlcap.train.checkpoints): without the mixin a resumed run silently restarts from the base weights.
    first = make_trainer(tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:2], tmp_path,
                         max_steps=2, save_strategy="steps", save_steps=2)  # fmt: skip
    first.train()
    trained = {name: p.detach().clone() for name, p in first.model.named_parameters()}
    resumed = make_trainer(tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:2], tmp_path, max_steps=2)
    assert not torch.equal(next(resumed.model.parameters()), next(iter(trained.values())))  # fresh base weights
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    for name, p in resumed.model.named_parameters():
        assert torch.equal(p, trained[name]), name


def test_kl_clamp_equals_the_released_formula_in_value_and_gradient():
    from owlcap.train.grpo_trainer import clamp_kl_reference

    generator = torch.Generator().manual_seed(0)
    reference = torch.randn(4, 9, generator=generator) * 12
    weights = torch.rand(4, 9, generator=generator)

    def released(policy):  # the released trainer: x = clamp(ref - policy, -10, 10); exp(x) - x - 1
        x = torch.clamp(reference - policy, min=-10, max=10)
        return torch.exp(x) - x - 1

    def through_trl(policy):  # TRL's own KL expression, fed the rewritten reference log-probs
        ref = clamp_kl_reference(reference, policy, 10.0)
        return torch.exp(ref - policy) - (ref - policy) - 1

    policy = torch.randn(4, 9, generator=generator) * 12
    gaps = (reference - policy).abs()
    assert (gaps > 10).any() and (gaps < 10).any()  # both regimes are exercised
    values, grads = [], []
    for kl in (released, through_trl):
        p = policy.clone().requires_grad_()
        out = kl(p)
        (grad,) = torch.autograd.grad((out * weights).sum(), p)
        values.append(out.detach())
        grads.append(grad)
    torch.testing.assert_close(values[0], values[1], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(grads[0], grads[1])
    assert (grads[1][gaps > 10] == 0).all()


def test_the_kl_clamp_reaches_the_loss(tiny_qwen25, hmd_videos, tmp_path):
    trainer = make_trainer(tiny_qwen25, "qwen2_5_vl", [distinct_chars], hmd_videos[:2], tmp_path, beta=0.04)
    trainer.kl_log_ratio_clamp = 10.0
    generate = trainer._generate_and_score_completions

    def far_reference(inputs):  # a reference model 50 nats away on every token: every log-ratio is clamped
        output = generate(inputs)
        output["ref_per_token_logps"] = output["ref_per_token_logps"] + 50
        return output

    trainer._generate_and_score_completions = far_reference
    trainer.train()
    assert trainer.state.log_history[0]["kl"] == pytest.approx(math.exp(10) - 11, rel=1e-4)  # unclamped: e^50
