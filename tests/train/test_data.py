"""The SFT data path: datasets from records, decoding with skip-and-count, and labels on the caption only."""

import multiprocessing

import pytest
import torch
from transformers import AutoProcessor

from owlcap.errors import DataError, VideoDecodeError
from owlcap.train.data import (
    IGNORE_INDEX,
    AnswerSpan,
    DataCounters,
    VideoCaptionCollator,
    blank_video,
    load_caption_dataset,
    mask_labels,
)

CAPTION = "A woman in a red jacket waves. The camera pans left."


class FakeSampling:
    """Stands in for ``owlcap.video.SamplingConfig``: black frames, and a decode error for paths containing 'bad'."""

    def __init__(self, factor: int, frames: int = 4):
        self.factor = factor
        self.fps = 2.0
        self.frames = frames

    def sample(self, path):
        if "bad" in str(path):
            raise VideoDecodeError(path, "moov atom not found")
        return blank_video(self, frames=self.frames)


@pytest.fixture(params=["qwen2_5_vl", "qwen3_vl"])
def processor(request, tiny_models):
    return AutoProcessor.from_pretrained(tiny_models[request.param])


def _collator(processor, frames=4, **kwargs):
    factor = processor.video_processor.patch_size * processor.video_processor.merge_size
    return VideoCaptionCollator(processor, FakeSampling(factor, frames), **kwargs)


def _row(id_="a", video="v.mp4", caption=CAPTION, prompt=None, system=None):
    return {"id": id_, "video": video, "caption": caption, "prompt": prompt, "system": system, "source": ""}


def _labelled(processor, batch, row):
    labels = batch["labels"][row]
    return processor.tokenizer.decode(labels[labels != IGNORE_INDEX])


def test_only_the_caption_and_its_end_token_carry_loss(processor):
    batch = _collator(processor)([_row(), _row("b", caption="Short.")])
    assert _labelled(processor, batch, 0) == CAPTION + "<|im_end|>"
    assert _labelled(processor, batch, 1) == "Short.<|im_end|>"
    video_pad = processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    for row in range(2):
        labels, ids = batch["labels"][row], batch["input_ids"][row]
        answer = (labels != IGNORE_INDEX).nonzero().flatten()
        # Everything before the answer (system, user turn, video placeholders, assistant header) is masked ...
        assert (labels[: answer[0]] == IGNORE_INDEX).all()
        assert video_pad in ids[: answer[0]].tolist()
        # ... the answer is one contiguous run, and nothing after it (the template's newline, padding) counts.
        assert answer.tolist() == list(range(answer[0], answer[-1] + 1))
        assert (labels[answer[-1] + 1 :] == IGNORE_INDEX).all()
        assert torch.equal(labels[answer], ids[answer])


def test_prompt_system_and_video_do_not_change_the_labelled_tokens(processor):
    collator = _collator(processor)
    plain = collator([_row()])
    other = collator([_row(prompt="Narrate every motion of every subject, in order, please.", system="Be precise.")])
    more_frames = _collator(processor, frames=8)([_row()])
    assert other["input_ids"].shape[1] > plain["input_ids"].shape[1]
    assert more_frames["pixel_values_videos"].shape[0] > plain["pixel_values_videos"].shape[0]
    reference = plain["labels"][plain["labels"] != IGNORE_INDEX]
    for batch in (other, more_frames):
        assert torch.equal(batch["labels"][batch["labels"] != IGNORE_INDEX], reference)


def test_undecodable_video_is_skipped_and_counted(processor, caplog):
    collator = _collator(processor)
    batch = collator([_row("good"), _row("broken", video="bad.mp4")])
    assert batch["input_ids"].shape[0] == 1
    assert collator.counters.snapshot()["videos_skipped"] == 1
    assert collator.counters.snapshot()["videos_decoded"] == 1
    assert "broken" in caplog.text and "moov atom" in caplog.text


def test_a_batch_with_nothing_left_becomes_a_zero_loss_stand_in(processor):
    collator = _collator(processor)
    batch = collator([_row("x", video="bad1.mp4"), _row("y", video="bad2.mp4")])
    assert batch["input_ids"].shape[0] == 1
    assert "pixel_values_videos" in batch  # the vision tower still runs on every rank
    assert (batch["labels"] == IGNORE_INDEX).all()
    assert collator.counters.snapshot() | {} == {
        "videos_decoded": 0,
        "videos_skipped": 2,
        "examples_too_long": 0,
        "examples_unlabelled": 0,
        "empty_batches": 1,
    }


