"""The report stage: one folder with report.json, report.md, PNG plots and a self-contained index.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from owlcap.run.report import collect, plots, render
from owlcap.run.resolve import PipelineSource
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage
from owlcap.run.stages.evaluate import SCORES

BEFORE_REPORT = ("data", "sft", "dpo", "grpo", "caption", "eval")


def resolve_report(source: PipelineSource, layout: Layout) -> ResolvedStage:
    present = [name for name in BEFORE_REPORT if getattr(source.config, name) is not None]
    return ResolvedStage("report", source.config.report, source.path, upstream=present)


def run_report(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    layout = context.layout
    out = layout.report_dir
    out.mkdir(parents=True, exist_ok=True)
    tiny = context.pipeline.config.model.build_tiny is not None
    report = collect.collect(layout, stage.upstream, stage.config.title, stage.config.caption_chars, tiny=tiny)
    images = draw(report, out)
    parts = render.sections(report, images)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render.markdown(report, parts), encoding="utf-8")
    page = report_page(layout)
    page.write_text(render.html_page(report, parts), encoding="utf-8")
    return {"html": str(page), "markdown": str(out / "report.md"), "json": str(out / "report.json")}


def report_page(layout: Layout) -> Path:
    """The self-contained HTML page of a run's report."""
    return layout.report_dir / "index.html"


def draw(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """The PNG plots the report's figures allow; returns ``{key: path}``."""
    images: dict[str, Path] = {}
    if (report.get("sft") or {}).get("loss"):
        images["sft_loss"] = plots.sft_loss(report["sft"]["loss"], out / "sft_loss.png")
    if (report.get("dpo") or {}).get("steps"):
        images["dpo"] = plots.dpo_curves(report["dpo"]["curves"], out / "dpo_curves.png")
    if (report.get("grpo") or {}).get("steps"):
        images["grpo"] = plots.grpo_curves(report["grpo"]["curves"], out / "grpo_rewards.png")
    changes = {
        name: report["stages"][name]["summary"]["weight_change"]
        for name in ("sft", "dpo", "grpo")
        if (report["stages"].get(name, {}).get("summary") or {}).get("weight_change")
    }
    if changes:
        images["weights"] = plots.weight_change(changes, out / "weight_change.png")
    cser = (report.get("eval") or {}).get("cser")
    if cser:
        images["eval"] = plots.eval_bars(cser["models"], SCORES, out / "eval.png")
    builds = (report.get("data") or {}).items()
    p_yes = {name: build["p_yes_histogram"] for name, build in builds if any(build.get("p_yes_histogram") or [])}
    if p_yes:
        images["data"] = plots.verdict_probabilities(p_yes, 0.5, out / "data_verdicts.png")
    for benchmark in BENCHMARK_METRICS:
        runs = (report.get("eval") or {}).get(benchmark)
        if runs:
            groups, panels = benchmark_panels(benchmark, runs)
            images[benchmark] = plots.benchmark_bars(panels, groups, out / f"{benchmark}.png")
    return images


_F1_RP = (("f1", "F1 (%)", 100), ("recall", "recall (%)", 100), ("precision", "precision (%)", 100))
BENCHMARK_METRICS = {"vdc": (("acc", "accuracy (%)", 100), ("score", "score (0-5)", 1)),
                     "dream1k": _F1_RP, "carebench": _F1_RP, "capability": _F1_RP}  # fmt: skip


def benchmark_panels(benchmark: str, runs: dict[str, Any]) -> tuple[list[str], list[tuple[str, dict]]]:
    """The plot's groups and one panel per metric: ``(title, {source: {group: value}})``."""
    groups = render.benchmark_groups(runs)
    panels = []
    for metric, label, scale in BENCHMARK_METRICS[benchmark]:
        values = {
            source: {g: _scaled(run["headline"].get(f"{g}.{metric}"), scale) for g in groups}
            for source, run in runs.items()
        }
        panels.append((f"{render.BENCHMARKS[benchmark][0]}: {label}", values))
    return groups, panels


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


REPORT = Stage("report", resolve_report, run_report, "report.md, report.json, plots and index.html")
