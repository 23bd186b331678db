"""The benchmarks inside the eval stage (VDC, DREAM-1K, CaReBench, CAPability), each through its evaluator's own
entry point.

An ``eval.<benchmark>`` section names the evaluator's run config (``configs/eval/*.yaml`` or inline, as
``owlcap eval <benchmark>`` takes it). One evaluation runs per caption source, into
``RUN_DIR/eval/<benchmark>/<source>/`` (``owlcap.eval.evaluate_<benchmark>``, found through
``owlcap.eval.registry``, which resume on their own from ``items.jsonl``):

- ``captions`` / ``captioning``: the config's own caption file, or its own captioning model;
- each pipeline model in ``models`` (``base``, ``sft``, ``grpo``): the config's captioning section with
  ``captioning.model`` set by the pipeline (the model the stage saved, or its server from ``servers``);
- ``references`` (DREAM-1K and CaReBench, ``reference_captions``): each sample's reference caption judged as its
  prediction, the ceiling the judge gives a perfect caption.

``stand_in_videos`` caption other videos in the benchmark videos' place (each benchmark id takes the next one in
turn), for demos where the benchmark's videos are not at hand: every part runs, the scores say nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from itertools import cycle
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SerializeAsAny

from owlcap.errors import ConfigError, DataError
from owlcap.run.config import CAPTIONERS, BenchmarkSection, CSEREvalSection
from owlcap.run.resolve import PipelineSource, own_fields, stage_source, validate_stage
from owlcap.run.stages.base import Layout, RunContext

STAND_IN_MANIFEST = "stand_in_videos.jsonl"
REFERENCE_CAPTIONS = "reference_captions.jsonl"


class EvalPlan(BaseModel):
    """The eval stage's resolved config: CSER's section and every benchmark evaluation's own validated config."""

    model_config = ConfigDict(extra="forbid")

    cser: CSEREvalSection | None = None
    vdc: dict[str, SerializeAsAny[BaseModel]] = {}
    dream1k: dict[str, SerializeAsAny[BaseModel]] = {}
    carebench: dict[str, SerializeAsAny[BaseModel]] = {}
    capability: dict[str, SerializeAsAny[BaseModel]] = {}


def _config_model(benchmark: str) -> type[BaseModel]:
    from owlcap.eval.registry import benchmark as registered

    return registered(benchmark).config_model()


def caption_sources(benchmark: str, section: BenchmarkSection, config: dict[str, Any]) -> list[str]:
    """The evaluations a benchmark section asks for, by caption source name."""
    sources = []
    if "captions" in config:
        sources.append("captions")
    elif "captioning" in config and not section.models:
        sources.append("captioning")
    sources += section.models
    if section.reference_captions:
        sources.append("references")
    if not sources:
        raise ConfigError(
            f"stage eval: eval.{benchmark}: nothing to evaluate: give its config captions or captioning, or list "
            "models, or (DREAM-1K, CaReBench) reference_captions: true"
        )
    return sources


def resolve_benchmark(
    benchmark: str, section: BenchmarkSection, source: PipelineSource, layout: Layout
) -> dict[str, BaseModel]:
    """``{caption source: validated evaluator config}`` for one benchmark section."""
    stage = stage_source(source, f"eval.{benchmark}", section, layout.run_dir)
    runs: dict[str, BaseModel] = {}
    for name in caption_sources(benchmark, section, stage.data):
        one = dataclasses.replace(stage, data=copy.deepcopy(stage.data))
        owned: dict[str, Any] = {"out": str(layout.benchmark_run(benchmark, name))}
        if name in CAPTIONERS:
            one.data.pop("captions", None)
            owned["captioning.model"] = resolve_time_captioner(name, source, layout)
            if section.stand_in_videos:
                owned["captioning.videos"] = str(layout.benchmark_run(benchmark, STAND_IN_MANIFEST))
        elif name == "references":
            one.data.pop("captioning", None)
            one.data.pop("captions", None)
            owned["captions.path"] = str(layout.benchmark_run(benchmark, REFERENCE_CAPTIONS))
        own_fields(one, owned)
        runs[name] = validate_stage(_config_model(benchmark), one)
    return runs


def resolve_time_captioner(name: str, source: PipelineSource, layout: Layout) -> str:
    """The captioner a benchmark run names before the training stages ran (replaced by the saved model's path,
    or its server, when the evaluation runs)."""
    if name in source.config.servers:
        return source.config.servers[name]
    trained = {"sft": layout.sft_model, "dpo": layout.dpo_model, "grpo": layout.grpo_model}
    return source.config.model.name_or_path if name == "base" else str(trained[name])


