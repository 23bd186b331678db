"""``owlcap train grpo CONFIG.yaml [--key value ...]``: GRPO post-training of a video captioner with CSER.

The recipe, top to bottom: the run config becomes TRL's ``GRPOConfig``; the (SFT) model is loaded for training with
its tuning plan (full or LoRA); the caption records become a dataset of (prompt, video, reference caption); the
rewards are CSER (async, judged by an LLM) and the length reward, weighted 1:1; ``VideoGRPOTrainer`` (TRL's
GRPOTrainer with the video in every forward) trains, resuming from the newest checkpoint when there is one; the final
model and processor are saved in ``output_dir``. Each logged step also goes to ``output_dir/metrics.jsonl`` and to
this module's logger.

Multi-GPU / multi-node: launch the same command under ``accelerate launch --config_file configs/accelerate/<x>.yaml
-m owlcap.cli.main train grpo CONFIG`` (the YAML files in configs/grpo open with the exact lines).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import TrainerCallback

from owlcap.config import load_config
from owlcap.errors import ConfigError
from owlcap.models import vision_factor
from owlcap.train.checkpoints import resolve_resume
from owlcap.train.data import load_caption_dataset
from owlcap.train.grpo_config import GRPORunConfig
from owlcap.train.modeling import count_parameters, load_training_model, prepare_model
from owlcap.train.saving import end_process_group, save_final_model

logger = logging.getLogger(__name__)

REFERENCE_COLUMN = "caption"  # the HMD caption of each video is CSER's reference


def run_grpo(config_path: str | Path | None, overrides: list[str] | None = None):
    """Load the YAML run config (plus CLI overrides) and train; returns the trainer. The run ends the process group."""
    trainer = train_grpo(load_config(GRPORunConfig, config_path, overrides))
    end_process_group()
    return trainer


def train_grpo(config: GRPORunConfig):
    from owlcap.train.grpo_trainer import VideoGRPOTrainer

    args = config.trl_config()  # first: under DeepSpeed ZeRO-3 the weights must load after the arguments exist
    model, processor = load_training_model(config.model)
    peft_config = prepare_model(model, config.model)
    processor.tokenizer.padding_side = "left"  # TRL generates from left-padded prompts
    sampling = config.data.sampling.model_copy(update={"factor": vision_factor(processor)})
    dataset = build_dataset(config)
    reward_funcs = build_reward_funcs(config)
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
        callbacks=[MetricsFileCallback(Path(config.output_dir) / "metrics.jsonl")],
    )
    logger.info("GRPO on %d videos, G=%d: %s", len(dataset), config.num_generations, count_parameters(trainer.model))
    trainer.train(resume_from_checkpoint=resolve_resume(config))
    save_final_model(trainer, config)  # LoRA: adapter in output_dir/adapter, merged model in output_dir
    return trainer


def build_dataset(config: GRPORunConfig):
    """Caption examples -> rows with ``prompt`` (text), ``video`` (path), ``system`` and the reference ``caption``."""
    data = config.data
    dataset, errors = load_caption_dataset(
        data.train_files, video_root=data.video_root, check_files=data.check_files, max_examples=data.max_examples
    )
    if errors:
        logger.warning("%d bad record(s) left out of GRPO; first: %s", len(errors), errors[0])
    if len(dataset) == 0:
        raise ConfigError(f"data.train_files {data.train_files}: no usable records (see the warnings above)")
    defaults = {"prompt": data.prompt, "system": data.system}
    return dataset.map(lambda row: {key: row.get(key) or value for key, value in defaults.items()})


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


class MetricsFileCallback(TrainerCallback):
    """Append every logged metrics dict (rank 0) to a JSONL file and to the log, one line per logging step."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, **{k: v for k, v in logs.items() if _is_number(v)}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        summary = _summary(record)
        if summary:  # the end-of-training record only has runtimes
            logger.info("step %d: %s", state.global_step, summary)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_SUMMARY_KEYS = (
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


def _summary(record: dict) -> str:
    return ", ".join(f"{key}={record[key]:.4g}" for key in _SUMMARY_KEYS if key in record)
