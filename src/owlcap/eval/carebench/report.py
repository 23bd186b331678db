"""The CaReBench report: ``report.json`` content, the official table (action and object F1 / recall / precision
x100), the breakdown by category, a plot, and the columns ``owlcap eval compare`` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.eval.carebench.config import ASPECTS, PRESETS, CareScoring
from owlcap.eval.carebench.scoring import CALLS, aggregate, headline
from owlcap.eval.config import ReportConfig
from owlcap.eval.plots import grouped_bars, scaled, scaled_intervals
from owlcap.eval.report import benchmark_report, ci, pct, provenance_lines, repeat_lines, table

METRICS = ("f1", "recall", "precision")
LABELS = {"events": "Action", "objects": "Object"}
"""The official table's names: events are its "Action" columns, objects its "Object" columns."""


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [(record.get(aspect) or {}).get(name) for aspect in ASPECTS for name in CALLS]


def build_report(
    header: dict[str, Any], records: list[dict[str, Any]], scoring: CareScoring, preset: str, settings: ReportConfig
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed)."""
    return benchmark_report(
        "carebench",
        header,
        records,
        scoring,
        preset,
        settings,
        official_scoring=PRESETS[preset]["scoring"],
        aggregate=aggregate,
        headline=headline,
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
