"""CaReBench's report step: ``run.json`` completed, ``report.json`` (everything), the official table in
``report.md`` (action and object F1 / recall / precision x100) with the breakdown by category, a plot, and the
columns ``owlcap eval compare`` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.carebench.config import ASPECTS, PRESETS, CareEvalConfig, CareScoring
from owlcap.eval.carebench.data import CareData
from owlcap.eval.carebench.scoring import CALLS, score
from owlcap.eval.config import ReportConfig
from owlcap.eval.plots import grouped_bars, scaled, scaled_intervals
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.report import (
    EvalResult,
    Scores,
    benchmark_report,
    ci,
    pct,
    provenance_lines,
    publish,
    record_run,
    repeat_lines,
    table,
)
from owlcap.eval.runner import Execution

METRICS = ("f1", "recall", "precision")
LABELS = {"events": "Action", "objects": "Object"}
"""The official table's names: events are its "Action" columns, objects its "Object" columns."""


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [(record.get(aspect) or {}).get(name) for aspect in ASPECTS for name in CALLS]


def write_report(
    config: CareEvalConfig,
    judged: Execution,
    scores: Scores,
    *,
    data: CareData,
    prompts: PromptSet,
    captions: LoadedCaptions,
) -> EvalResult:
    """Complete ``run.json`` with what the run was (judge, prompt set, captions, data notes), then write
    ``report.json``, ``report.md`` and the plot into ``config.out``."""
    official = PRESETS[config.preset]
    header = record_run(config, judged, official, prompts=prompts, captions=captions, data_notes=data.notes())
    report = build_report(header, judged.records, config.scoring, config.preset, config.report, scores=scores)
    return publish(config, judged, report, markdown(report), lambda out: plot(report, out))


def build_report(
    header: dict[str, Any],
    records: list[dict[str, Any]],
    scoring: CareScoring,
    preset: str,
    settings: ReportConfig,
    *,
    scores: Scores | None = None,
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed); ``scores`` when the score
    step has them, else scored here (re-scoring)."""
    return benchmark_report(
        "carebench",
        header,
        records,
        scores or score(records, scoring, settings),
        scoring,
        preset,
        settings,
        official_scoring=PRESETS[preset]["scoring"],
        calls=_calls,
    )


def _row(name: str, values: dict[str, Any], counts: dict[str, Any]) -> list[str]:
    cells = [name]
    for aspect in ASPECTS:
        cells += [pct(values[aspect][metric], 1) for metric in METRICS]
    return cells + [str(counts.get("success", 0)), str(counts.get("failed", 0))]


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    level = round(100 * report.get("confidence", 0.95))
    header = ["", *[f"{LABELS[a]} {m.upper() if m == 'f1' else m.capitalize()}" for a in ASPECTS for m in METRICS]]
    header += ["success", "failed"]
    parts = ["# CaReBench (CapST: actions and objects)", "", *provenance_lines(report), ""]
    parts.append(table(header, [_row("**OVERALL**", results, results["samples"])]))
    intervals = [f"{LABELS[a]} F1 {level}% CI {ci((results[a].get('ci') or {}).get('f1'), digits=1)}" for a in ASPECTS]
    parts += [
        "",
        "x100 with one decimal. Per aspect: the F1 of the mean recall and precision over the samples whose every "
        "judge call succeeded (the official code's single subtask, 'overall'). " + "; ".join(intervals) + ".",
    ]
    categories = results["categories"]
    if len(categories) > 1:
        rows = [_row(name, values, values) for name, values in categories.items()]
        parts += ["", "## By category (owlcap's breakdown, not official)", "", table(header, rows)]
    parts += repeat_lines(report)
    if report.get("notes"):
        parts += ["", "## Notes", "", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(parts) + "\n"


def plot(report: dict[str, Any], out: Path) -> list[Path]:
    results = report["results"]
    groups = [LABELS[aspect] for aspect in ASPECTS]
    series = {metric: scaled([results[a][metric] for a in ASPECTS], 100) for metric in METRICS}
    intervals = {
        metric: scaled_intervals([(results[a].get("ci") or {}).get(metric) for a in ASPECTS], 100) for metric in METRICS
    }
    panel = {"groups": groups, "series": series, "intervals": intervals, "ylabel": "x100"}
    judge = (report.get("judge") or {}).get("model", "")
    title = f"CaReBench, preset {report['preset']}, judge {judge}"
    return [grouped_bars(out / "carebench.png", [panel], title=title)]


def compare_columns(report: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """``owlcap eval compare``'s columns: (label, cell text, plotted value) per aspect."""
    results = report["results"]
    columns = []
    for aspect in ASPECTS:
        values = results[aspect]
        cell = f"{pct(values['f1'], 1)} / {pct(values['recall'], 1)} / {pct(values['precision'], 1)}"
        columns.append((f"{LABELS[aspect]} F1/R/P", cell, values["f1"]))
    return columns
