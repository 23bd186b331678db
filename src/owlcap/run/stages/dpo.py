"""The DPO stage: preference pairs from what the run already made, then DPO from SFT's model on them.

``owlcap.data.pairs.build_pairs`` (the entry point behind ``owlcap data pairs``) builds the pairs into
``RUN_DIR/dpo/pairs/``: from the data stage's HMD build (FGE's verdicts) when the pipeline has one, plus whatever
the stage's ``pairs`` config lists (an earlier run's GRPO completions, caption files with their references). Then
``owlcap.train.dpo`` trains ``RUN_DIR/dpo/model`` from SFT's model (the base model without an SFT stage) on
``pairs.jsonl``; GRPO, when the pipeline has it, starts from there. The pipeline owns the run config's
``output_dir``, ``model.name_or_path`` and ``data.train_files``. Both steps resume on their own: the pair builder
skips the items it recorded, the trainer continues from its newest checkpoint.

The summary carries the figures that say whether DPO learned: reward accuracy and margin at the first and last
logged steps, the pairs per source, and how far the weights moved (the vision tower included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.config import load_yaml, validate_config
from owlcap.errors import ConfigError, DataError
from owlcap.run.resolve import PipelineSource, own_fields, stage_source, validate_stage
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage
from owlcap.run.stages.train import in_run_dir, log_history, train
from owlcap.run.weights import weight_change


def resolve_dpo(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.train.dpo_config import DPORunConfig
    from owlcap.train.run_dir import runnable_dump

    after_sft = source.config.sft is not None
    start = str(layout.sft_model) if after_sft else source.config.model.name_or_path
    stage = stage_source(source, "dpo", source.config.dpo, layout.run_dir)
    owned = {
        "output_dir": str(layout.dpo_model),
        "model.name_or_path": start,
        "data.train_files": [str(layout.dpo_pairs / "pairs.jsonl")],
    }
    own_fields(stage, owned)
    config = validate_stage(DPORunConfig, stage)
    pairs = pairs_config(source, layout)
    upstream = (["data"] if source.config.data is not None else []) + (["sft"] if after_sft else [])
    extra: dict[str, Any] = {"pairs": pairs.model_dump(mode="json")} | ({} if after_sft else {"base_model": True})
    return ResolvedStage(
        "dpo",
        config,
        stage.describe(),
        inputs=_pair_inputs(pairs, layout),
        upstream=upstream,
        extra=extra,
        origin=stage.origin,
        dump=runnable_dump,  # RUN_DIR/dpo/config.yaml runs as it is: owlcap train dpo that file
    )


def pairs_config(source: PipelineSource, layout: Layout):
    """The stage's ``PairsConfig``: its ``pairs`` (a path or inline), plus the data stage's build as an HMD source."""
    from owlcap.data.pairs import PairsConfig

    pairs = source.config.dpo.pairs
    where = f"{source.path} (dpo.pairs)"
    if isinstance(pairs, str):
        where = f"{pairs} (dpo.pairs in {source.path})"
        try:
            pairs = load_yaml(pairs, variables={"run_dir": str(layout.run_dir)})
        except ConfigError as exc:
            raise ConfigError(f"stage dpo: dpo.pairs: {exc}") from exc
    data = dict(pairs)
    if source.config.data is not None:
        hmd = dict(data.get("hmd") or {})
        builds = [str(path) for path in hmd.get("builds") or []]
        hmd["builds"] = [*builds, str(layout.data_dir)] if str(layout.data_dir) not in builds else builds
        data["hmd"] = hmd
    try:
        return validate_config(PairsConfig, data, source=where)
    except ConfigError as exc:
        raise ConfigError(f"stage dpo: {exc}") from exc


def _pair_inputs(pairs, layout: Layout) -> dict[str, str]:
    """The files and folders the pairs read, outside this run's own data stage (fingerprinted, checked first)."""
    named = {f"dpo.pairs.hmd.builds[{i}]": path for i, path in enumerate(pairs.hmd.builds)}
    named |= {f"dpo.pairs.grpo.runs[{i}]": path for i, path in enumerate(pairs.grpo.runs)}
    named |= {f"dpo.pairs.captions.files[{i}]": path for i, path in enumerate(pairs.captions.files)}
    if pairs.captions.references:
        named["dpo.pairs.captions.references"] = pairs.captions.references
    return {name: path for name, path in named.items() if Path(path) != layout.data_dir}


def run_dpo(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.data.pairs import PairsConfig, build_pairs

    made = build_pairs(PairsConfig.model_validate(stage.extra["pairs"]), context.layout.dpo_pairs)
    if not made.ok:
        raise DataError(
            made.out_dir, f"{made.items_failed} pair item(s) failed (a re-run retries them); first: {made.failures[0]}"
        )
    if made.pairs == 0:
        raise DataError(made.pairs_file, f"no preference pairs were made; why: {made.no_pair or made.skipped_records}")
    config = stage.config
    result = train("dpo", stage, context)
    steps = [entry for entry in log_history(config.output_dir) if "rewards/margins" in entry]
    first, last = (steps[0], steps[-1]) if steps else ({}, {})
    return {
        "model": in_run_dir(result["final_model"], context),
        "global_step": result["global_step"],
        "resumed_from": result["resumed_from"],
        "launched": context.pipeline.config.dpo.launch is not None,
        "pairs": made.pairs,
        "pairs_by_source": {source: counts["kept"] for source, counts in made.by_source.items()},
        "pairs_file": in_run_dir(made.pairs_file, context),
        "steps_logged": len(steps),
        "accuracy_first": first.get("rewards/accuracies"),
        "accuracy_last": last.get("rewards/accuracies"),
        "margin_first": first.get("rewards/margins"),
        "margin_last": last.get("rewards/margins"),
        "weight_change": weight_change(config.model.name_or_path, result["final_model"]),
    }


DPO = Stage("dpo", resolve_dpo, run_dpo, "preference pairs from the run's outputs, then DPO from the SFT model")
