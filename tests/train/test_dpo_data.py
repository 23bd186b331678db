"""Pair files as DPO reads them (owlcap's lines, released/LLaMA-Factory conversation lines, TRL's conversational
lines), and the collator that puts each pair's two captions over one video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from grpo_support import load_tiny, tiny_sampling

from owlcap.train.data import DataCounters
from owlcap.train.dpo_data import VideoPreferenceCollator, load_pair_dataset

CHOSEN = "A woman points at sticky notes on a blackboard."
REJECTED = "A man juggles three oranges on a beach."


def _write(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_every_pair_format_reads_like_a_caption_line(tmp_path, hmd_videos):
    video = hmd_videos[0]
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / video.name).symlink_to(video)
    pairs = _write(
        tmp_path / "pairs.jsonl",
        [
            {"id": "mine", "video": f"clips/{video.name}", "prompt": "Say what happens.", "system": "Be exact.",
             "chosen": CHOSEN, "rejected": REJECTED, "start": 1.0, "end": 2.5, "source": "hmd_fge"},
            {"video": str(video), "start_time": 0.5, "end_time": 4.0,
             "conversations": [{"from": "system", "value": "You caption."},
                               {"from": "human", "value": "<video>\nDescribe this video in detail."}],
             "chosen": {"from": "gpt", "value": CHOSEN}, "rejected": {"from": "gpt", "value": REJECTED}},
            {"id": "trl", "videos": [str(video)],
             "prompt": [{"role": "user", "content": "<video>What is shown?"}],
             "chosen": [{"role": "assistant", "content": CHOSEN}],
             "rejected": [{"role": "assistant", "content": [{"type": "text", "text": REJECTED}]}]},
            {"id": "same", "video": str(video), "chosen": CHOSEN, "rejected": f" {CHOSEN}  "},
            {"id": "half", "video": str(video), "chosen": CHOSEN},
            {"id": "lost", "video": "nowhere.mp4", "chosen": CHOSEN, "rejected": REJECTED},
            "{torn",
        ],
    )  # fmt: skip
    dataset, errors = load_pair_dataset(pairs)
    rows = {row["id"]: row for row in dataset}
    assert set(rows) == {"mine", "pairs:2", "trl"}
    mine = rows["mine"]
    assert mine["video"] == str((tmp_path / "clips" / video.name).resolve())
    assert (mine["start"], mine["end"], mine["prompt"], mine["system"]) == (1, 2.5, "Say what happens.", "Be exact.")
    assert (mine["chosen"], mine["rejected"]) == (CHOSEN, REJECTED)
    released = rows["pairs:2"]
    assert (released["start"], released["end"], released["system"]) == (0.5, 4.0, "You caption.")
    assert released["prompt"] == "Describe this video in detail." and released["chosen"] == CHOSEN
    assert (rows["trl"]["prompt"], rows["trl"]["rejected"]) == ("What is shown?", REJECTED)
    causes = {error.line: error.cause for error in errors}
    assert set(causes) == {4, 5, 6, 7} and "same caption" in causes[4] and "'rejected' must be" in causes[5]
    assert "video file not found" in causes[6] and "invalid JSON" in causes[7]


@pytest.fixture
def collator_for(tiny_models):
    def make(family: str, **options) -> VideoPreferenceCollator:
        _, processor = load_tiny(tiny_models[family])
        return VideoPreferenceCollator(processor, tiny_sampling(family), counters=DataCounters(), **options)

    return make


def _rows(videos, *, count: int = 3) -> list[dict]:
    clips = [videos[0], videos[0], videos[1]][:count]
    return [
        {"id": f"p{i}", "video": str(clip), "start": None, "end": None, "prompt": None, "system": None,
         "chosen": f"{CHOSEN} Pair {i}.", "rejected": f"{REJECTED} Pair {i}, longer than the chosen one."}
        for i, clip in enumerate(clips)
    ]  # fmt: skip


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_each_distinct_clip_once_and_completions_on_the_captions_only(collator_for, family, hmd_videos):
    shared = collator_for(family)(_rows(hmd_videos))
    per_row = collator_for(family, share_video_encoding=False)(_rows(hmd_videos))
    grid = per_row["video_grid_thw"]
    assert grid.shape[0] == 6 and torch.equal(shared["video_grid_thw"], grid)  # M-RoPE needs every row's grid
    patches = grid.prod(dim=-1).tolist()
    assert per_row["pixel_values_videos"].shape[0] == sum(patches)
    assert shared["pixel_values_videos"].shape[0] == patches[0] + patches[2]  # two clips, each once
    assert shared["video_index"].tolist() == [0, 0, 1, 0, 0, 1] and "video_index" not in per_row
    assert torch.equal(shared["input_ids"], per_row["input_ids"])
    processor = collator_for(family).processor
    for row in (0, 3):
        answer = shared["input_ids"][row][shared["completion_mask"][row].bool()]
        text = processor.tokenizer.decode(answer)
        assert text.startswith(CHOSEN if row == 0 else REJECTED) and text.endswith("<|im_end|>")


def test_bad_pairs_are_dropped_or_kept_as_stand_ins(collator_for, hmd_videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    rows = _rows(hmd_videos)
    rows[1] = rows[1] | {"video": str(broken)}
    collator = collator_for("qwen2_5_vl")
    batch = collator(rows)
    assert batch["input_ids"].shape[0] == 4 and collator.counters.snapshot()["videos_skipped"] == 1
    collator.keep_failed = True  # while the reference log-probs are computed: one answer per dataset row
    kept = collator(rows)
    assert kept["input_ids"].shape[0] == 6 and kept["pair_valid"].tolist() == [True, False, True]
    assert kept["completion_mask"][[1, 4]].sum() == 0 and kept["completion_mask"][[0, 2, 3, 5]].sum(dim=1).min() > 0
    collator.keep_failed = False
    limit = int(batch["attention_mask"].sum(dim=1).min())  # the shortest row: every pair is longer somewhere
    tight = collator_for("qwen2_5_vl", max_length=limit)
    stand_in = tight([rows[0] | {"ref_chosen_logps": -3.0, "ref_rejected_logps": -4.0}])
    assert tight.counters.snapshot()["examples_too_long"] == 1 and tight.counters.snapshot()["empty_batches"] == 1
    assert stand_in["completion_mask"].sum() == 0 and stand_in["ref_chosen_logps"].tolist() == [0.0]