def benchmark_inputs(benchmark: str, section: BenchmarkSection, runs: dict[str, BaseModel]) -> dict[str, str]:
    """The files the evaluations read (fingerprinted and checked before anything runs)."""
    prefix = f"eval.{benchmark}.config"
    first = next(iter(runs.values()))
    inputs = {f"{prefix}.qa_dir": str(first.qa_dir)} if benchmark == "vdc" else {}
    if benchmark != "vdc":
        inputs[f"{prefix}.annotations"] = str(first.annotations)
    if "captions" in runs:
        inputs[f"{prefix}.captions.path"] = str(runs["captions"].captions.path)
    captioning = [config.captioning for config in runs.values() if config.captioning is not None]
    if captioning and not section.stand_in_videos:
        inputs[f"{prefix}.captioning.videos"] = str(captioning[0].videos)
    stand_ins = enumerate(section.stand_in_videos)
    inputs |= {f"eval.{benchmark}.stand_in_videos[{i}]": path for i, path in stand_ins}
    return inputs


def run_benchmark(
    benchmark: str, runs: dict[str, BaseModel], section: BenchmarkSection, context: RunContext
) -> tuple[dict[str, Any], list[str]]:
    """Run each evaluation of one benchmark; returns the per-source figures and the problems of incomplete ones."""
    from owlcap.eval.registry import benchmark as registered
    from owlcap.run.stages.caption import captioner_spec

    evaluate = registered(benchmark).evaluate
    summary: dict[str, Any] = {}
    problems: list[str] = []
    for name, config in runs.items():
        if name in CAPTIONERS:
            captioning = config.captioning.model_copy(update={"model": captioner_spec(name, context)})
            config = config.model_copy(update={"captioning": captioning})
            if section.stand_in_videos:
                write_stand_in_manifest(benchmark, config, section.stand_in_videos, Path(captioning.videos))
        elif name == "references":
            write_reference_captions(benchmark, config, Path(config.captions.path))
        result = evaluate(config)
        summary[name] = describe(result, stand_in=bool(section.stand_in_videos) and name in CAPTIONERS)
        problems += [f"eval.{benchmark} ({name}): {problem}" for problem in result.problems]
    return summary, problems


def benchmark_ids(benchmark: str, config: Any) -> list[str]:
    """The benchmark's video ids the evaluation covers (the first ``limit``), in order: the ids its captioning
    step looks its videos up by."""
    if benchmark == "vdc":
        from owlcap.eval.vdc.data import load

        data = load(config.qa_dir, config.dimensions, duplicate_keys=config.duplicate_keys)
        ids = data.video_ids()
    elif benchmark == "capability":
        from owlcap.eval.capability.data import load

        data = load(config.annotations, config.dimensions)
        chosen = [r for records in data.tasks.values() for r in (records[: config.limit] if config.limit else records)]
        return list(dict.fromkeys(record.video_id for record in chosen))
    else:
        ids = [item.id for item in _reference_items(benchmark, config)]
    return ids[: config.limit] if config.limit else ids


def _reference_items(benchmark: str, config: Any) -> list[Any]:
    """DREAM-1K's or CaReBench's items (each with an ``id`` and its reference caption)."""
    if benchmark == "carebench":
        from owlcap.eval.carebench.data import load as load_care

        return load_care(config.annotations).items
    from owlcap.eval.dream1k.data import load

    return load(config.annotations, dataset_prefix=config.dataset_prefix, duplicate_ids=config.duplicate_ids).items


def write_stand_in_manifest(benchmark: str, config: Any, videos: list[str], path: Path) -> None:
    """A manifest giving each benchmark id the next stand-in video in turn (``captioning.videos`` reads it)."""
    from owlcap.data.sources import collect_videos

    items, _ = collect_videos(videos)
    if not items:
        raise DataError(", ".join(videos), f"eval.{benchmark}.stand_in_videos: no videos found")
    lines = [{"id": bench_id, "video": str(Path(item.video).resolve())} for bench_id, item in zip(
        benchmark_ids(benchmark, config), cycle(items), strict=False
    )]  # fmt: skip
    _write_jsonl(path, lines)


def write_reference_captions(benchmark: str, config: Any, path: Path) -> None:
    """Each DREAM-1K or CaReBench sample's reference caption as its prediction."""
    items = _reference_items(benchmark, config)
    _write_jsonl(path, [{"id": item.id, "caption": item.reference} for item in items])


def _write_jsonl(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")


def describe(result: Any, *, stand_in: bool) -> dict[str, Any]:
    """One evaluation's figures for the stage summary and the report."""
    report = result.report
    plots = [str(result.out / name) for name in report.get("plots") or []]
    return {
        "out": str(result.out),
        "complete": result.complete,
        "problems": result.problems,
        "headline": report.get("headline", {}),
        "counts": report.get("counts", {}),
        "judge": (report.get("judge") or {}).get("spec"),
        "preset": report.get("preset"),
        "prompts": (report.get("prompts") or {}).get("name"),
        "notes": report.get("notes", []),
        "plots": plots,
        "stand_in_videos": stand_in,
    }
