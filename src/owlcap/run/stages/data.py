"""The data stage: the HMD build (MDF + FGE) whose kept records SFT and GRPO train on.

``owlcap.data.build`` (the entry point behind ``owlcap data build``) builds ``data.inputs`` into ``RUN_DIR/data/``;
its ``hmd.jsonl`` (the kept records) becomes the training stages' ``data.train_files``. ``data.preview`` videos
are built the same way into ``RUN_DIR/data/preview/``, recorded and shown in the report, never trained on: the
quickstart builds the sample videos there with tiny models (MDF really runs) while training uses the sample HMD
captions, which go through FGE only (a manifest line that carries a caption skips MDF).

The build resumes on its own (every finished record is on disk; a re-run skips it), which is how an interrupted
stage continues in place. Its records carry fingerprints of the settings they were built with, so a changed data
config keeps the folder (``keep_data_outputs``) and the build redoes only the records the change touches (a new
threshold re-decides; a new verifier re-verifies; the MDF captions stay), unless the folder holds records of
inputs no longer listed, which would leak into training: then it starts over.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from owlcap.errors import DataError
from owlcap.run.resolve import PipelineSource, stage_source, validate_stage
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage

logger = logging.getLogger(__name__)

PAPER_THRESHOLD = 0.9


class DataBuildFailures(DataError):
    """Some inputs could not be built (the stage fails unless ``data.allow_failures``)."""


def resolve_data(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.data.config import BuildConfig

    section = source.config.data
    stage = stage_source(source, "data", section, layout.run_dir)
    config = validate_stage(BuildConfig, stage)
    inputs = _listed("data.inputs", section.inputs) | _listed("data.preview", section.preview)
    model_dirs, uses_base = _local_models(config, source.config.model.name_or_path)

    def origin(name: str) -> str:  # inputs are pipeline fields; the models are the build config's
        return source.origin(name) if name.startswith("data.") else stage.origin(name)

    return ResolvedStage(
        "data",
        config,
        stage.describe(),
        inputs=inputs | model_dirs,
        extra={"allow_failures": section.allow_failures, "base_model": uses_base},
        origin=origin,
    )


def _listed(name: str, paths: list[str]) -> dict[str, str]:
    return {f"{name}[{index}]": path for index, path in enumerate(paths)}


def _local_models(config: Any, base_model: str) -> tuple[dict[str, str], bool]:
    """The local ``hf:`` model folders the build loads (fingerprinted), and whether one is the pipeline's base model
    (which may not exist before the run builds it: it is fingerprinted as the base model instead)."""
    from owlcap.data.config import STAGES
    from owlcap.llm import parse_spec

    folders: dict[str, str] = {}
    uses_base = False
    for stage in STAGES:
        spec = getattr(config.models, stage)
        if spec is None or parse_spec(spec).backend != "hf":
            continue
        path = parse_spec(spec).model
        if os.path.normpath(path) == os.path.normpath(base_model):
            uses_base = True
        elif Path(path).is_dir():
            folders[f"models.{stage}"] = path
    return folders, uses_base


def builds(source: PipelineSource, layout: Layout) -> dict[str, tuple[list[str], Path]]:
    """``{name: (inputs, folder)}``: the training build and, when asked, the preview build."""
    section = source.config.data
    found = {"train": (section.inputs, layout.data_dir)}
    if section.preview:
        found["preview"] = (section.preview, layout.data_preview)
    return found


def keep_data_outputs(stage: ResolvedStage, source: PipelineSource, layout: Layout) -> bool:
    """Keep the build folders on a changed config when every record in them belongs to a listed input."""
    from owlcap.data.sources import collect_videos
    from owlcap.data.store import RECORDS, read_records

    for inputs, folder in builds(source, layout).values():
        existing, _ = read_records(folder / RECORDS)
        if not existing:
            continue
        items, _ = collect_videos(list(inputs))
        stale = set(existing) - {item.id for item in items}
        if stale:
            logger.info("data: %s holds %d record(s) of inputs no longer listed; building afresh", folder, len(stale))
            return False
    return True


def run_data(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.data import BuildInterrupted, build

    section = context.pipeline.config.data
    summary: dict[str, Any] = {"hmd": _in_run_dir(context.layout.hmd_records, context)}
    problems: list[str] = []
    for name, (inputs, folder) in builds(context.pipeline, context.layout).items():
        try:
            result = build(stage.config, inputs, folder)
        except BuildInterrupted as interrupted:
            done = interrupted.summary
            logger.warning("data build interrupted: %d record(s) written this run; run again to continue", done.built)
            raise
        summary[name] = describe_build(result, folder, stage.config)
        problems += [f"{name}: {error}" for error in result.bad_inputs]
        problems += [f"{name}: {f['id']}: {f['stage']}: {f['message']}" for f in result.failures]
        if result.stopped:
            problems.append(f"{name}: {result.stopped}")
    if problems and not section.allow_failures:
        listed = "\n  ".join(problems[:20])
        raise DataBuildFailures(
            context.layout.data_dir,
            f"{len(problems)} input(s) could not be built (a re-run retries only these; data.allow_failures: true "
            f"trains on what was kept):\n  {listed}",
        )
    if not summary["train"]["kept"]:
        raise DataError(
            context.layout.hmd_records,
            f"no record was kept ({summary['train']['rejected']} rejected at fge.threshold "
            f"{stage.config.fge.threshold}): SFT and GRPO would have nothing to train on. Look at the verdicts in "
            f"{context.layout.data_dir / 'report' / 'index.html'}; lower fge.threshold or use a stronger verifier.",
        )
    return summary


def describe_build(result: Any, folder: Path, config: Any) -> dict[str, Any]:
    """The figures of one build for the stage summary and the report (counts are over the whole folder)."""
    from owlcap.data.store import RECORDS, read_records

    records, _ = read_records(folder / RECORDS)
    accuracies = [r["unit_accuracy"] for r in records.values() if isinstance(r.get("unit_accuracy"), int | float)]
    return {
        "folder": str(folder),
        "records": len(records),
        "kept": result.totals.get("kept", 0),
        "rejected": result.totals.get("rejected", 0),
        "failed": result.totals.get("failed", 0),
        "built_this_run": result.built,
        "skipped_as_done": result.skipped,
        "threshold": config.fge.threshold,
        "kept_at_paper_threshold": sum(accuracy >= PAPER_THRESHOLD for accuracy in accuracies),
        "unit_accuracy_mean": sum(accuracies) / len(accuracies) if accuracies else None,
        "models": config.models.model_dump(),
        "verify": {"mode": config.fge.verify_mode, "decision": config.fge.decision},
        "seconds": round(result.seconds, 2),
        "viewer": result.outputs.get("viewer"),
    }


def _in_run_dir(path: Path, context: RunContext) -> str:
    return os.path.relpath(path, context.layout.run_dir)


DATA = Stage(
    "data",
    resolve_data,
    run_data,
    "HMD build (MDF + FGE): the records SFT and GRPO train on",
    keep_outputs=keep_data_outputs,
)
