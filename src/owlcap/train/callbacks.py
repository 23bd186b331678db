"""The ``TrainerCallback``\\ s both recipes use, and what the console shows during training.

* :class:`MetricsFileCallback` appends every logged step (rank 0) to ``output_dir/metrics.jsonl`` and logs one
  summary line of the keys that matter for the recipe (``step 3: loss=..., reward=...``).
* :func:`quiet_console` leaves that line as the only per-step output: transformers' own callbacks would also print
  the whole logs dict (40 keys under GRPO) every step. Its tqdm bar becomes owlcap's progress bar, drawn on the
  console the log lines use, so in a terminal each step's line prints above the bar instead of into it (unless
  ``OWLCAP_DISABLE_PROGRESS`` is set).
* :class:`CountersLogMixin` (a trainer mixin) adds a recipe's data counters (videos decoded/skipped, examples too
  long, ...), summed over ranks, to every log record, so TensorBoard/W&B, ``log_history`` and ``metrics.jsonl``
  show them (``Trainer.log`` is the documented hook for this).
* :class:`RewardChecksCallback` applies ``owlcap.train.guards.RewardWatch`` to each logged step of a GRPO run: a stop
  saves a checkpoint and ends training; the recipe then reports why (``stop_reason``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from owlcap import envs
from owlcap.jsonl import JsonlWriter
from owlcap.progress import progress_bar
from owlcap.train.guards import RewardChecksConfig, RewardWatch

logger = logging.getLogger(__name__)

SFT_SUMMARY_KEYS = (
    "loss",
    "eval_loss",
    "mean_token_accuracy",
    "grad_norm",
    "learning_rate",
    "data/videos_skipped",
    "data/examples_too_long",
)
GRPO_SUMMARY_KEYS = (
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "rewards/cser/mean",
    "cser/correctness",
    "cser/completeness",
    "rewards/length/mean",
    "cser/failures",
    "cser/latency_s",
    "completions/mean_length",
    "loss",
    "kl",
)


class MetricsFileCallback(TrainerCallback):
    """Append every logged metrics dict (rank 0) to a JSONL file and one summary line to the log."""

    def __init__(self, path: Path, summary_keys: Sequence[str] = GRPO_SUMMARY_KEYS):
        self.path = Path(path)
        self.summary_keys = tuple(summary_keys)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, **{k: v for k, v in logs.items() if _is_number(v)}}
        with JsonlWriter(self.path, fsync=False) as writer:  # a resumed run first drops a line a kill tore
            writer.write(record)
        if not _STEP_KEYS & record.keys():  # the end-of-training record: runtimes and totals
            return
        summary = ", ".join(f"{key}={record[key]:.4g}" for key in self.summary_keys if key in record)
        logger.info("step %d: %s", state.global_step, summary)


_STEP_KEYS = frozenset({"loss", "eval_loss", "reward"})  # a training or evaluation step's record has one of these


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class StepBar(TrainerCallback):
    """The training steps as owlcap's progress bar (rank 0), in place of transformers' tqdm bar: tqdm writes to the
    terminal on its own, so log lines landed on the bar's line; rich draws both on one console."""

    def __init__(self):
        self.bar = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.bar is None:
            self.bar = progress_bar("step")
            self.bar.start()
            self.task = self.bar.add_task("train", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(self.task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        """Stop drawing (idempotent): at the end of training, and when training raised (Ctrl-C, an error)."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def close_console(trainer) -> None:
    """Stop the step bar of ``trainer``, however its training ended (call in a ``finally``)."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, StepBar):
            callback.close()


def quiet_console(trainer) -> None:
    """Leave owlcap's summary line as the only per-step console output (see the module docstring)."""
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None and not envs.progress_disabled():
        trainer.add_callback(StepBar)


DPO_SUMMARY_KEYS = (
    "loss",
    "rewards/accuracies",
    "rewards/margins",
    "rewards/chosen",
    "rewards/rejected",
    "eval_loss",
    "grad_norm",
    "data/videos_skipped",
)


class CountersLogMixin:
    """Trainer mixin: ``self.data_counters`` (an ``owlcap.train.data.DataCounters``) in every log record."""

    def data_totals(self) -> dict[str, int]:
        """The data counters summed over all ranks (a collective: every rank must call it)."""
        import torch

        counts = self.data_counters.snapshot()
        local = torch.tensor(list(counts.values()), dtype=torch.long, device=self.accelerator.device)
        total = self.accelerator.reduce(local, reduction="sum") if self.accelerator.num_processes > 1 else local
        return dict(zip(counts, total.tolist(), strict=True))

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Every rank calls log() at the same steps, so the sum in data_totals() is a matched collective.
        logs.update({f"data/{name}": value for name, value in self.data_totals().items()})
        super().log(logs, start_time)


class RewardChecksCallback(TrainerCallback):
    """Stop (with a checkpoint) or warn as ``reward.checks`` says; ``stop_reason`` tells the recipe why it stopped.

    Every rank sees the same logged (gathered) metrics, so every rank takes the same decision."""

    def __init__(self, config: RewardChecksConfig):
        self.watch = RewardWatch(config)
        self.stop_reason: str | None = None
        self.stopped_at: int | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or self.stop_reason is not None:
            return
        verdict = self.watch.observe(logs)
        if verdict.warn and state.is_world_process_zero:
            logger.warning("step %d: %s", state.global_step, verdict.warn)
        if verdict.stop:
            self.stop_reason, self.stopped_at = verdict.stop, state.global_step
            control.should_save = True  # the trainer saves right after logging, then leaves the loop
            control.should_training_stop = True
            if state.is_world_process_zero:
                logger.error("step %d: stopping: %s", state.global_step, verdict.stop)
