"""Sharing one video encoding among a group's rows changes nothing but the cost: same logits, same generations."""

import pytest
import torch
from grpo_support import load_tiny, tiny_sampling

from owlcap.models import processor_inputs
from owlcap.train.grpo_inputs import VideoPromptBuilder
from owlcap.train.shared_video import (
    VideoPlan,
    VideoTensors,
    encode_videos,
    forward_kwargs,
    shared_video_features,
    video_token_types,
)


@pytest.fixture
def tiny(tiny_models, family):
    model, processor = load_tiny(tiny_models[family])
    return model.eval(), processor


def _rows(hmd_videos, pattern=(0, 0, 1, 1)):
    return [{"prompt": None, "video": str(hmd_videos[i]), "system": None} for i in pattern]


def _per_row_inputs(builder, rows):
    """What a per-row pipeline feeds the model: every row with its own copy of its video's pixels."""
    texts = [builder.render(row) for row in rows]
    videos = [builder.sampler.sample(row["video"]) for row in rows]
    return processor_inputs(builder.processor, texts, videos)


def _per_row_and_shared(processor, family, hmd_videos):
    """The same rows two ways: the per-row model inputs, and the plan that encodes each distinct video once."""
    builder = VideoPromptBuilder(processor, tiny_sampling(family))
    rows = _rows(hmd_videos)
    return _per_row_inputs(builder, rows), VideoPlan.from_rows(builder.build(rows).videos)


def test_plan_dedupes_rows_by_video_object():
    a = VideoTensors("a", torch.zeros(4, 3), torch.tensor([[1, 2, 2]]))
    b = VideoTensors("b", torch.ones(4, 3), torch.tensor([[1, 2, 2]]))
    plan = VideoPlan.from_rows([a, a, b, b, a])
    assert plan.videos == [a, b] and plan.index == [0, 0, 1, 1, 0]
    assert plan.pixel_values(shared=True).shape[0] == 8
    assert plan.pixel_values(shared=False).shape[0] == 20
    assert plan.slice(2, 4).index == [1, 1]
    assert "grid=1x2x2" in repr(a) and "tensor" not in repr(a)  # a logged row never dumps pixels


def test_builder_tokenizes_once_per_video_and_shares_tensors(tiny, family, hmd_videos):
    _, processor = tiny
    builder = VideoPromptBuilder(processor, tiny_sampling(family))
    batch = builder.build(_rows(hmd_videos))
    assert batch.videos[0] is batch.videos[1] and batch.videos[2] is batch.videos[3]
    assert batch.videos[0] is not batch.videos[2]
    reference = _per_row_inputs(builder, _rows(hmd_videos))
    for row, ids in enumerate(batch.prompt_ids):
        mask = reference["attention_mask"][row].bool()
        assert ids == reference["input_ids"][row][mask].tolist()
    assert not batch.failed_rows


def test_token_types_match_the_processor(tiny, family, hmd_videos):
    model, processor = tiny
    inputs = _per_row_inputs(VideoPromptBuilder(processor, tiny_sampling(family)), _rows(hmd_videos))
    assert torch.equal(video_token_types(inputs["input_ids"], model.config.video_token_id), inputs["mm_token_type_ids"])


def test_shared_encoding_gives_the_per_row_logits(tiny, family, hmd_videos):
    model, processor = tiny
    reference_inputs, plan = _per_row_and_shared(processor, family, hmd_videos)
    ids, mask = reference_inputs["input_ids"], reference_inputs["attention_mask"]
    with torch.no_grad():
        expected = model(**reference_inputs).logits
        features = encode_videos(model, plan, shared=True)
        shared = model(
            input_ids=ids, attention_mask=mask, **forward_kwargs(features, plan, ids, model.config.video_token_id)
        )
    torch.testing.assert_close(shared.logits, expected, rtol=1e-5, atol=1e-5)


def test_gradients_of_all_rows_reach_the_one_encoding(tiny, family, hmd_videos):
    model, processor = tiny
    plan = VideoPlan.from_rows(VideoPromptBuilder(processor, tiny_sampling(family)).build(_rows(hmd_videos)).videos)
    features = encode_videos(model, plan, shared=True)
    outputs = list(features.pooler_output)
    for layer in getattr(features, "deepstack_features", None) or []:  # Qwen3-VL's deepstack mergers
        outputs.extend(layer)
    sum(row.sum() for row in outputs).backward()
    grads = [p.grad for p in model.model.visual.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_generation_with_shared_encoding_matches_per_row(tiny, family, hmd_videos):
    model, processor = tiny
    inputs, plan = _per_row_and_shared(processor, family, hmd_videos)
    settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": processor.tokenizer.pad_token_id}
    calls = []
    handle = model.model.visual.register_forward_hook(
        lambda m, a, kw, out: calls.append(kw["grid_thw"].shape[0]), with_kwargs=True
    )
    with torch.no_grad():
        expected = model.generate(**inputs, **settings)
        shared_inputs = dict(inputs) | {"pixel_values_videos": plan.pixel_values(shared=True)}
        with shared_video_features(model, plan.index):
            shared = model.generate(**shared_inputs, **settings)
    handle.remove()
    assert torch.equal(shared, expected)
    assert calls == [4, 2]  # per row, then once per distinct video
    assert "get_video_features" not in vars(model.model)  # the swap is undone
