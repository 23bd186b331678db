"""What a GRPO checkpoint holds beyond the ``Trainer``'s own state, so that a resumed run equals the uninterrupted one.

transformers' ``Trainer`` saves the weights, optimizer, scheduler, its state and, in ``rng_state.pth``, the python,
numpy, torch CPU and CUDA generators; a resumed run skips the batches already trained and restores the generators at
the step where it left off. For SFT that is everything: a resumed run equals the uninterrupted one bit for bit
(``tests/train/test_sft.py``). TRL's ``GRPOTrainer`` (1.16) holds two more pieces of state that decide what is
trained on, and saves neither:

* **The data order.** TRL's ``RepeatSampler`` shuffles each epoch with a ``torch.Generator`` of its own, seeded once:
  epoch ``e`` takes the ``e+1``-th permutation drawn from it. A resumed run builds a fresh sampler, so the epoch it
  resumes in gets epoch 0's permutation: other prompts from the first resumed step on (the rewards of issue 16's run
  parted at step 11). :class:`ResumableRepeatSampler` draws epoch ``e``'s permutation as the uninterrupted run does,
  whichever epoch a run starts in; the trainer tells it the epoch.
* **The generation buffer.** TRL generates once per ``steps_per_generation x num_iterations`` micro-steps and trains
  the micro-steps in between on the buffered completions; the buffer and the count of micro-steps (``_step``) live
  in memory. A run resumed from a checkpoint inside such a cycle generates anew, from the newer weights, at the
  wrong slice. :func:`save_generation_state` writes the count and, inside a cycle, the buffer beside
  ``rng_state.pth`` (one file per process); :func:`load_generation_state` puts them back when the ``Trainer``
  restores its generators.

Nothing else decides what is trained on: decoding and frame sampling are deterministic, and the rewards depend only
on the texts (a judge's result cache too). What cannot be promised is written in ``docs/grpo.md``: a judge that
samples (temperature > 0 on a server), and vLLM generation, whose sampling state lives in the engine.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from trl.trainer.utils import RepeatSampler

from owlcap.train.shared_video import VideoPlan, VideoTensors

logger = logging.getLogger(__name__)

GENERATION_STATE_FILE = "generation_state_{rank}.pt"


class ResumableRepeatSampler(RepeatSampler):
    """TRL's ``RepeatSampler`` whose epoch ``e`` is always the permutation an uninterrupted run draws at epoch ``e``.

    An uninterrupted run draws once per epoch from the seeded generator, in order, and is left exactly as TRL
    orders it; a run that starts at epoch ``e`` (a resume) first replays the ``e`` earlier draws.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.epoch = 0
        self._draws = 0  # permutations drawn from the generator since it was seeded

    @classmethod
    def like(cls, sampler: RepeatSampler) -> ResumableRepeatSampler:
        """The same sampler as TRL's ``sampler`` (its grouping, repeats and seed)."""
        return cls(
            sampler.data_source,
            mini_repeat_count=sampler.mini_repeat_count,
            batch_size=sampler.batch_size,
            repeat_count=sampler.repeat_count,
            shuffle=sampler.shuffle,
            seed=sampler.seed,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle and self.seed is not None and self._draws != self.epoch:
            self.generator.manual_seed(self.seed)
            for _ in range(self.epoch):
                torch.randperm(self.num_samples, generator=self.generator)
        self._draws = self.epoch + 1
        yield from super().__iter__()


def _state_path(checkpoint: str | Path, rank: int) -> Path:
    return Path(checkpoint) / GENERATION_STATE_FILE.format(rank=rank)


def save_generation_state(trainer, checkpoint: str | Path) -> None:
    """Write ``trainer``'s micro-step count and, inside a generation cycle, its buffered generation batches."""
    generate_every = trainer.args.steps_per_generation * trainer.num_iterations
    inside_cycle = trainer._step % generate_every != 0 and trainer._buffered_inputs is not None
    state = {"step": trainer._step, "buffer": _portable(trainer._buffered_inputs) if inside_cycle else None}
    torch.save(state, _state_path(checkpoint, trainer.args.process_index))


def load_generation_state(trainer, checkpoint: str | Path) -> None:
    """Restore what :func:`save_generation_state` wrote into ``checkpoint``; a checkpoint without it (written by
    an older owlcap) resumes as TRL does, with a fresh generation at the first step."""
    path = _state_path(checkpoint, trainer.args.process_index)
    if not path.is_file():
        logger.warning("%s: no GRPO generation state; the resumed run may differ from an uninterrupted one", path)
        return
    state = torch.load(path, map_location=trainer.accelerator.device, weights_only=True)
    trainer._step = int(state["step"])
    trainer._buffered_inputs = _restored(state["buffer"])


def _portable(buffer: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The buffer in plain containers and tensors (loadable with ``weights_only``); each batch's videos as the
    distinct videos plus, per row, which one (rows share one video object: ``VideoPlan`` groups them by identity)."""
    portable = []
    for batch in buffer:
        batch = dict(batch)
        if isinstance(batch.get("videos"), list):
            plan = VideoPlan.from_rows(batch["videos"])
            distinct = [{item.name: getattr(video, item.name) for item in fields(video)} for video in plan.videos]
            batch["videos"] = {"distinct": distinct, "index": plan.index}
        portable.append(batch)
    return portable


def _restored(buffer: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if buffer is None:
        return None
    for batch in buffer:
        if isinstance(batch.get("videos"), dict):
            distinct = [VideoTensors(**video) for video in batch["videos"]["distinct"]]
            batch["videos"] = [distinct[i] for i in batch["videos"]["index"]]
    return buffer
