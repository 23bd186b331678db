"""The DREAM-1K report: ``report.json`` content, Tarsier's table (F1 / recall / precision x100), buckets, a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.eval.config import ReportConfig, deviations
from owlcap.eval.dream1k.config import PRESETS, DreamScoring
from owlcap.eval.dream1k.scoring import CALLS, aggregate, headline
from owlcap.eval.plots import grouped_bars, scaled, scaled_intervals
from owlcap.eval.report import ci, item_counts, now, pct, provenance_lines, repeat_spread, table, version

METRICS = ("f1", "recall", "precision")


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [record.get(name) for name in CALLS]


def build_report(
    header: dict[str, Any], records: list[dict[str, Any]], scoring: DreamScoring, preset: str, settings: ReportConfig
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed)."""
    repeats = sorted({record.get("repeat", 0) for record in records}) or [0]
    by_repeat = {k: [r for r in records if r.get("repeat", 0) == k] for k in repeats}
    results = aggregate(
        by_repeat[repeats[0]],
        scoring,
        bootstrap_samples=settings.bootstrap_samples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    scoring_values = scoring.model_dump()
    report: dict[str, Any] = {
        "benchmark": "dream1k",
        "preset": preset,
        "created": now(),
        "owlcap_version": version(),
        "judge": header.get("judge"),
        "prompts": header.get("prompts"),
        "captions": header.get("captions"),
        "protocol": header.get("protocol"),
        "scoring": scoring_values,
        "deviations_from_preset": deviations(scoring_values, PRESETS[preset]["scoring"], "scoring.")
        | (header.get("judge_deviations") or {}),
        "confidence": settings.confidence,
        "bootstrap_samples": settings.bootstrap_samples,
        "data": header.get("data"),
        "results": results,
        "headline": headline(results),
        "counts": item_counts(by_repeat[repeats[0]], _calls),
        "last_run": header.get("last_run"),
        "notes": list(header.get("notes") or []),
    }
    if len(repeats) > 1:
        headlines = [headline(aggregate(by_repeat[k], scoring)) for k in repeats]
        report["repeats"] = {"count": len(repeats), "spread": repeat_spread(headlines)}
    return report


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
