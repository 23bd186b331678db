"""Video caption data for training: datasets of caption examples, decoding, and the SFT collator.

Shared by SFT and GRPO. The stable API:

* :func:`load_caption_dataset` -- HMD records / SFT conversation files -> ``datasets.Dataset`` with columns ``id``,
  ``video`` (absolute path), ``caption``, ``prompt``, ``system``, ``source``, ``start``, ``end`` (clip trims in
  seconds; prompt, system and the trims may be ``None``), plus the per-line ``DataError``\\ s that were skipped.
* :class:`DataCounters` -- how many videos decoded / were skipped and why. The counts live in shared memory, so the
  collator can run in DataLoader worker processes and the trainer still reads true totals with :meth:`snapshot`.
* :func:`decode_videos` -- decode a batch's videos with ``owlcap.video`` (the one sampler; a trimmed example's clip
  only, :func:`clip_sampling`), skipping and counting failures instead of raising.
* :func:`caption_chat` -- the rendered chat of one example (prompt only, or with the caption as the answer).
* :class:`AnswerSpan` and :func:`mask_labels` -- find the assistant answer in tokenized chats and build labels
  where only the answer tokens and the end-of-turn token count.
* :class:`VideoCaptionCollator` -- SFT batches: decode, render, ``processor_inputs``, mask labels.

Why a custom collator: TRL's ``DataCollatorForVisionLanguageModeling`` handles images only, and video must reach the
processor as pre-sampled frames plus ``VideoMetadata`` (see ``owlcap.models.inputs``), or Qwen2.5-VL's temporal
position ids are wrong.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from owlcap.data.records import CaptionExample, read_caption_examples
from owlcap.errors import DataError, VideoDecodeError
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT, build_messages, processor_inputs, render_chat

if TYPE_CHECKING:
    import datasets
    import torch

    from owlcap.video import SampledVideo, SamplingConfig

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
PromptOrder = Literal["video_first", "text_first"]
COUNTER_NAMES = ("videos_decoded", "videos_skipped", "examples_too_long", "examples_unlabelled", "empty_batches")
_PROBE_ANSWER = "owlcap probe answer"


def load_caption_dataset(
    paths: str | Path | Sequence[str | Path],
    *,
    video_root: str | Path | None = None,
    check_files: bool = True,
    max_examples: int | None = None,
) -> tuple[datasets.Dataset, list[DataError]]:
    """Read caption examples into a ``datasets.Dataset`` (in file order); bad lines come back as errors."""
    import datasets

    examples, errors = read_caption_examples(paths, video_root=video_root, check_files=check_files)
    if max_examples is not None:
        examples = examples[:max_examples]
    if not examples:
        raise DataError(str(paths), f"no usable examples ({len(errors)} bad line(s); first: {errors[:1]})")
    return datasets.Dataset.from_list([example.to_dict() for example in examples]), errors


class DataCounters:
    """Counters shared by the main process and DataLoader workers (forked or spawned after creation).

    ``videos_decoded``/``videos_skipped``: decode outcomes; ``examples_too_long``: dropped for exceeding
    ``max_length``; ``examples_unlabelled``: the answer could not be located (template mismatch); ``empty_batches``:
    batches where every example was dropped and a zero-loss stand-in was trained on instead.
    """

    def __init__(self) -> None:
        self._values = multiprocessing.Array("q", len(COUNTER_NAMES))

    def add(self, name: str, amount: int = 1) -> None:
        index = COUNTER_NAMES.index(name)
        with self._values.get_lock():
            self._values[index] += amount

    def snapshot(self) -> dict[str, int]:
        with self._values.get_lock():
            return dict(zip(COUNTER_NAMES, self._values[:], strict=True))


def clip_sampling(sampling: SamplingConfig, example: dict[str, Any]) -> SamplingConfig:
    """The frame sampler of ``example``'s clip: the configured settings within its ``start``/``end`` trims, if any.
    ``ValueError`` when a trim contradicts the configured span."""
    start, end = example.get("start"), example.get("end")
    if start is None and end is None:
        return sampling
    return sampling.clip(start, end)


def decode_videos(
    examples: Sequence[dict[str, Any]], sampling: SamplingConfig, counters: DataCounters | None = None
) -> list[tuple[dict[str, Any], SampledVideo]]:
    """Decode each example's video (its clip, when the example is trimmed); a video that fails is logged with its
    cause, counted, and left out."""
    decoded = []
    for example in examples:
        try:
            video = clip_sampling(sampling, example).sample(example["video"])
        except (VideoDecodeError, ValueError) as exc:
            logger.warning("skipping %s: cannot decode video (%s)", example.get("id", "?"), exc)
            if counters is not None:
                counters.add("videos_skipped")
            continue
        if counters is not None:
            counters.add("videos_decoded")
        decoded.append((example, video))
    return decoded


def caption_chat(
    processor,
    example: dict[str, Any],
    *,
    with_answer: bool,
    default_prompt: str = DEFAULT_CAPTION_PROMPT,
    default_system: str | None = None,
    prompt_order: PromptOrder = "video_first",
) -> str:
    """The rendered chat for ``example``: user turn with the video (before the prompt text, or after it with
    ``prompt_order="text_first"``), then the caption or the generation prompt."""
    prompt = example.get("prompt") or default_prompt
    system = example.get("system") or default_system
    answer = example["caption"] if with_answer else None
    text_first = prompt_order == "text_first"
    messages = build_messages(prompt, video=True, system=system, answer=answer, text_first=text_first)
    return render_chat(processor, messages, add_generation_prompt=not with_answer)


@dataclass(frozen=True)
class AnswerSpan:
    """Token ids that open the assistant turn (``header``) and close it (``end``), read off the chat template.

    ``header`` is what ``add_generation_prompt`` appends (``<|im_start|>assistant\\n`` for Qwen); ``end`` is the first
    token the template writes after the answer (``<|im_end|>``). Labels cover the answer and ``end``, so the model
    learns to stop.
    """

    header: tuple[int, ...]
    end: int

    @classmethod
    def from_processor(cls, processor) -> AnswerSpan:
        tokenizer = getattr(processor, "tokenizer", processor)
        example = {"caption": _PROBE_ANSWER, "prompt": "probe", "video": ""}
        without = render_chat(processor, build_messages("probe", video=True), add_generation_prompt=False)
        prompt = caption_chat(processor, example, with_answer=False)
        full = caption_chat(processor, example, with_answer=True)
        if not prompt.startswith(without) or not full.startswith(prompt):
            raise ValueError("the chat template does not render the answer after the generation prompt")
        header = tokenizer(prompt[len(without) :], add_special_tokens=False)["input_ids"]
        after = full[full.rindex(_PROBE_ANSWER) + len(_PROBE_ANSWER) :]
        end = tokenizer(after, add_special_tokens=False)["input_ids"]
        if not header or not end:
            raise ValueError("cannot find the assistant header or end-of-turn token in the chat template")
        return cls(tuple(header), end[0])


def mask_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, span: AnswerSpan) -> torch.Tensor:
    """Labels equal to ``input_ids`` on each row's assistant answer (plus its end token), -100 elsewhere.

    The answer starts after the first assistant header (the chats are single-turn) and ends at the first end token.
    A row without a complete answer is all -100; callers count those.
    """
    labels = input_ids.new_full(input_ids.shape, IGNORE_INDEX)
    header = list(span.header)
    for row, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist(), strict=True)):
        start = _index_of(ids, header)
        if start < 0:
            continue
        first = start + len(header)
        ends = [i for i in range(first, len(ids)) if ids[i] == span.end and mask[i]]
        if ends:
            labels[row, first : ends[0] + 1] = input_ids[row, first : ends[0] + 1]
    return labels


def _index_of(sequence: list[int], pattern: list[int]) -> int:
    for start in range(len(sequence) - len(pattern) + 1):
        if sequence[start : start + len(pattern)] == pattern:
            return start
    return -1


@dataclass
class _BlankVideo:
    """A black stand-in video: only used when a whole batch failed, with every label masked (zero loss)."""

    frames: Any
    metadata: Any


class VideoCaptionCollator:
    """Collate caption examples (dataset rows) into a padded SFT batch with labels on the captions only.

    Videos that fail to decode and examples longer than ``max_length`` are dropped and counted. If nothing in a
    batch survives, the batch becomes one black-video example with every label masked, so each rank still runs
    the vision tower (DeepSpeed ZeRO-3 and DDP need every rank to run the same modules) and the loss is zero.
    """

    def __init__(
        self,
        processor,
        sampling: SamplingConfig,
        *,
        default_prompt: str = DEFAULT_CAPTION_PROMPT,
        default_system: str | None = None,
        max_length: int | None = None,
        counters: DataCounters | None = None,
        prompt_order: PromptOrder = "video_first",
    ):
        self.processor = processor
        self.sampling = sampling
        self.default_prompt = default_prompt
        self.default_system = default_system
        self.prompt_order = prompt_order
        self.max_length = max_length
        self.counters = counters if counters is not None else DataCounters()
        self.span = AnswerSpan.from_processor(processor)

    def __call__(self, examples: Sequence[dict[str, Any] | CaptionExample]) -> dict[str, Any]:
        try:
            return self._collate(examples)
        except StopIteration as exc:
            # Leaving a collate function, a StopIteration reads as the end of the data: the DataLoader ends its
            # epoch and the Trainer goes on as if the data were done. It is an error; raise it as one.
            raise RuntimeError(f"building an SFT batch raised StopIteration ({exc!r})") from exc

    def _collate(self, examples: Sequence[dict[str, Any] | CaptionExample]) -> dict[str, Any]:
        rows = [example.to_dict() if isinstance(example, CaptionExample) else example for example in examples]
        decoded = decode_videos(rows, self.sampling, self.counters)
        batch = self._encode(decoded)
        if batch is not None and self.max_length is not None:
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            keep = [pair for pair, length in zip(decoded, lengths, strict=True) if length <= self.max_length]
            if len(keep) < len(decoded):
                for (example, _), length in zip(decoded, lengths, strict=True):
                    if length > self.max_length:
                        logger.warning("skipping %s: %d tokens > max_length %d", example["id"], length, self.max_length)
                self.counters.add("examples_too_long", len(decoded) - len(keep))
                batch = self._encode(keep)
        if batch is None:
            self.counters.add("empty_batches")
            logger.warning("every example of a batch was dropped; training on a masked stand-in batch")
            return self._stand_in_batch(rows[0] if rows else {"caption": "", "prompt": None})
        return batch

    def _encode(self, decoded: list[tuple[dict[str, Any], Any]]) -> dict[str, Any] | None:
        if not decoded:
            return None
        texts = [self._chat(example) for example, _ in decoded]
        inputs = processor_inputs(self.processor, texts, [video for _, video in decoded], padding_side="right")
        batch = dict(inputs)
        batch["labels"] = mask_labels(batch["input_ids"], batch["attention_mask"], self.span)
        unlabelled = int((batch["labels"] == IGNORE_INDEX).all(dim=1).sum())
        if unlabelled:
            logger.warning("%d example(s) had no locatable answer; they carry no loss", unlabelled)
            self.counters.add("examples_unlabelled", unlabelled)
        return batch

    def _chat(self, example: dict[str, Any]) -> str:
        return caption_chat(
            self.processor,
            example,
            with_answer=True,
            default_prompt=self.default_prompt,
            default_system=self.default_system,
            prompt_order=self.prompt_order,
        )

    def _stand_in_batch(self, example: dict[str, Any]) -> dict[str, Any]:
        text = self._chat({**example, "caption": example.get("caption") or "."})
        inputs = processor_inputs(self.processor, [text], [blank_video(self.sampling)], padding_side="right")
        batch = dict(inputs)
        batch["labels"] = batch["input_ids"].new_full(batch["input_ids"].shape, IGNORE_INDEX)
        return batch


def blank_video(sampling: SamplingConfig, frames: int = 2) -> _BlankVideo:
    """A tiny black video on the model's patch grid, with metadata (for stand-in batches and warm-ups)."""
    import numpy as np
    from transformers.video_utils import VideoMetadata

    side = int(getattr(sampling, "factor", 28) or 28) * 2
    fps = float(getattr(sampling, "fps", None) or 2.0)
    metadata = VideoMetadata(
        total_num_frames=frames,
        fps=fps,
        width=side,
        height=side,
        duration=frames / fps,
        frames_indices=list(range(frames)),
    )
    return _BlankVideo(np.zeros((frames, side, side, 3), dtype=np.uint8), metadata)
