import pytest
import torch

from owlcap.models import GenerationOptions, VideoRequest, load_mllm
from owlcap.video import sample_frames


@pytest.fixture(scope="module")
def qwen25(tiny_qwen25):
    return load_mllm(str(tiny_qwen25))


@pytest.fixture(scope="module")
def small_clip(hmd_videos):
    return sample_frames(hmd_videos[1], nframes=4, min_pixels=28 * 28, max_pixels=56 * 84)


def _bias_lm_head_towards_vision_tokens(mllm):
    """Make a vision token win every greedy step: only two vision rows are non-zero, with opposite signs."""
    head = mllm.model.get_output_embeddings().weight
    vocab = mllm.tokenizer.get_vocab()
    direction = torch.randn(head.shape[1])
    with torch.no_grad():
        head.zero_()
        head[vocab["<|video_pad|>"]] = direction * 10
        head[vocab["<|image_pad|>"]] = -direction * 10


def test_generation_never_writes_vision_special_tokens(tiny_qwen25, small_clip):
    mllm = load_mllm(str(tiny_qwen25))
    _bias_lm_head_towards_vision_tokens(mllm)
    request = [VideoRequest("Describe this video in detail.", small_clip)]
    ids = mllm.generate_ids(request, GenerationOptions(max_new_tokens=8))
    assert not set(ids.flatten().tolist()) & set(mllm.suppressed_token_ids)

    # Control: without suppression the same model writes them, so the assertion above can fail.
    mllm.suppressed_token_ids = []
    ids = mllm.generate_ids(request, GenerationOptions(max_new_tokens=8))
    vocab = mllm.tokenizer.get_vocab()
    assert set(ids.flatten().tolist()) & {vocab["<|video_pad|>"], vocab["<|image_pad|>"]}


def test_batched_generation_returns_one_caption_per_request(qwen25, small_clip):
    requests = [VideoRequest("Describe this video in detail.", small_clip), VideoRequest("Say hello.")]
    captions = qwen25.generate(requests, GenerationOptions(max_new_tokens=6))
    assert len(captions) == 2
    assert all(isinstance(caption, str) and caption for caption in captions)


def test_sampled_generation_is_reproducible_with_a_seed(qwen25, small_clip):
    options = GenerationOptions(max_new_tokens=8, temperature=1.0, seed=7)
    request = [VideoRequest("Describe this video in detail.", small_clip)]
    assert qwen25.generate(request, options) == qwen25.generate(request, options)


def test_text_only_model_rejects_video(qwen25, small_clip):
    qwen25.multimodal = False
    try:
        with pytest.raises(ValueError, match="text-only"):
            qwen25.render(VideoRequest("x", small_clip))
    finally:
        qwen25.multimodal = True


@pytest.mark.parametrize("family, factor", [("qwen2_5_vl", 28), ("qwen3_vl", 32)])
def test_vision_factor_matches_the_patch_grid(tiny_models, family, factor):
    assert load_mllm(str(tiny_models[family])).vision_factor == factor


def test_qwen3_generates_on_video(tiny_qwen3, hmd_videos):
    mllm = load_mllm(str(tiny_qwen3))
    clip = sample_frames(hmd_videos[0], nframes=4, min_pixels=32 * 32, max_pixels=64 * 96, factor=mllm.vision_factor)
    captions = mllm.generate(
        [VideoRequest("Describe this video in detail.", clip)], GenerationOptions(max_new_tokens=5)
    )
    assert len(captions) == 1
