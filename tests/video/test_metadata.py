"""SampledVideo.metadata through a real Qwen2.5-VL processor: second_per_grid_ts follows the sampled fps."""

from __future__ import annotations

import dataclasses

import pytest

from owlcap.video import sample_frames
from owlcap.video.metadata import SampledVideoMetadata

PROMPT = "hello <|vision_start|><|video_pad|><|vision_end|>"


@pytest.fixture(scope="module")
def qwen25_processor():
    """A Qwen2.5-VL processor built offline: stock image/video processors and a four-token tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    specials = ["<|vision_start|>", "<|vision_end|>", "<|video_pad|>", "<|image_pad|>"]
    vocab = {token: number for number, token in enumerate([*specials, "<unk>", "hello"])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", additional_special_tokens=specials)
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(), tokenizer=fast, video_processor=Qwen2VLVideoProcessor()
    )


def _process(processor, video, metadata):
    return processor(
        text=[PROMPT],
        videos=[video.frames],
        video_metadata=metadata,
        do_sample_frames=False,
        do_resize=False,
        return_tensors="pt",
    )


def test_metadata_fields(hmd_videos):
    video = sample_frames(hmd_videos[1], nframes=4, start=2.0, end=4.0)
    metadata = video.metadata
    assert isinstance(metadata, SampledVideoMetadata)
    assert (metadata.total_num_frames, metadata.fps) == (681, video.source_fps)
    assert (metadata.width, metadata.height) == video.size
    assert metadata.frames_indices == video.indices and metadata.video_backend == "pyav"
    assert metadata.duration == pytest.approx(28.403, abs=1e-3)
    assert metadata.sampled_fps == video.sample_fps == pytest.approx(4 / 48 * 24000 / 1001)
    # transformers' own formula would say 4 frames over the whole 681-frame video
    assert metadata.sampled_fps > 10 * (4 / 681 * video.source_fps)
    # only the standard keys are visible, so asdict()/dict() and transformers' key validation accept it
    assert set(dataclasses.asdict(metadata)) == set(dict(metadata)) == {
        "total_num_frames", "fps", "width", "height", "duration", "video_backend", "frames_indices",
    }  # fmt: skip


@pytest.mark.parametrize("trim", [{}, {"start": 2.0, "end": 4.0}])
def test_qwen25_processor_second_per_grid_ts(qwen25_processor, hmd_videos, trim):
    video = sample_frames(hmd_videos[1], nframes=4, min_pixels=28 * 28, max_pixels=56 * 84, **trim)
    inputs = _process(qwen25_processor, video, [video.metadata])
    temporal_patch = qwen25_processor.video_processor.temporal_patch_size
    assert inputs["second_per_grid_ts"].tolist() == pytest.approx([temporal_patch / video.sample_fps])
    assert inputs["video_grid_thw"].tolist() == [[2, video.size[1] // 14, video.size[0] // 14]]


def test_a_bare_metadata_object_loses_the_true_fps(qwen25_processor, hmd_videos):
    """Documented limit: transformers rebuilds a bare (un-listed) object as a plain VideoMetadata."""
    video = sample_frames(hmd_videos[1], nframes=4, start=2.0, end=4.0, min_pixels=28 * 28, max_pixels=56 * 84)
    inputs = _process(qwen25_processor, video, video.metadata)
    assert inputs["second_per_grid_ts"].tolist() != pytest.approx([2 / video.sample_fps])
