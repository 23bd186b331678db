"""``owlcap train grpo CONFIG.yaml [--key value ...]``: GRPO post-training of a video captioner with CSER.

The recipe, top to bottom: the run config becomes TRL's ``GRPOConfig``; the run directory says whether this run is
finished, resumes a checkpoint or starts fresh (``owlcap.train.run_dir``); the rewards are built, CSER (async, judged
by an LLM) and the length reward, weighted 1:1, and the judge answers one test request before anything heavy is
loaded (``owlcap.train.guards``); the (SFT) model is loaded for training with its tuning plan (full or LoRA); the
caption records become a dataset of (prompt, video, reference caption); ``VideoGRPOTrainer`` (TRL's GRPOTrainer with
the video in every forward) trains, watched by ``reward.checks`` (a failing judge stops the run with a checkpoint);
the final model, processor and model card are saved in ``output_dir`` and ``grpo_result.json`` summarises the run.
Each logged step goes to ``output_dir/metrics.jsonl`` and, as one summary line, to the log.

Multi-GPU / multi-node: launch the same command under ``accelerate launch --config_file configs/accelerate/<x>.yaml
-m owlcap.cli.main train grpo CONFIG`` (the YAML files in configs/grpo open with the exact lines).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from owlcap.config import load_config
from owlcap.errors import ConfigError, JudgeError, TrainingStopped
from owlcap.models import vision_factor
from owlcap.train.callbacks import GRPO_SUMMARY_KEYS, MetricsFileCallback, RewardChecksCallback, quiet_console
from owlcap.train.data import load_caption_dataset
from owlcap.train.grpo_config import GRPORunConfig
from owlcap.train.guards import preflight_judge
from owlcap.train.modeling import count_parameters, load_training_model, prepare_model
from owlcap.train.run_dir import METRICS_FILE, checkpoint_step, describe_finished, finish_run, plan_run, start_run
from owlcap.train.saving import end_process_group, save_final_model

logger = logging.getLogger(__name__)

REFERENCE_COLUMN = "caption"  # the HMD caption of each video is CSER's reference


@dataclass
class GRPOResult:
    """What a run did (``grpo_result.json``): where the model is, how far it got, the rewards it saw. ``stopped``
    says why ``reward.checks`` ended it early (then there is no final model; the newest checkpoint resumes it).
    ``trainer`` is the ``VideoGRPOTrainer`` that ran (``None`` for a run found finished); it is not saved."""

    output_dir: str
    final_model: str | None
    adapter: str | None
    global_step: int
    trained_steps: int
    resumed_from: str | None
    judge: str
    trainable_parameters: int
    total_parameters: int
    bad_records: int
    mean: dict[str, float] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    stopped: str | None = None
    trainer: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self) if item.name != "trainer"}


def run_grpo(config_path: str | Path | None, overrides: list[str] | None = None) -> GRPOResult:
    """Entry point of ``owlcap train grpo CONFIG [--key value ...]``; the run ends the process group.

    Raises ``TrainingStopped`` when ``reward.checks`` stopped the run (after the process group is closed)."""
    result = train_grpo(load_config(GRPORunConfig, config_path, overrides))
    end_process_group()
    if result.stopped:
        raise TrainingStopped(
            f"GRPO stopped at step {result.global_step}: {result.stopped}. The checkpoint "
            f"{result.output_dir}/checkpoint-{result.global_step} is saved: once the cause is fixed, run the same "
            "command again to resume from it."
        )
    return result


def train_grpo(config: GRPORunConfig, *, callbacks: list | None = None) -> GRPOResult:
    """Run GRPO as configured; ``callbacks`` are extra ``transformers.TrainerCallback``\\ s (monitoring, tests)."""
    from owlcap.train.grpo_trainer import VideoGRPOTrainer

    args = config.trl_config()  # first: under DeepSpeed ZeRO-3 the weights must load after the arguments exist
    plan = plan_run(config, "grpo")  # before anything heavy: a finished run, or a resume into another run, ends here
    if plan.finished is not None:
        logger.warning(describe_finished(plan))
        return GRPOResult(**plan.finished)
    main_process = args.process_index == 0
    reward_funcs = build_reward_funcs(config)
    judges = [func.cser.judge for func in reward_funcs if hasattr(func, "cser")]
    try:
        for judge in judges:
            preflight_judge(judge, config.reward.checks)
    except JudgeError:
        for judge in judges:
            judge.close()
        raise
    start_run(plan, config, main_process=main_process)
    model, processor = load_training_model(config.model)
    peft_config = prepare_model(model, config.model)
    processor.tokenizer.padding_side = "left"  # TRL generates from left-padded prompts
    sampling = config.data.sampling.model_copy(update={"factor": vision_factor(processor)})
    dataset, bad_records = build_dataset(config)
    checks = RewardChecksCallback(config.reward.checks)
    metrics = MetricsFileCallback(Path(config.output_dir) / METRICS_FILE, GRPO_SUMMARY_KEYS)
    trainer = VideoGRPOTrainer(
        model,
        reward_funcs,
        args,
        dataset,
        processing_class=processor,
        video_sampler=sampling,
        share_video_encoding=config.share_video_encoding,
        decode_workers=config.data.decode_workers,
        prefetch=reference_prefetch(reward_funcs),
        prompt_order=config.data.prompt_order,
        kl_log_ratio_clamp=config.kl_log_ratio_clamp,
        peft_config=peft_config,
        callbacks=[metrics, checks, *(callbacks or [])],
    )
    quiet_console(trainer)
    params = count_parameters(trainer.model)
    logger.info("GRPO on %d videos, G=%d: %s", len(dataset), config.num_generations, params)
    resumed_step = checkpoint_step(plan.resume) if plan.resume else 0
    trainer.train(resume_from_checkpoint=plan.resume)
    final_model = adapter = None
    if checks.stop_reason is None:
        final_model, adapter = save_final_model(trainer, config, recipe="grpo")
    history = [entry for entry in trainer.state.log_history if "reward" in entry]
    result = GRPOResult(
        output_dir=config.output_dir,
        final_model=final_model,
        adapter=adapter,
        global_step=trainer.state.global_step,
        trained_steps=trainer.state.global_step - resumed_step,
        resumed_from=plan.resume,
        judge=config.reward.judge if "cser" in config.reward_names() else "",
        trainable_parameters=params.trainable,
        total_parameters=params.total,
        bad_records=bad_records,
        mean=_means(history),
        last={key: history[-1][key] for key in GRPO_SUMMARY_KEYS if history and key in history[-1]},
        stopped=checks.stop_reason,
        trainer=trainer,
    )
    _report_signal(checks.watch)
    if checks.stop_reason is None:
        finish_run(plan, result.to_dict(), main_process=trainer.is_world_process_zero())
        logger.info("GRPO done: %d step(s); the model is in %s", result.global_step, final_model)
    return result


def _report_signal(watch) -> None:
    """Say whether the run could learn: GRPO's gradient comes only from groups whose rewards differ."""
    if not watch.logged_steps:
        return
    line = "learning signal: some group's rewards differed (reward std > 0) on %d of %d logged steps"
    if watch.signal_steps:
        logger.info(line, watch.signal_steps, watch.logged_steps)
    else:
        logger.warning(line + ": the rewards taught the policy nothing", watch.signal_steps, watch.logged_steps)


