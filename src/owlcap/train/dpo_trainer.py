"""``VideoDPOTrainer``: TRL's ``DPOTrainer`` (pinned 1.16.0) on video preference pairs.

TRL 1.16 computes the DPO loss from one forward over the chosen and rejected rows of a batch, passing every batch
column but the masks to the model; its vision path handles images only (a video dataset is tokenized as text, and
``precompute_ref_log_probs`` is refused for vision data). The collator (``owlcap.train.dpo_data``) builds the video
batch; each override below exists for one named reason and has a test in ``tests/train/test_dpo_trainer.py``:

``_prepare_dataset``
    leaves the pair rows as they are: TRL would tokenize prompt and captions as text, without the video, before the
    collator sees them.
``compute_loss``
    the policy and the reference forwards (a separate reference model, or the policy with its adapter off) encode
    each distinct clip of the batch once, shared by its chosen and rejected rows (``shared_video_features``): the
    collator's ``video_index`` is taken out of the model inputs and drives the sharing.
``compute_ref_log_probs``
    the same sharing for the reference log-probs computed before training; a pair the collator could not use (its
    video does not decode, it is too long) gets NaN reference log-probs instead of shifting every later pair's.
``_precompute_ref_logps``
    while TRL precomputes the reference log-probs the collator keeps every row (one answer per dataset row), and the
    pairs that came out NaN are then left out of training, logged and counted.
``log`` (``CountersLogMixin``) and ``_load_from_checkpoint`` (``CheckpointWeightsMixin``), shared with SFT
    the video counters in every log record; a resume that restores the trained weights.

What it reduces to: DPO exactly as TRL 1.16 computes it (every loss type, reference handling, metrics), with the video
in every forward and each clip through the vision tower once per forward.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch
import trl
from trl import DPOTrainer

from owlcap.errors import DataError
from owlcap.train.callbacks import CountersLogMixin
from owlcap.train.checkpoints import CheckpointWeightsMixin
from owlcap.train.dpo_data import nan_pairs
from owlcap.train.shared_video import encoder_model, shared_video_features

logger = logging.getLogger(__name__)

TRL_VERSION = "1.16.0"  # the overrides below follow this version's DPOTrainer internals


class VideoDPOTrainer(CountersLogMixin, CheckpointWeightsMixin, DPOTrainer):
    """DPO on video pairs. Dataset rows: ``video`` (path), ``start``/``end``, ``prompt``, ``system``, ``chosen``,
    ``rejected``; ``data_collator`` must be an ``owlcap.train.dpo_data.VideoPreferenceCollator``."""

    def __init__(self, *args, data_counters, **kwargs):
        if trl.__version__ != TRL_VERSION:
            raise RuntimeError(
                f"VideoDPOTrainer overrides TRL {TRL_VERSION} internals but TRL {trl.__version__} is installed; "
                f"install trl=={TRL_VERSION} (pinned in pyproject.toml)"
            )
        self.data_counters = data_counters
        self.pairs_without_reference = 0
        super().__init__(*args, **kwargs)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        return dataset  # the collator renders and tokenizes each pair with its video

    @contextlib.contextmanager
    def _shared_videos(self, video_index: torch.Tensor | None, *models) -> Iterator[None]:
        """Each distinct clip encoded once by each model's vision tower for the forwards inside (once per base)."""
        with contextlib.ExitStack() as stack:
            if video_index is not None:
                index = video_index.tolist()
                seen: set[int] = set()
                for model in models:
                    if model is None or id(encoder_model(model).base_model) in seen:
                        continue
                    seen.add(id(encoder_model(model).base_model))
                    stack.enter_context(shared_video_features(model, index))
            yield

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        video_index = inputs.pop("video_index", None)
        with self._shared_videos(video_index, model, self.ref_model):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def compute_ref_log_probs(self, model, inputs):
        inputs = dict(inputs)
        video_index = inputs.pop("video_index", None)
        valid = inputs.pop("pair_valid", None)
        with self._shared_videos(video_index, model):
            chosen, rejected = super().compute_ref_log_probs(model, inputs)
        if valid is not None:
            invalid = ~valid.to(chosen.device)
            chosen, rejected = chosen.masked_fill(invalid, float("nan")), rejected.masked_fill(invalid, float("nan"))
        return chosen, rejected

    def _precompute_ref_logps(self, dataset, name, batch_size):
        self.data_collator.keep_failed = True
        try:
            dataset = super()._precompute_ref_logps(dataset, name, batch_size)
        finally:
            self.data_collator.keep_failed = False
        unusable = nan_pairs(dataset["ref_chosen_logps"], dataset["ref_rejected_logps"])
        if unusable:
            shown = ", ".join(str(dataset[i]["id"]) for i in unusable[:5])
            logger.warning("%s: %d pair(s) left out (video not decoded or too long): %s", name, len(unusable), shown)
            self.pairs_without_reference += len(unusable)
            dataset = dataset.select(sorted(set(range(len(dataset))) - set(unusable)))
        if len(dataset) == 0:
            raise DataError(name, "no pair is usable: every video failed to decode or every pair was too long")
        return dataset
