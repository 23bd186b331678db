"""Preference pairs for video DPO: reading pair files, and the collator that puts both captions over one video.

Pair lines (one object per JSONL line, or a JSON array), every other field read as SFT and GRPO read a caption line
(``owlcap.data.records.parse_record``: relative video paths, clip trims ``start``/``end`` or the released lines'
``start_time``/``end_time``, ``<video>`` tags, system turns):

* owlcap's (``owlcap data pairs``): ``{"id", "video", "prompt", "system", "chosen", "rejected", "start", "end"}``;
* conversation lines (LLaMA-Factory's preference format, released OwlCap style): ``{"video": "a.mp4",
  "conversations": [{"from": "human", "value": "<video>\\nDescribe..."}], "chosen": {"from": "gpt", "value": "..."},
  "rejected": {"from": "gpt", "value": "..."}}``, or ``messages`` / a TRL conversational ``prompt`` list with
  ``chosen``/``rejected`` as strings or assistant message lists.

:class:`VideoPreferenceCollator` is why TRL's collators cannot be used: ``DataCollatorForVisionPreference`` takes
images only. It renders each pair's two chats (``caption_chat``: the same chat SFT trains on), tokenizes them with
the video through ``processor_inputs`` (frames sampled by ``owlcap.video``, with their metadata), and returns TRL's
DPO batch: ``input_ids``/``attention_mask``/``completion_mask`` with the chosen rows first, then the rejected rows,
plus the video tensors. With ``share_video_encoding`` the pixel values hold each distinct clip once and
``video_index`` maps the 2B rows to them (``owlcap.train.shared_video``); without it, every row has its own copy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from owlcap.data.records import parse_record, read_caption_examples
from owlcap.errors import DataError, VideoDecodeError
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT, processor_inputs
from owlcap.train.data import (
    IGNORE_INDEX,
    AnswerSpan,
    DataCounters,
    PromptOrder,
    blank_video,
    caption_chat,
    clip_sampling,
    mask_labels,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairExample:
    """One preference pair as training reads it; ``prompt``/``system`` ``None`` = the run's defaults."""

    id: str
    video: str
    chosen: str
    rejected: str
    prompt: str | None = None
    system: str | None = None
    start: float | None = None
    end: float | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_pair(record: dict[str, Any], *, base: Path, source: str = "", default_id: str = "") -> PairExample:
    """Turn one pair object into a ``PairExample``; ``ValueError`` says what is wrong."""
    chosen = answer_text(record.get("chosen"), "chosen")
    rejected = answer_text(record.get("rejected"), "rejected")
    if " ".join(chosen.split()) == " ".join(rejected.split()):
        raise ValueError("chosen and rejected are the same caption: the pair teaches nothing")
    rest = {key: value for key, value in record.items() if key not in ("chosen", "rejected")}
    if isinstance(rest.get("prompt"), list):  # TRL's conversational form: the prompt is the message list
        rest["messages"] = rest.pop("prompt")
    turns_key = "messages" if "messages" in rest else "conversations" if "conversations" in rest else None
    if turns_key is not None:
        turns = rest[turns_key]
        if not isinstance(turns, list):
            raise ValueError(f"{turns_key!r} must be a list of turns")
        answer = {"role": "assistant", "content": chosen}
        rest[turns_key] = [*turns, {"from": "gpt", "value": chosen} if turns_key == "conversations" else answer]
    else:
        rest["caption"] = chosen
        rest.setdefault("id", default_id)
    example = parse_record(rest, base=base, source=source, default_id=default_id)
    system = example.system or (record["system"] if isinstance(record.get("system"), str) else None)
    return PairExample(
        example.id, example.video, chosen, rejected, example.prompt, system, example.start, example.end, source
    )


def answer_text(value: Any, name: str) -> str:
    """The caption of a ``chosen``/``rejected`` field: a string, a ``{"from"/"role", "value"/"content"}`` turn, or a
    list of messages whose last assistant turn is the caption."""
    if isinstance(value, list):
        answers = [turn for turn in value if isinstance(turn, dict)]
        value = answers[-1] if answers else None
    if isinstance(value, dict):
        value = value.get("content", value.get("value"))
        if isinstance(value, list):  # typed parts
            value = "".join(str(part.get("text", "")) for part in value if isinstance(part, dict))
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name!r} must be a non-empty caption (a string, or an assistant turn)")
    return value.strip()


