"""DREAM-1K's report step: ``run.json`` completed, ``report.json`` (everything), Tarsier's table in ``report.md``
(F1 / recall / precision x100) with its buckets, a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.config import ReportConfig
from owlcap.eval.dream1k.config import PRESETS, DreamEvalConfig, DreamScoring
from owlcap.eval.dream1k.data import DreamData
from owlcap.eval.dream1k.scoring import CALLS, score
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
    table,
)
from owlcap.eval.runner import Execution

METRICS = ("f1", "recall", "precision")


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [record.get(name) for name in CALLS]


def write_report(
    config: DreamEvalConfig,
    judged: Execution,
    scores: Scores,
    *,
    data: DreamData,
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
    scoring: DreamScoring,
    preset: str,
    settings: ReportConfig,
    *,
    scores: Scores | None = None,
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed); ``scores`` when the score
    step has them, else scored here (re-scoring)."""
    return benchmark_report(
        "dream1k",
        header,
        records,
        scores or score(records, scoring, settings),
        scoring,
        preset,
        settings,
        official_scoring=PRESETS[preset]["scoring"],
        calls=_calls,
    )


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    level = round(100 * report.get("confidence", 0.95))
    rows = []
    for name, values in [*results["categories"].items(), ("OVERALL", results["overall"])]:
        intervals = values.get("ci") or {}
        rows.append(
            [
                f"**{name}**" if name == "OVERALL" else name,
                pct(values["f1"], 1),
                pct(values["recall"], 1),
                pct(values["precision"], 1),
                ci(intervals.get("f1"), digits=1),
                str(values["success"]),
                str(values["failed"]),
            ]
        )
    header = ["category", "F1", "Recall", "Precision", f"F1 {level}% CI", "success", "failed"]
    overall = results["overall"]
    parts = ["# DREAM-1K (AutoDQ)", "", *provenance_lines(report), "", table(header, rows), ""]
    parts.append(
        "x100 with one decimal, as the papers print them. Per category: F1 of the mean recall and precision; "
        "OVERALL: "
        + ("mean over categories (official macro)" if report["scoring"]["overall_mode"] == "macro" else "pooled")
        + f". Macro F1 {pct(overall['macro']['f1'], 1)}, micro (pooled over samples) F1 "
        f"{pct(overall['micro']['f1'], 1)}. Intervals: bootstrap within categories."
    )
    for name, table_values in results["buckets"].items():
        labels = list(table_values)
        bucket_rows = [[metric] + [pct(table_values[label][metric], 1) for label in labels] for metric in METRICS]
        bucket_rows.append(["count"] + [str(table_values[label]["count"]) for label in labels])
        parts += ["", f"## By n_{name}", "", table(["", *labels], bucket_rows)]
    if report.get("repeats"):
        spread = report["repeats"]["spread"]
        repeat_rows = [[name, pct(s["mean"], 1), pct(s["std"], 2)] for name, s in spread.items()]
        parts += [
            "",
            f"## Judge noise over {report['repeats']['count']} repeats",
            "",
            table(["figure", "mean", "std"], repeat_rows),
        ]
    if report.get("notes"):
        parts += ["", "## Notes", "", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(parts) + "\n"


def plot(report: dict[str, Any], out: Path) -> list[Path]:
    results = report["results"]
    entries = [*results["categories"].items(), ("OVERALL", results["overall"])]
    groups = [name.split("/")[-1] for name, _ in entries]
    series = {metric: scaled([v[metric] for _, v in entries], 100) for metric in METRICS}
    intervals = {
        metric: scaled_intervals([(v.get("ci") or {}).get(metric) for _, v in entries], 100) for metric in METRICS
    }
    panel = {"groups": groups, "series": series, "intervals": intervals, "ylabel": "x100"}
    judge = (report.get("judge") or {}).get("model", "")
    return [grouped_bars(out / "dream1k.png", [panel], title=f"DREAM-1K, preset {report['preset']}, judge {judge}")]
