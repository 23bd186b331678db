"""GRPO prompts from dataset rows: each distinct clip decoded once, trims honoured, the prompt order chosen."""

import pytest
from grpo_support import load_tiny, tiny_sampling

from owlcap.train.grpo_inputs import Clip, VideoPromptBuilder


@pytest.fixture(scope="module")
def processor(tiny_qwen25):
    return load_tiny(tiny_qwen25)[1]


def _rows(video, **trims):
    return [{"prompt": "Describe this video in detail.", "video": str(video), "system": None, **trims}] * 2


def test_each_clip_is_its_own_video_and_only_its_span_is_sampled(processor, hmd_videos):
    bird = next(v for v in hmd_videos if v.stem == "hummingbird_3")
    rows = _rows(bird, start=2.0, end=5.0) + _rows(bird) + _rows(bird, start=None, end=None)
    batch = VideoPromptBuilder(processor, tiny_sampling()).build(rows)
    assert batch.failed_rows == []
    assert batch.videos[0] is batch.videos[1] and batch.videos[2] is batch.videos[4]  # one decode per clip
    assert batch.videos[0] is not batch.videos[2] and batch.videos[0].key == f"{bird}[2.0:5.0]"
    assert all(2.0 <= t <= 5.0 for t in batch.frames[0].timestamps), batch.frames[0].timestamps
    assert batch.frames[2].timestamps[-1] > 10.0


def test_a_trim_past_the_end_fails_its_rows_only(processor, hmd_videos):
    bird = next(v for v in hmd_videos if v.stem == "hummingbird_3")
    batch = VideoPromptBuilder(processor, tiny_sampling()).build(_rows(bird) + _rows(bird, start=30.0))
    assert batch.failed_rows == [2, 3]
    assert "beyond the video's end" in batch.failures[str(Clip(str(bird), 30.0))]


def test_text_first_prompts_put_the_video_after_the_text(processor, hmd_videos):
    rows = _rows(hmd_videos[0])
    for order, text_before_video in (("video_first", False), ("text_first", True)):
        batch = VideoPromptBuilder(processor, tiny_sampling(), prompt_order=order).build(rows)
        text = processor.tokenizer.decode(batch.prompt_ids[0])
        assert (text.index("Describe this video") < text.index("<|vision_start|>")) is text_before_video
        assert text.endswith("<|im_start|>assistant\n")
