"""The orchestrator behind ``owlcap run``: stages in order, each skipped when done with the same fingerprint.

For every stage of the pipeline, in order (data -> sft -> grpo -> caption -> eval -> report):

1. all stage configs are resolved and validated, and every file they name is checked, before anything runs;
2. the stage's fingerprint is computed (resolved config, named files, upstream stages' execution ids);
3. a stage whose ``stage.json`` holds that fingerprint is skipped; otherwise it runs in ``RUN_DIR/<stage>/``,
   continuing in place when it was interrupted with the same fingerprint, from scratch otherwise;
4. only after it succeeded is it marked done (atomically), so a kill at any moment leaves it "not done".

``from_stage`` reruns that stage and everything after it; ``only`` reruns that one stage. Both need the stages
before it finished and current. A failing stage raises :class:`StageError` naming the stage, where its config
came from and the cause; the stages finished before it stay finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from owlcap.errors import ConfigError, OwlcapError
from owlcap.run.config import BaseModelSection
from owlcap.run.resolve import PipelineSource, load_pipeline
from owlcap.run.stages import STAGE_NAMES, STAGES, Layout, ResolvedStage, RunContext, Stage
from owlcap.run.stages.report import report_page
from owlcap.run.state import StageDir, StageRecord, file_fingerprints, fingerprint, run_dir_lock

logger = logging.getLogger(__name__)


class StageError(OwlcapError):
    """A stage failed. ``finished`` lists the stages that are done (kept for the next run)."""

    def __init__(self, stage: str, source: str, cause: str, finished: list[str]):
        self.stage = stage
        self.source = source
        self.cause = cause
        self.finished = finished
        super().__init__(f"stage {stage} failed ({source}): {cause}")


@dataclass
class StageOutcome:
    name: str
    status: str  # "skipped" (done, unchanged), "ran", "resumed", "not run" (after --only)
    seconds: float = 0.0


@dataclass
class PipelineResult:
    run_dir: Path
    outcomes: list[StageOutcome] = field(default_factory=list)
    report: Path | None = None


def run_pipeline(
    config_path: str | Path,
    overrides: list[str] | None = None,
    *,
    from_stage: str | None = None,
    only: str | None = None,
) -> PipelineResult:
    """Run the pipeline config at ``config_path`` (with ``--key value`` overrides); see the module docstring."""
    return run_source(load_pipeline(config_path, overrides), from_stage=from_stage, only=only)


@dataclass
class _Plan:
    """Which stages run and how: from ``first`` on they run from scratch (--from, --only); after ``last`` not at all
    (--only). Without either, every stage not done with its current fingerprint runs."""

    stages: list[Stage]
    resolved: dict[str, ResolvedStage]
    target: str | None
    flag: str
    first: int
    last: int


def run_source(source: PipelineSource, *, from_stage: str | None = None, only: str | None = None) -> PipelineResult:
    layout = Layout(source.run_dir)
    stages = [stage for stage in STAGES if getattr(source.config, stage.name) is not None]
    names = [stage.name for stage in stages]
    target = _check_target(names, from_stage, only)
    resolved = {stage.name: stage.resolve(source, layout) for stage in stages}
    for spec in resolved.values():  # a missing file is reported before any stage runs
        file_fingerprints(spec.inputs, what=f"stage {spec.name}", where=spec.where)
    plan = _Plan(
        stages,
        resolved,
        target,
        flag="--only" if only else "--from",
        first=names.index(target) if target else len(names),
        last=names.index(only) if only else len(names) - 1,
    )
    if source.config.cpu_threads is not None:
        import torch

        torch.set_num_threads(source.config.cpu_threads)
    with run_dir_lock(layout.run_dir):
        return _run_plan(source, layout, plan)


def _run_plan(source: PipelineSource, layout: Layout, plan: _Plan) -> PipelineResult:
    base_model = ensure_base_model(source.config.model)
    base_fingerprint = _model_fingerprint(base_model)
    result = PipelineResult(layout.run_dir)
    records: dict[str, StageRecord] = {}
    for position, stage in enumerate(plan.stages):
        if position > plan.last:
            result.outcomes.append(StageOutcome(stage.name, "not run"))
            continue
        spec = plan.resolved[stage.name]
        stage_fp = stage_fingerprint(spec, records, base_fingerprint, layout.run_dir)
        marker = StageDir(layout.run_dir, stage.name)
        done = marker.done()
        current = done is not None and done.fingerprint == stage_fp
        if position < plan.first and current:
            logger.info("stage %s: done before with the same config and inputs; skipped", stage.name)
            records[stage.name] = done
            result.outcomes.append(StageOutcome(stage.name, "skipped", done.seconds))
            continue
        if position < plan.first and plan.target:
            raise ConfigError(
                f"{plan.flag} {plan.target}: stage {stage.name} comes first and is not done with the current config; "
                f"run without {plan.flag} (or {plan.flag} {stage.name})"
            )
        context = RunContext(source, layout, base_model, resuming=False, records=records)
        fresh = position >= plan.first
        keep = not fresh and stage.keep_outputs is not None and stage.keep_outputs(spec, source, layout)
        record = _run_stage(stage, spec, marker, stage_fp, context, fresh=fresh, keep=keep)
        records[stage.name] = record
        result.outcomes.append(StageOutcome(stage.name, "resumed" if record.resumed else "ran", record.seconds))
    if "report" in records:
        result.report = report_page(layout)
    return result


def _check_target(names: list[str], from_stage: str | None, only: str | None) -> str | None:
    if from_stage and only:
        raise ConfigError("--from and --only together: give one of them")
    target = from_stage or only
    if target is None:
        return None
    flag = "--only" if only else "--from"
    if target not in STAGE_NAMES:
        raise ConfigError(f"{flag} {target}: no such stage (stages, in order: {', '.join(STAGE_NAMES)})")
    if target not in names:
        raise ConfigError(f"{flag} {target}: this pipeline has no {target} section (it has: {', '.join(names)})")
    return target


def _run_stage(
    stage: Stage,
    spec: ResolvedStage,
    marker: StageDir,
    stage_fp: str,
    context: RunContext,
    *,
    fresh: bool,
    keep: bool = False,
) -> StageRecord:
    ran_before = marker.done() is not None or marker.running_fingerprint() is not None
    context.resuming = marker.begin(stage_fp, fresh=fresh, keep=keep)
    if keep and ran_before and not context.resuming:
        logger.info("stage %s: settings changed; its entry point redoes only what the change touches", stage.name)
    # The stage's resolved config, as its own command takes it (owlcap train sft RUN_DIR/sft/config.yaml ...).
    data = spec.dump(spec.config) if spec.dump else spec.config.model_dump(mode="json")
    config = yaml.safe_dump(data, sort_keys=False)
    (marker.path / "config.yaml").write_text(config, encoding="utf-8")
    verb = "resuming (interrupted before)" if context.resuming else "running"
    logger.info("stage %s: %s: %s", stage.name, verb, stage.describe)
    started = time.time()
    finished = list(context.records)
    try:
        summary = stage.run(spec, context)
    except KeyboardInterrupt:
        logger.warning("interrupted during stage %s; run the same command again to continue", stage.name)
        raise
    except OwlcapError as exc:
        raise StageError(stage.name, spec.source, str(exc), finished) from exc
    except Exception as exc:  # noqa: BLE001 - a stage's unexpected failure is reported with its traceback in a file
        log = marker.path / "error.log"
        log.write_text(traceback.format_exc(), encoding="utf-8")
        cause = f"{type(exc).__name__}: {exc} (traceback in {log})"
        raise StageError(stage.name, spec.source, cause, finished) from exc
    ended = time.time()
    record = StageRecord(
        stage.name, stage_fp, started=started, finished=ended, seconds=ended - started,
        resumed=context.resuming, summary=summary,
    )  # fmt: skip
    marker.finish(record)
    logger.info("stage %s: done in %.1f s", stage.name, record.seconds)
    return record


def stage_fingerprint(
    spec: ResolvedStage, records: dict[str, StageRecord], base_fingerprint: str, run_dir: Path
) -> str:
    """Hash of what determines a stage's outputs: config, named files, upstream executions (and the base model).

    Paths inside the run directory are hashed relative to it, so a run directory moved or copied elsewhere (with
    ``--run_dir`` pointing at the new place) is still recognised as done.
    """
    config = json.dumps(spec.config.model_dump(mode="json"), sort_keys=True)
    parts = {
        "stage": spec.name,
        "config": config.replace(str(run_dir), "${run_dir}"),
        "inputs": file_fingerprints(spec.inputs, what=f"stage {spec.name}", where=spec.where),
        "upstream": {name: records[name].execution for name in spec.upstream},
        "extra": spec.extra,
    }
    if spec.extra.get("base_model"):
        parts["base_model"] = base_fingerprint
    return fingerprint(parts)


def ensure_base_model(section: BaseModelSection) -> str:
    """The base model's hub id or path; a tiny model is built there first when asked and missing (kill-safe: built
    beside it, then renamed into place)."""
    path = Path(section.name_or_path)
    if section.build_tiny is None or (path / "config.json").is_file():
        return section.name_or_path
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"model.name_or_path: {path} exists but holds no model; remove it or choose another path")
    from owlcap.models import build_tiny_model

    building = path.with_name(path.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    logger.info("building a tiny random %s model in %s (offline)", section.build_tiny, path)
    build_tiny_model(building, section.build_tiny)
    if path.exists():
        path.rmdir()
    os.replace(building, path)
    return section.name_or_path


def _model_fingerprint(name_or_path: str) -> str:
    if Path(name_or_path).is_dir():
        return file_fingerprints({"model.name_or_path": name_or_path}, what="the base model")["model.name_or_path"]
    return name_or_path  # a hub id: its name is all we know without downloading
