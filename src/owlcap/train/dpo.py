"""``owlcap train dpo CONFIG.yaml [--key value ...]``: DPO of a video captioner on preference pairs, top to bottom.

1. the run config becomes TRL's ``DPOConfig`` (first: under DeepSpeed ZeRO-3 the weights load after it exists);
2. the run directory says whether this run is finished, resumes a checkpoint or starts fresh (``owlcap.train.run_dir``,
   the same rules as SFT and GRPO: a resume into another model, tuning or data is refused);
3. the (SFT) model is loaded with its tuning plan (full or LoRA); it is also the reference model: with
   ``precompute_ref_log_probs`` (default) its log-probs of every pair are computed once before training and no second
   model is kept; otherwise TRL loads a frozen copy (full tuning) or turns the adapter off (LoRA) each step;
4. the pair files (``owlcap data pairs``' ``pairs.jsonl``, or conversation pair lines) become a dataset; bad lines
   are logged and skipped;
5. ``VideoDPOTrainer`` trains with the video in the chosen and rejected forwards, each pair's clip encoded once
   (``owlcap.train.dpo_trainer``); each logged step (loss, reward accuracy and margin, chosen/rejected rewards) goes
   to ``output_dir/metrics.jsonl`` and, as one line, to the log;
6. the final model, processor and model card are saved in ``output_dir`` (LoRA: the adapter in ``adapter/`` and the
   merged model) and ``dpo_result.json`` summarises the run.

Multi-GPU: ``accelerate launch --config_file configs/accelerate/<x>.yaml -m owlcap.cli.main train dpo CONFIG``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlcap.config import load_config
from owlcap.models.inputs import vision_factor
from owlcap.train.callbacks import DPO_SUMMARY_KEYS, MetricsFileCallback, close_console, quiet_console
from owlcap.train.data import DataCounters
from owlcap.train.dpo_config import DPORunConfig
from owlcap.train.dpo_data import VideoPreferenceCollator, load_pair_dataset
from owlcap.train.guards import require_every_step
from owlcap.train.modeling import count_parameters, load_training_model, prepare_model
from owlcap.train.run_dir import METRICS_FILE, checkpoint_step, describe_finished, finish_run, plan_run, start_run
from owlcap.train.saving import end_process_group, save_final_model

logger = logging.getLogger(__name__)

CURVES = ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected")


@dataclass
class DPOResult:
    """What a run did (``dpo_result.json``): where the model is, how far it got, and what the pairs taught."""

    output_dir: str
    final_model: str
    adapter: str | None
    global_step: int
    trained_steps: int
    resumed_from: str | None
    trainable_parameters: int
    total_parameters: int
    pairs: int
    bad_lines: int
    pairs_left_out: int
    first: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    data: dict[str, int] = field(default_factory=dict)


def run_dpo(config_path: str | Path | None, overrides: list[str] | None = None) -> DPOResult:
    """Entry point of ``owlcap train dpo CONFIG [--key value ...]``; the run ends the process group."""
    result = train_dpo(load_config(DPORunConfig, config_path, overrides))
    end_process_group()
    return result


def train_dpo(config: DPORunConfig, *, callbacks: list | None = None) -> DPOResult:
    """Run DPO as configured; ``callbacks`` are extra ``transformers.TrainerCallback``\\ s (monitoring, tests)."""
    from owlcap.train.dpo_trainer import VideoDPOTrainer

    args = config.trl_config()
    plan = plan_run(config, "dpo")  # before anything heavy: a finished run, or a resume into another run, ends here
    if plan.finished is not None:
        logger.warning(describe_finished(plan))
        return DPOResult(**plan.finished)
    data = config.data
    train_dataset, bad_lines = load_pair_dataset(
        data.train_files, video_root=data.video_root, check_files=data.check_files, max_examples=data.max_examples
    )
    eval_dataset = None
    if data.eval_files:
        eval_dataset, eval_bad = load_pair_dataset(data.eval_files, video_root=data.video_root)
        bad_lines += eval_bad
    for error in bad_lines[:20]:
        logger.warning("skipped pair line: %s", error)
    start_run(plan, config, main_process=args.process_index == 0)
    model, processor = load_training_model(config.model)
    peft_config = prepare_model(model, config.model)
    counters = DataCounters()
    collator = VideoPreferenceCollator(
        processor,
        data.sampling.model_copy(update={"factor": vision_factor(processor)}),
        default_prompt=data.prompt,
        default_system=data.system,
        max_length=data.max_length,
        counters=counters,
        prompt_order=data.prompt_order,
        share_video_encoding=config.share_video_encoding,
    )
    trainer = VideoDPOTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[MetricsFileCallback(Path(config.output_dir) / METRICS_FILE, DPO_SUMMARY_KEYS), *(callbacks or [])],
        data_counters=counters,
    )
    quiet_console(trainer)
    params = count_parameters(trainer.model)
    logger.info("DPO on %d pairs (%d bad lines skipped): %s", len(trainer.train_dataset), len(bad_lines), params)
    resumed_step = checkpoint_step(plan.resume) if plan.resume else 0
    try:
        trainer.train(resume_from_checkpoint=plan.resume)
    finally:
        close_console(trainer)
    require_every_step(trainer.state, "DPO")
    final_model, adapter = save_final_model(trainer, config, recipe="dpo")
    history = [entry for entry in trainer.state.log_history if "rewards/margins" in entry]
    result = DPOResult(
        output_dir=config.output_dir,
        final_model=final_model,
        adapter=adapter,
        global_step=trainer.state.global_step,
        trained_steps=trainer.state.global_step - resumed_step,
        resumed_from=plan.resume,
        trainable_parameters=params.trainable,
        total_parameters=params.total,
        pairs=len(trainer.train_dataset),
        bad_lines=len(bad_lines),
        pairs_left_out=trainer.pairs_without_reference,
        first=_curve_point(history[:1]),
        last=_curve_point(history[-1:]),
        data=trainer.data_totals(),
    )
    finish_run(plan, asdict(result), main_process=trainer.is_world_process_zero())
    if trainer.is_world_process_zero():
        logger.info("DPO done: %d step(s); the model is in %s", result.global_step, final_model)
    return result


def _curve_point(entries: list[dict[str, Any]]) -> dict[str, float]:
    return {key: entries[0][key] for key in CURVES if entries and key in entries[0]}