def test_examples_over_max_length_are_dropped_and_counted(processor):
    probe = _collator(processor)([_row()])
    limit = int(probe["attention_mask"].sum())
    collator = _collator(processor, max_length=limit)
    batch = collator([_row(), _row("long", caption=CAPTION * 5)])
    assert batch["input_ids"].shape[0] == 1 and int(batch["attention_mask"].sum()) == limit
    assert collator.counters.snapshot()["examples_too_long"] == 1


def test_mask_labels_leaves_rows_without_an_answer_unlabelled():
    span = AnswerSpan(header=(5, 6), end=9)
    ids = torch.tensor([[1, 5, 6, 7, 8, 9, 3, 0], [1, 5, 6, 7, 8, 0, 0, 0], [1, 2, 3, 4, 9, 0, 0, 0]])
    mask = torch.tensor([[1] * 7 + [0], [1] * 5 + [0] * 3, [1] * 5 + [0] * 3])
    labels = mask_labels(ids, mask, span)
    assert labels[0].tolist() == [-100, -100, -100, 7, 8, 9, -100, -100]
    assert (labels[1:] == IGNORE_INDEX).all()


def test_counters_are_shared_with_worker_processes():
    counters = DataCounters()

    def work(c):
        c.add("videos_skipped", 2)

    process = multiprocessing.get_context("fork").Process(target=work, args=(counters,))
    process.start()
    process.join()
    counters.add("videos_decoded")
    assert counters.snapshot()["videos_skipped"] == 2 and counters.snapshot()["videos_decoded"] == 1


def test_load_caption_dataset(samples_dir, tmp_path):
    dataset, errors = load_caption_dataset(samples_dir / "hmd" / "captions.jsonl")
    assert len(dataset) == 3 and errors == []
    assert set(dataset.column_names) == {"id", "video", "caption", "prompt", "system", "source", "start", "end"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    with pytest.raises(DataError, match="no usable examples"):
        load_caption_dataset(bad)


def _bird(hmd_videos):
    return str(next(v for v in hmd_videos if v.stem == "hummingbird_3"))  # 11 s, 596x336


def test_a_trimmed_example_samples_only_its_clip(hmd_videos):
    from grpo_support import tiny_sampling

    from owlcap.train.data import decode_videos

    bird = _bird(hmd_videos)
    rows = [
        _row("whole", video=bird),
        {**_row("clip", video=bird), "start": 2.0, "end": 5.0},
        {**_row("nulls", video=bird), "start": None, "end": None},
        {**_row("tail", video=bird), "start": 8.0},
        {**_row("past-the-end", video=bird), "start": 30.0},
    ]
    counters = DataCounters()
    decoded = {row["id"]: video for row, video in decode_videos(rows, tiny_sampling(), counters)}
    assert set(decoded) == {"whole", "clip", "nulls", "tail"} and counters.snapshot()["videos_skipped"] == 1
    assert all(2.0 <= t <= 5.0 for t in decoded["clip"].timestamps), decoded["clip"].timestamps
    assert all(t >= 8.0 for t in decoded["tail"].timestamps)
    assert decoded["whole"].timestamps[0] < 1.0 and decoded["whole"].timestamps[-1] > 10.0
    assert decoded["nulls"].timestamps == decoded["whole"].timestamps


def test_text_first_puts_the_prompt_before_the_video_and_keeps_the_labels(processor):
    video_first = _collator(processor)([_row(prompt="Describe it.")])
    text_first = _collator(processor, prompt_order="text_first")([_row(prompt="Describe it.")])
    decoded = processor.tokenizer.decode(text_first["input_ids"][0])
    assert decoded.index("Describe it.") < decoded.index("<|vision_start|>")
    decoded = processor.tokenizer.decode(video_first["input_ids"][0])
    assert decoded.index("<|vision_start|>") < decoded.index("Describe it.")
    for batch in (video_first, text_first):
        assert _labelled(processor, batch, 0) == CAPTION + "<|im_end|>"
