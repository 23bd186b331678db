"""The processor sees owlcap's frames unchanged and times them by the sampled fps, not a 24 fps default."""

import pytest
from transformers import AutoProcessor

from owlcap.models import build_messages, processor_inputs, render_chat
from owlcap.video import sample_frames


@pytest.mark.parametrize("kwargs", [{"fps": 2.0}, {"fps": 0.5}, {"nframes": 6}, {"fps": 1.0, "start": 2.0, "end": 8.0}])
def test_second_per_grid_ts_follows_the_sampled_fps(tiny_qwen25, hmd_videos, kwargs):
    processor = AutoProcessor.from_pretrained(tiny_qwen25)
    video = sample_frames(hmd_videos[1], min_pixels=28 * 28, max_pixels=56 * 84, **kwargs)
    text = render_chat(processor, build_messages("Describe.", video=True), add_generation_prompt=True)
    inputs = processor_inputs(processor, [text], [video])
    temporal_patch = processor.video_processor.temporal_patch_size
    assert inputs["second_per_grid_ts"][0].item() == pytest.approx(temporal_patch / video.sample_fps, rel=1e-4)
    assert inputs["second_per_grid_ts"][0].item() != pytest.approx(temporal_patch / 24.0)
    # Frames reach the vision tower at the size owlcap chose: no second resize or resample by the processor.
    t, h, w = inputs["video_grid_thw"][0].tolist()
    patch = processor.video_processor.patch_size
    assert (t * temporal_patch, h * patch, w * patch) == video.frames.shape[:3]


def test_qwen3_timestamps_come_from_the_sampled_frame_indices(tiny_qwen3, hmd_videos):
    processor = AutoProcessor.from_pretrained(tiny_qwen3)
    video = sample_frames(hmd_videos[2], fps=0.5, min_pixels=32 * 32, max_pixels=64 * 96, factor=32)
    text = render_chat(processor, build_messages("Describe.", video=True), add_generation_prompt=True)
    inputs = processor_inputs(processor, [text], [video])
    decoded = processor.tokenizer.decode(inputs["input_ids"][0])
    # Qwen3-VL writes one "<t seconds>" stamp per temporal patch (2 frames); the first is the mean of its frames.
    first = (video.timestamps[0] + video.timestamps[1]) / 2
    assert f"<{first:.1f} seconds>" in decoded
    last = (video.timestamps[-2] + video.timestamps[-1]) / 2
    assert f"<{last:.1f} seconds>" in decoded
