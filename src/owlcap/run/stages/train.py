"""The SFT and GRPO stages: the training recipes' public entry points, chained base -> SFT -> (DPO ->) GRPO.

The pipeline owns these fields of each training config: ``output_dir`` (``RUN_DIR/sft/model``, ``RUN_DIR/grpo/model``),
``model.name_or_path`` (SFT starts from the pipeline's base model, GRPO from DPO's output (``stages.dpo``), else
SFT's, else the base model) and, when the pipeline has a data stage, ``data.train_files`` (its
``RUN_DIR/data/hmd.jsonl``). Everything else is the stage config's. An interrupted stage is called again with the
same config: the recipe resumes from the newest complete checkpoint in ``output_dir``
(``resume_from_checkpoint: auto``, the default). With ``launch:`` the recipe runs as ``owlcap train`` under the
launcher in a subprocess (``owlcap.run.launch``) on the resolved config the pipeline saved.

Each stage's summary reports the loss or reward figures from the trainer's log history and how far the weights
moved, per part (vision tower, projector, language model), from the model it started from.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from owlcap.run.resolve import PipelineSource, own_fields, stage_source, validate_stage
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage
from owlcap.run.weights import weight_change

logger = logging.getLogger(__name__)


def _owned(source: PipelineSource, layout: Layout, output_dir: Path, start: str) -> dict[str, Any]:
    """The fields of a training config the pipeline sets."""
    owned: dict[str, Any] = {"output_dir": str(output_dir), "model.name_or_path": start}
    if source.config.data is not None:
        owned["data.train_files"] = [str(layout.hmd_records)]
    return owned


def _resolved(name: str, config: Any, stage: Any, source: PipelineSource, upstream: list[str], extra: dict) -> Any:
    from owlcap.train.run_dir import runnable_dump

    from_data = source.config.data is not None  # the data stage's hmd.jsonl is its output, not a file to check now
    inputs = {} if from_data else _listed("data.train_files", config.data.train_files)
    inputs |= _listed("data.eval_files", getattr(config.data, "eval_files", []))
    return ResolvedStage(
        name,
        config,
        stage.describe(),
        inputs=inputs,
        upstream=(["data"] if from_data else []) + upstream,
        extra=extra,
        origin=stage.origin,
        dump=runnable_dump,  # RUN_DIR/<stage>/config.yaml runs as it is: owlcap train <stage> that file
    )


def resolve_sft(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.train.sft_config import SFTRunConfig

    stage = stage_source(source, "sft", source.config.sft, layout.run_dir)
    own_fields(stage, _owned(source, layout, layout.sft_model, source.config.model.name_or_path))
    config = validate_stage(SFTRunConfig, stage)
    return _resolved("sft", config, stage, source, [], {"base_model": True})


def resolve_grpo(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.train.grpo_config import GRPORunConfig

    trained = [name for name in ("dpo", "sft") if getattr(source.config, name) is not None][:1]
    start = str({"dpo": layout.dpo_model, "sft": layout.sft_model}[trained[0]]) if trained else None
    stage = stage_source(source, "grpo", source.config.grpo, layout.run_dir)
    own_fields(stage, _owned(source, layout, layout.grpo_model, start or source.config.model.name_or_path))
    config = validate_stage(GRPORunConfig, stage)
    return _resolved("grpo", config, stage, source, trained, {} if trained else {"base_model": True})


def train(name: str, stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    """Train in this process, or under the section's launcher; the run's result as a dict either way."""
    launch = getattr(context.pipeline.config, name).launch
    if launch is not None:
        from owlcap.run.launch import run_launched

        config_path = context.layout.stage_dir(name) / "config.yaml"
        output_dir = Path(stage.config.output_dir)
        return run_launched(launch, name, config_path, output_dir, cpu_threads=context.pipeline.config.cpu_threads)
    if name == "sft":
        from owlcap.train.sft import train_sft

        return asdict(train_sft(stage.config))
    if name == "dpo":
        from owlcap.train.dpo import train_dpo

        return asdict(train_dpo(stage.config))
    from owlcap.train.grpo import train_grpo

    return train_grpo(stage.config).to_dict()


def run_sft(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    config = stage.config
    result = train("sft", stage, context)
    history = log_history(config.output_dir)
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return {
        "model": in_run_dir(result["final_model"], context),
        "global_step": result["global_step"],
        "resumed_from": result["resumed_from"],
        "launched": context.pipeline.config.sft.launch is not None,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "examples_skipped": result["bad_lines"],
        "data": result["data"],
        "weight_change": weight_change(config.model.name_or_path, result["final_model"]),
    }


def run_grpo(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.errors import TrainingStopped

    config = stage.config
    result = train("grpo", stage, context)
    if result.get("stopped"):  # reward.checks ended it (a failing judge, no learning signal): the stage failed
        raise TrainingStopped(
            f"GRPO stopped at step {result['global_step']}: {result['stopped']}. Its checkpoint is saved; once the "
            "cause is fixed, run the same command again to resume from it."
        )
    steps = [entry for entry in log_history(config.output_dir) if "reward_std" in entry]
    final_model = result["final_model"]
    return {
        "model": in_run_dir(final_model, context),
        "global_step": result["global_step"],
        "resumed_from": result["resumed_from"],
        "launched": context.pipeline.config.grpo.launch is not None,
        "steps_logged": len(steps),
        "steps_with_reward_std": sum(entry["reward_std"] > 0 for entry in steps),
        "steps_with_grad": sum(entry.get("grad_norm", 0) > 0 for entry in steps),
        "reward_first": steps[0]["reward"] if steps else None,
        "reward_last": steps[-1]["reward"] if steps else None,
        "weight_change": weight_change(config.model.name_or_path, final_model),
    }


def in_run_dir(path: str, context: RunContext) -> str:
    """``path`` relative to the run directory, so the record stays true when the run directory moves."""
    return os.path.relpath(path, context.layout.run_dir)


def _listed(name: str, paths: list[str]) -> dict[str, str]:
    return {f"{name}[{index}]": path for index, path in enumerate(paths)}


def log_history(output_dir: str | Path) -> list[dict[str, Any]]:
    """The trainer's log history (``trainer_state.json``, saved with the final model; restored on resume, so it
    holds each step once even after a kill and a re-run)."""
    path = Path(output_dir) / "trainer_state.json"
    if not path.is_file():
        return []
    return json.loads(path.read_text(encoding="utf-8")).get("log_history", [])


SFT = Stage("sft", resolve_sft, run_sft, "supervised fine-tuning of the base model on the captions")
GRPO = Stage("grpo", resolve_grpo, run_grpo, "GRPO with CSER + length reward, starting from the SFT model")