def load_pair_dataset(
    paths: str | Path | Sequence[str | Path],
    *,
    video_root: str | Path | None = None,
    check_files: bool = True,
    max_examples: int | None = None,
):
    """Read pair files into a ``datasets.Dataset`` (file order); bad lines come back as ``DataError``\\ s."""
    import datasets

    examples, errors = read_caption_examples(paths, video_root=video_root, check_files=check_files, parse=parse_pair)
    if max_examples is not None:
        examples = examples[:max_examples]
    if not examples:
        raise DataError(str(paths), f"no usable pairs ({len(errors)} bad line(s); first: {errors[:1]})")
    return datasets.Dataset.from_list([example.to_dict() for example in examples]), errors


class VideoPreferenceCollator:
    """Collate pair rows into TRL's DPO batch with the video in both the chosen and the rejected rows.

    A pair whose video fails to decode, or whose longer sequence exceeds ``max_length``, is dropped and counted. If
    nothing in a batch survives, the batch becomes one black-video pair with empty completions (zero gradient), so
    every rank still runs the vision tower. With ``keep_failed`` (set by the trainer while it precomputes the
    reference log-probs, which need one answer per row) a bad pair stays as such a stand-in and ``pair_valid`` marks
    it, so its reference log-probs come out NaN and the trainer leaves the pair out of training.
    """

    def __init__(
        self,
        processor,
        sampling,
        *,
        default_prompt: str = DEFAULT_CAPTION_PROMPT,
        default_system: str | None = None,
        max_length: int | None = None,
        counters: DataCounters | None = None,
        prompt_order: PromptOrder = "video_first",
        share_video_encoding: bool = True,
    ):
        self.processor = processor
        self.sampling = sampling
        self.default_prompt = default_prompt
        self.default_system = default_system
        self.max_length = max_length
        self.counters = counters if counters is not None else DataCounters()
        self.prompt_order = prompt_order
        self.share_video_encoding = share_video_encoding
        self.keep_failed = False
        self.span = AnswerSpan.from_processor(processor)

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        try:
            return self._collate(list(rows))
        except StopIteration as exc:
            # Leaving a collate function, a StopIteration reads as the end of the data (the epoch would end quietly).
            raise RuntimeError(f"building a DPO batch raised StopIteration ({exc!r})") from exc

    def _collate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        videos = self._decode(rows)
        valid = [video is not None for video in videos]
        batch, kept = self._encode(rows, videos, valid)
        if self.max_length is not None:
            lengths = batch["attention_mask"].sum(dim=1).view(2, -1).max(dim=0).values.tolist()
            too_long = [(i, n) for i, n in zip(kept, lengths, strict=True) if valid[i] and n > self.max_length]
            for i, length in too_long:
                logger.warning("skipping pair %s: %d tokens > max_length %d", rows[i]["id"], length, self.max_length)
                valid[i] = False
            if too_long:
                self.counters.add("examples_too_long", len(too_long))
                batch, _ = self._encode(rows, videos, valid)
        return batch

    def _decode(self, rows: list[dict[str, Any]]) -> list[Any]:
        """Each row's sampled clip (decoded once per distinct clip), ``None`` where it failed (logged, counted)."""
        decoded: dict[tuple, Any] = {}
        for row in rows:
            if _clip(row) in decoded:
                continue
            try:
                decoded[_clip(row)] = clip_sampling(self.sampling, row).sample(row["video"])
                self.counters.add("videos_decoded")
            except (VideoDecodeError, ValueError) as exc:
                logger.warning("skipping pair %s: cannot decode its video (%s)", row.get("id", "?"), exc)
                self.counters.add("videos_skipped")
                decoded[_clip(row)] = None
        return [decoded[_clip(row)] for row in rows]

    def _encode(self, rows: list[dict[str, Any]], videos: list[Any], valid: list[bool]) -> tuple[dict[str, Any], list]:
        """The batch of the rows kept (all of them with ``keep_failed``: bad ones as stand-ins), and their indices."""
        kept = list(range(len(rows))) if self.keep_failed else [i for i, ok in enumerate(valid) if ok]
        if kept:
            pairs = [rows[i] if valid[i] else _stand_in(rows[i]) for i in kept]
            clips = [videos[i] if valid[i] else blank_video(self.sampling) for i in kept]
            flags = [valid[i] for i in kept]
        else:
            self.counters.add("empty_batches")
            logger.warning("every pair of a batch was dropped; training on a masked stand-in pair")
            pairs, clips, flags = [_stand_in(rows[0])], [blank_video(self.sampling)], [False]
        return self._batch(pairs, clips, flags), kept

    def _batch(self, rows: list[dict[str, Any]], videos: list[Any], valid: list[bool]) -> dict[str, Any]:
        import torch

        chats = [self._chat(row, "chosen") for row in rows] + [self._chat(row, "rejected") for row in rows]
        inputs = dict(processor_inputs(self.processor, chats, videos + videos, padding_side="right"))
        completion = (mask_labels(inputs["input_ids"], inputs["attention_mask"], self.span) != IGNORE_INDEX).long()
        invalid = [i for i, ok in enumerate(valid) if not ok]
        completion[invalid + [i + len(rows) for i in invalid]] = 0  # stand-ins carry no loss
        unlabelled = int((completion.view(2, len(rows), -1).sum(dim=2) == 0).any(dim=0).sum()) - len(invalid)
        if unlabelled:
            logger.warning("%d pair(s) had no locatable answer; they carry no loss", unlabelled)
            self.counters.add("examples_unlabelled", unlabelled)
        batch = {**inputs, "completion_mask": completion}
        if self.share_video_encoding:
            batch |= _distinct_videos(rows, inputs)
        for key in _REF_KEYS:
            if key in rows[0]:
                batch[key] = torch.tensor([float(row[key]) for row in rows])
        if self.keep_failed:
            batch["pair_valid"] = torch.tensor(valid)
        return batch

    def _chat(self, row: dict[str, Any], answer: str) -> str:
        return caption_chat(
            self.processor,
            {"prompt": row.get("prompt"), "system": row.get("system"), "caption": row[answer]},
            with_answer=True,
            default_prompt=self.default_prompt,
            default_system=self.default_system,
            prompt_order=self.prompt_order,
        )