def _means(history: list[dict]) -> dict[str, float]:
    means = {}
    for key in GRPO_SUMMARY_KEYS:
        values = [entry[key] for entry in history if isinstance(entry.get(key), (int, float))]
        if values:
            means[key] = sum(values) / len(values)
    return means


def build_dataset(config: GRPORunConfig):
    """Caption examples -> rows with ``prompt`` (text), ``video`` (path), ``system`` and the reference ``caption``;
    returns ``(dataset, number of bad records left out)``."""
    data = config.data
    dataset, errors = load_caption_dataset(
        data.train_files, video_root=data.video_root, check_files=data.check_files, max_examples=data.max_examples
    )
    if errors:
        logger.warning("%d bad record(s) left out of GRPO; first: %s", len(errors), errors[0])
    if len(dataset) == 0:
        raise ConfigError(f"data.train_files {data.train_files}: no usable records (see the warnings above)")
    defaults = {"prompt": data.prompt, "system": data.system}
    return dataset.map(lambda row: {key: row.get(key) or value for key, value in defaults.items()}), len(errors)


def build_reward_funcs(config: GRPORunConfig) -> list:
    """TRL reward functions in ``config.reward_names()`` order (their weights are in the TRL config)."""
    from owlcap.reward import CSER, CSERRewardFunc, LengthRewardFunc

    reward = config.reward
    funcs = []
    for name in config.reward_names():
        if name == "cser":
            cser = CSER(reward.judge, reward.cser, reward.llm)
            funcs.append(CSERRewardFunc(cser, reference_key=REFERENCE_COLUMN, name="cser"))
        else:
            funcs.append(LengthRewardFunc(reward.length, name="length"))
    return funcs


def reference_prefetch(reward_funcs):
    """Start splitting a batch's reference captions into units while its completions are generated (CSER only)."""
    cser_funcs = [func for func in reward_funcs if hasattr(func, "cser")]
    if not cser_funcs:
        return None

    def prefetch(rows) -> None:
        references = list(dict.fromkeys(str(row[REFERENCE_COLUMN]) for row in rows))
        for func in cser_funcs:
            func.cser.prefetch_nowait(references)  # failures are logged by CSER and retried at scoring time

    return prefetch
