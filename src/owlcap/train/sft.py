"""Supervised fine-tuning of a video MLLM on HMD captions: the recipe, top to bottom.

``owlcap train sft configs/sft/qwen2_5_vl_7b.yaml [--key value ...]`` (or ``accelerate launch -m owlcap.cli.main
train sft ...`` on several GPUs) runs :func:`run_sft`:

1. build TRL's ``SFTConfig`` first (under DeepSpeed ZeRO-3 the model must be loaded after it exists);
2. load the model and processor, and apply the tuning plan (full with frozen parts, or a LoRA config);
3. read HMD records / SFT conversations into a dataset; bad lines are logged and skipped;
4. the video collator decodes with ``owlcap.video`` (same sampler as captioning and evaluation), masks labels to
   the caption, and skips + counts videos that fail to decode;
5. train with ``SFTTrainer``, resuming from the newest checkpoint when asked (default ``auto``: a re-run resumes;
   ``owlcap.train.run_dir`` refuses a resume into another model, tuning or data, and a finished run is left as it
   is); each logged step goes to ``output_dir/metrics.jsonl`` and, as one summary line, to the log;
6. save the final model with its processor and model card in ``output_dir`` (LoRA: adapter in
   ``output_dir/adapter`` and, by default, the merged model in ``output_dir``), so ``owlcap caption --model
   OUTPUT_DIR`` uses it; ``sft_result.json`` summarises the run.

Why TRL's ``SFTTrainer`` rather than plain ``transformers.Trainer``: its loss runs a fused, chunked LM head (no
``(batch, seq, vocab)`` logits: long captions over thousands of video tokens fit), it logs token accuracy and
entropy, and it owns the PEFT wiring (ZeRO-3 adapter dtypes, input gradients under checkpointing). Its own
vision collator handles images only, so we pass ours and tell it to skip dataset preparation.

The one subclass, :class:`VideoSFTTrainer`, does two named things, each tested in ``tests/train/test_sft.py``:

* ``log`` (:class:`~owlcap.train.callbacks.CountersLogMixin`, shared with DPO) adds the data counters (videos
  decoded/skipped, examples too long, ...), summed over ranks, to every log record, so TensorBoard/W&B and
  ``log_history`` show them;
* :class:`~owlcap.train.checkpoints.CheckpointWeightsMixin` makes resume restore the model weights: transformers
  5.20 saves Qwen2.5-VL checkpoints in the legacy key layout and its resume path cannot read them back, so a
  resumed run would silently restart from the base weights.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import SFTConfig, SFTTrainer

from owlcap.config import load_config
from owlcap.models.inputs import vision_factor
from owlcap.train.callbacks import (
    SFT_SUMMARY_KEYS,
    CountersLogMixin,
    MetricsFileCallback,
    close_console,
    quiet_console,
)
from owlcap.train.checkpoints import CheckpointWeightsMixin
from owlcap.train.data import DataCounters, VideoCaptionCollator, load_caption_dataset
from owlcap.train.guards import require_every_step
from owlcap.train.modeling import count_parameters, load_training_model, prepare_model
from owlcap.train.run_config import TRAINER_FIELDS
from owlcap.train.run_dir import METRICS_FILE, checkpoint_step, describe_finished, finish_run, plan_run, start_run
from owlcap.train.saving import end_process_group, save_final_model
from owlcap.train.sft_config import SFTRunConfig

logger = logging.getLogger(__name__)


@dataclass
class SFTResult:
    """What a run did: where the model is, how far it got, and what the data counters say."""

    output_dir: str
    final_model: str
    adapter: str | None
    global_step: int
    train_loss: float | None
    resumed_from: str | None
    trainable_parameters: int
    total_parameters: int
    bad_lines: int
    data: dict[str, int] = field(default_factory=dict)


class VideoSFTTrainer(CountersLogMixin, CheckpointWeightsMixin, SFTTrainer):
    """``SFTTrainer`` whose logs carry the video data counters and whose resume restores the model weights."""

    def __init__(self, *args, data_counters: DataCounters, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_counters = data_counters


def run_sft(config_path: str | Path | None, overrides: list[str] | None = None, **kwargs: Any) -> SFTResult:
    """Entry point of ``owlcap train sft CONFIG [--key value ...]``; the run ends the process group."""
    result = train_sft(load_config(SFTRunConfig, config_path, overrides), **kwargs)
    end_process_group()
    return result


def train_sft(config: SFTRunConfig, *, callbacks: list | None = None) -> SFTResult:
    """Run SFT as configured; ``callbacks`` are extra ``transformers.TrainerCallback``\\ s (monitoring, tests)."""
    args = build_sft_args(config)
    if not args.should_log:
        logging.getLogger("owlcap").setLevel(logging.WARNING)  # rank 0 speaks for everyone
    plan = plan_run(config, "sft")  # before anything heavy: a finished run, or a resume into another run, ends here
    if plan.finished is not None:
        logger.warning(describe_finished(plan))
        return SFTResult(**plan.finished)
    start_run(plan, config, main_process=args.process_index == 0)
    model, processor = load_training_model(config.model)
    peft_config = prepare_model(model, config.model)

    train_dataset, bad_lines = load_caption_dataset(
        config.data.train_files,
        video_root=config.data.video_root,
        check_files=config.data.check_files,
        max_examples=config.data.max_examples,
    )
    eval_dataset = None
    if config.data.eval_files:
        eval_dataset, eval_bad = load_caption_dataset(config.data.eval_files, video_root=config.data.video_root)
        bad_lines += eval_bad
    for error in bad_lines[:20]:
        logger.warning("skipped data line: %s", error)
    logger.info("%d training examples (%d bad lines skipped)", len(train_dataset), len(bad_lines))

    counters = DataCounters()
    collator = VideoCaptionCollator(
        processor,
        config.data.sampling.model_copy(update={"factor": vision_factor(processor)}),
        default_prompt=config.data.prompt,
        default_system=config.data.system,
        max_length=config.data.max_length,
        counters=counters,
        prompt_order=config.data.prompt_order,
    )
    trainer = VideoSFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        data_collator=collator,
        peft_config=peft_config,
        callbacks=[MetricsFileCallback(Path(config.output_dir) / METRICS_FILE, SFT_SUMMARY_KEYS), *(callbacks or [])],
        data_counters=counters,
    )
    quiet_console(trainer)
    params = count_parameters(trainer.model)
    logger.info("%s (%s tuning)", params, config.model.tuning)

    resume = plan.resume
    try:
        output = trainer.train(resume_from_checkpoint=resume)
    finally:
        close_console(trainer)
    require_every_step(trainer.state, "SFT")
    final_model, adapter = save_final_model(trainer, config, recipe="sft")
    trained = trainer.state.global_step - (checkpoint_step(resume) if resume else 0)
    result = SFTResult(
        output_dir=config.output_dir,
        final_model=final_model,
        adapter=adapter,
        global_step=trainer.state.global_step,
        train_loss=getattr(output, "training_loss", None) if trained else None,  # no step, no loss (not 0.0)
        resumed_from=resume,
        trainable_parameters=params.trainable,
        total_parameters=params.total,
        bad_lines=len(bad_lines),
        data=trainer.data_totals(),
    )
    finish_run(plan, asdict(result), main_process=trainer.is_world_process_zero())
    if trainer.is_world_process_zero():
        logger.info("SFT done: %s", json.dumps(asdict(result)))
    return result


def build_sft_args(config: SFTRunConfig) -> SFTConfig:
    """TRL ``SFTConfig`` from the run config, with the settings the video collator needs."""
    fields = {name: getattr(config, name) for name in TRAINER_FIELDS}
    defaults = config.trainer_defaults()
    # The dataset holds paths and captions; the collator makes every model input, so nothing is pre-tokenized,
    # truncated or dropped by TRL, and the columns must reach the collator untouched (trl_args cannot change these).
    video = {
        "remove_unused_columns": False,
        "dataset_kwargs": {"skip_prepare_dataset": True},
        "max_length": None,
        "label_names": ["labels"],
        "dataloader_num_workers": config.data.num_workers,
    }
    return SFTConfig(**(fields | defaults | config.trl_args | video))