_STAND_IN = {"id": "stand-in", "video": "", "prompt": None, "system": None, "chosen": ".", "rejected": ". ."}
_REF_KEYS = ("ref_chosen_logps", "ref_rejected_logps")


def _stand_in(row: dict[str, Any]) -> dict[str, Any]:
    """A black-video pair with empty completions in ``row``'s place (its log-probs, reference ones too, are 0)."""
    return _STAND_IN | {key: 0.0 for key in _REF_KEYS if key in row}


def _clip(row: dict[str, Any]) -> tuple:
    return row["video"], row.get("start"), row.get("end")


def _distinct_videos(rows: list[dict[str, Any]], inputs: dict[str, Any]) -> dict[str, Any]:
    """Keep each distinct clip's patches once; ``video_index`` maps every row (chosen, then rejected) to its clip."""
    import torch

    clips: dict[tuple, int] = {}
    index = [clips.setdefault(_clip(row), len(clips)) for row in rows]
    first_rows = [index.index(k) for k in range(len(clips))]
    patches = inputs["pixel_values_videos"].split(inputs["video_grid_thw"].prod(dim=-1).tolist())
    return {
        "pixel_values_videos": torch.cat([patches[row] for row in first_rows]),
        "video_index": torch.tensor(index + index),
    }


def nan_pairs(chosen, rejected) -> list[int]:
    """Rows whose precomputed reference log-probs are NaN (pairs the collator could not use)."""
    return [i for i, (c, r) in enumerate(zip(chosen, rejected, strict=True)) if math.isnan(c) or math.isnan(r)]
