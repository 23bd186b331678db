"""The eval stage: score each captioner's captions with CSER against references, and on VDC and DREAM-1K.

``eval.cser`` scores every caption of ``RUN_DIR/caption/<model>.jsonl`` against the reference caption with the same
id (``owlcap.reward.CSER`` on the configured judge, plus the length reward), one line per (model, video) in
``RUN_DIR/eval/cser_items.jsonl`` and the means per model in the stage summary. A judge failure is never a 0: the
item is marked failed with its cause, left out of the means and counted.

``eval.vdc`` / ``eval.dream1k`` run the benchmark evaluators (``owlcap.run.stages.benchmarks``); an evaluation
with failed judge calls or missing captions fails the stage like a CSER judge failure does, unless allowed.
"""

from __future__ import annotations

import logging
from statistics import mean
from typing import Any

from owlcap.errors import DataError, JudgeError
from owlcap.jsonl import JsonlWriter, iter_jsonl
from owlcap.run.config import CSEREvalSection
from owlcap.run.resolve import PipelineSource
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage

logger = logging.getLogger(__name__)

SCORES = ("correctness", "completeness", "cser", "length_reward", "reward")


def resolve_eval(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.run.stages import benchmarks
    from owlcap.run.stages.caption import served_models

    section = source.config.eval
    inputs = {"eval.cser.references": section.cser.references} if section.cser else {}
    runs: dict[str, Any] = {}
    models: set[str] = set()
    for name, bench in section.benchmarks().items():
        runs[name] = benchmarks.resolve_benchmark(name, bench, source, layout)
        inputs |= benchmarks.benchmark_inputs(name, bench, runs[name])
        models |= set(bench.models)
    plan = benchmarks.EvalPlan(cser=section.cser, **runs)
    upstream = ["caption"] if section.cser else []
    upstream += [name for name in ("sft", "grpo") if name in models]
    extra = {"base_model": "base" in models, "servers": served_models(source, sorted(models))}
    return ResolvedStage("eval", plan, source.path, inputs=inputs, upstream=upstream, extra=extra, origin=source.origin)


def run_eval(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.run.stages.benchmarks import run_benchmark

    summary: dict[str, Any] = {}
    plan = stage.config
    if plan.cser is not None:
        files = {name: context.layout.captions(name) for name in context.pipeline.config.caption.models}
        summary["cser"] = score_cser(plan.cser, files, context)
    problems: list[str] = []
    allowed: list[str] = []
    for name, section in context.pipeline.config.eval.benchmarks().items():
        summary[name], found = run_benchmark(name, getattr(plan, name), section, context)
        (allowed if section.allow_incomplete else problems).extend(found)
    if allowed:
        logger.warning("incomplete evaluations (allowed):\n  %s", "\n  ".join(allowed))
    if problems:
        raise DataError(
            context.layout.eval_dir,
            f"{len(problems)} evaluation problem(s) (a re-run judges again only what failed; eval.<benchmark>."
            "allow_incomplete: true reports them and goes on):\n  " + "\n  ".join(problems[:20]),
        )
    return summary


def score_cser(section: CSEREvalSection, caption_files: dict, context: RunContext) -> dict[str, Any]:
    """Score each model's captions against the references; returns the per-model means and counts."""
    from owlcap.reward import CSER, count_words, length_reward

    references = read_references(section.references)
    cser = CSER(section.judge, section.cser, section.llm)
    out = context.layout.eval_dir / "cser_items.jsonl"
    out.unlink(missing_ok=True)  # the stage reruns whole: scoring is cheap next to captioning
    per_model: dict[str, Any] = {}
    failures: list[str] = []
    with JsonlWriter(out) as writer:
        for model, path in caption_files.items():
            captions = read_captions(path)
            ids = [item_id for item_id in captions if item_id in references]
            unmatched = sorted(set(captions) - set(ids))
            if unmatched:
                logger.warning("%s: %d caption(s) have no reference: %s", model, len(unmatched), unmatched[:5])
            results = cser.score_batch_sync([captions[i] for i in ids], [references[i] for i in ids])
            rows = []
            for item_id, result in zip(ids, results, strict=True):
                words = count_words(captions[item_id])
                row = {"model": model, "id": item_id, "words": words, "failed": result.failed, "error": result.error}
                if not result.failed:
                    bonus = length_reward(captions[item_id], section.length)
                    row |= {"correctness": result.correctness, "completeness": result.completeness}
                    row |= {"cser": result.cser, "length_reward": bonus, "reward": result.reward + bonus}
                writer.write(row)
                rows.append(row)
            per_model[model] = _means(rows) | {"unmatched": len(unmatched)}
            failures += [f"{model}: {row['id']}: {row['error']}" for row in rows if row["failed"]]
    if failures and not section.allow_failures:
        listed = "\n  ".join(failures[:10])
        raise JudgeError(
            f"eval.cser: judge {cser.judge.name} could not score {len(failures)} caption(s) after its retries "
            f"(each is in {out}; eval.cser.allow_failures: true reports them and goes on):\n  {listed}"
        )
    return {"judge": cser.judge.name, "references": section.references, "items": str(out), "models": per_model}


def _means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [row for row in rows if not row["failed"]]
    means = {name: mean(row[name] for row in scored) if scored else None for name in SCORES}
    words = mean(row["words"] for row in rows) if rows else None
    return means | {"words": words, "scored": len(scored), "failed": len(rows) - len(scored)}


def read_references(path: str) -> dict[str, str]:
    """``{id: caption}`` from HMD records or SFT conversations; bad lines are reported and skipped."""
    from owlcap.data.records import read_caption_examples

    examples, errors = read_caption_examples(path, check_files=False)
    for error in errors[:5]:
        logger.warning("eval.cser.references: skipped %s", error)
    if not examples:
        raise DataError(path, "eval.cser.references: no usable reference captions")
    return {example.id: example.caption for example in examples}


def read_captions(path) -> dict[str, str]:
    """``{id: caption}`` of a caption file; the last good line of an id wins (a retried video appends a line)."""
    captions: dict[str, str] = {}
    for line in iter_jsonl(path):
        record = line.record
        if record is not None and not record.get("error") and isinstance(record.get("caption"), str):
            captions[str(record["id"])] = record["caption"]
    return captions


EVAL = Stage(
    "eval",
    resolve_eval,
    run_eval,
    "score the captions: CSER vs the references and the benchmarks (VDC, DREAM-1K, CaReBench, CAPability)",
)
