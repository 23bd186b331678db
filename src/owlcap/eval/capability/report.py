"""CAPability's report step: ``run.json`` completed, ``report.json`` (everything), the official per-dimension table
in ``report.md`` (precision, recall, F1, hit rate x100) and the average over dimensions, a plot, and the columns
``owlcap eval compare`` shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.capability.config import PRESETS, CapEvalConfig, CapScoring
from owlcap.eval.capability.data import CapData
from owlcap.eval.capability.scoring import METRICS, score
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

AVERAGES = (("average", "**average**"), ("video_average", "video average"), ("image_average", "image average"))


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return list(record.get("calls") or [])


def write_report(
    config: CapEvalConfig,
    judged: Execution,
    scores: Scores,
    *,
    data: CapData,
    prompts: PromptSet,
    captions: LoadedCaptions,
) -> EvalResult:
    """Complete ``run.json`` with what the run was (judge, retry rounds, prompt set, captions, data notes), then
    write ``report.json``, ``report.md`` and the plot into ``config.out``."""
    official = PRESETS[config.preset]
    notes = data.notes() | {"retry": config.retry.model_dump()}
    header = record_run(config, judged, official, prompts=prompts, captions=captions, data_notes=notes)
    report = build_report(header, judged.records, config.scoring, config.preset, config.report, scores=scores)
    return publish(config, judged, report, markdown(report), lambda out: plot(report, out))


def build_report(
    header: dict[str, Any],
    records: list[dict[str, Any]],
    scoring: CapScoring,
    preset: str,
    settings: ReportConfig,
    *,
    scores: Scores | None = None,
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed); ``scores`` when the score
    step has them, else scored here (re-scoring). Files the official rounds left out are counted and noted."""
    report = benchmark_report(
        "capability",
        header,
        records,
        scores or score(records, scoring, settings),
        scoring,
        preset,
        settings,
        official_scoring=PRESETS[preset]["scoring"],
        calls=_calls,
    )
    statuses: dict[str, int] = {}
    for record in records:
        if record.get("repeat", 0) == 0 and record.get("status") == "skipped":
            statuses["skipped"] = statuses.get("skipped", 0) + 1
    report["counts"]["skipped"] = statuses.get("skipped", 0)
    for name, values in report["results"]["dimensions"].items():
        if values.get("withheld"):
            report["notes"].append(f"{name}: {values['withheld']}")
    if report["counts"]["skipped"]:
        report["notes"].append(
            f"{report['counts']['skipped']} file(s) left unjudged by the official retry rule (max_allow_missing "
            f"{(header.get('data') or {}).get('retry', {}).get('max_allow_missing')}): they are not in the numbers"
        )
    return report


def _row(name: str, values: dict[str, Any] | None, level: int) -> list[str]:
    if values is None:
        return [name] + ["-"] * 7
    intervals = values.get("ci") or {}
    files = f"{values['files_scored']}/{values['files']}" if "files" in values else str(values.get("dimensions", ""))
    return [name, *[pct(values.get(m), 1) for m in METRICS], ci(intervals.get("f1"), digits=1), files, ""]


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    level = round(100 * report.get("confidence", 0.95))
    rows = []
    for name, values in results["dimensions"].items():
        row = _row(name, values, level)
        row[-1] = ", ".join(f"{k} {v}" for k, v in values["left_out"].items())
        rows.append(row)
    for key, label in AVERAGES:
        if key in results:
            rows.append(_row(label, results[key], level))
    header = ["dimension", "Precision", "Recall", "F1", "Hit rate", f"F1 {level}% CI", "files scored", "left out"]
    parts = ["# CAPability", "", *provenance_lines(report), "", table(header, rows), ""]
    parts.append(
        "x100 with one decimal. Per dimension over all scores (1 correct, -1 wrong, 0 not mentioned): precision "
        "= correct / (correct + wrong), recall = correct / all, hit rate = (correct + wrong) / all, F1 of precision "
        "and recall. Averages: the unweighted mean over dimensions (the official summary). Intervals: bootstrap "
        "over files within each dimension."
    )
    parts += repeat_lines(report)
    if report.get("notes"):
        parts += ["", "## Notes", "", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(parts) + "\n"


def plot(report: dict[str, Any], out: Path) -> list[Path]:
    results = report["results"]
    entries = [*results["dimensions"].items(), ("average", results["average"] or {})]
    metrics = ("precision", "recall", "f1")
    series = {m: scaled([v.get(m) for _, v in entries], 100) for m in metrics}
    intervals = {m: scaled_intervals([(v.get("ci") or {}).get(m) for _, v in entries], 100) for m in metrics}
    panel = {"groups": [name for name, _ in entries], "series": series, "intervals": intervals, "ylabel": "x100"}
    judge = (report.get("judge") or {}).get("model", "")
    title = f"CAPability, preset {report['preset']}, judge {judge}"
    return [grouped_bars(out / "capability.png", [panel], title=title)]


def compare_columns(report: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    """``owlcap eval compare``'s columns: (label, cell text, plotted value): F1 per dimension, then the average."""
    results = report["results"]
    columns = [
        (f"{name} F1", pct(values.get("f1"), 1), values.get("f1")) for name, values in results["dimensions"].items()
    ]
    average = results.get("average") or {}
    cell = f"{pct(average.get('f1'), 1)} / {pct(average.get('precision'), 1)} / {pct(average.get('recall'), 1)}"
    return [*columns, ("average F1/P/R", cell, average.get("f1"))]
