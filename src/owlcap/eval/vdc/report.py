"""VDC's report step: ``run.json`` completed, ``report.json`` (everything), the papers' table in ``report.md``
(Acc x100 / Score per dimension + average), a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.config import ReportConfig
from owlcap.eval.plots import grouped_bars, scaled, scaled_intervals
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.report import (
    EvalResult,
    Scores,
    benchmark_report,
    ci,
    num,
    pct,
    provenance_lines,
    publish,
    record_run,
    table,
)
from owlcap.eval.runner import Execution
from owlcap.eval.vdc.config import PRESETS, VDCEvalConfig, VDCScoring
from owlcap.eval.vdc.data import VDCData
from owlcap.eval.vdc.scoring import score

PARSE_FAILURES = ("unparsable", "missing_key", "bad_score")


def _calls(record: dict[str, Any]) -> list[dict[str, Any] | None]:
    return [call for q in record.get("questions", []) for call in (q.get("answer_call"), q.get("verdict_call"))]


def write_report(
    config: VDCEvalConfig,
    judged: Execution,
    scores: Scores,
    *,
    data: VDCData,
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
    scoring: VDCScoring,
    preset: str,
    settings: ReportConfig,
    *,
    scores: Scores | None = None,
) -> dict[str, Any]:
    """The whole report from the run header and the item records (no judge needed); ``scores`` when the score
    step has them, else scored here (re-scoring)."""
    scores = scores or score(records, scoring, settings)
    report = benchmark_report(
        "vdc",
        header,
        records,
        scores,
        scoring,
        preset,
        settings,
        official_scoring=PRESETS[preset]["scoring"],
        calls=_calls,
    )
    report["notes"] = _notes(header, report["results"], preset)
    return report


def _notes(header: dict[str, Any], results: dict[str, Any], preset: str) -> list[str]:
    notes = list(header.get("notes") or [])
    for name, values in results["dimensions"].items():
        if values.get("withheld"):
            notes.append(f"{name}: {values['withheld']}")
        failures = sum(values["verdicts"].get(kind, 0) for kind in PARSE_FAILURES)
        if preset == "lmms" and failures:
            notes.append(
                f"{name}: lmms-eval 0.7.3 would have crashed on {failures} unparsable or non-numeric verdict(s); "
                "owlcap applied on_parse_failure instead"
            )
    return notes


def markdown(report: dict[str, Any]) -> str:
    results = report["results"]
    rows = []
    for name, values in [*results["dimensions"].items(), ("average", results["average"])]:
        kept = f"{values['videos_kept']}/{values['videos']}" if "videos" in values else f"{values['dimensions']} dims"
        rows.append(
            [
                f"**{name}**" if name == "average" else name,
                pct(values["acc"]),
                num(values["score"]),
                ci(values.get("acc_ci")),
                ci(values.get("score_ci"), scale=1.0),
                kept,
                pct(values["micro_acc"]),
                num(values["micro_score"]),
            ]
        )
    level = round(100 * report.get("confidence", 0.95))
    header = [
        "dimension",
        "Acc",
        "Score",
        f"Acc {level}% CI",
        f"Score {level}% CI",
        "videos kept",
        "micro Acc",
        "micro Score",
    ]
    parts = ["# VDC (VDCscore)", "", *provenance_lines(report), "", table(header, rows), ""]
    parts.append(
        "Acc x100 and Score (0-5) as the papers print them: unweighted means over the kept videos of each video's "
        "mean (the official rule); micro = pooled over the same questions. The average is the unweighted mean of "
        "the dimensions (a convention; no official script computes it). Intervals: bootstrap over videos."
    )
    left_out = {n: v["videos_left_out"] for n, v in results["dimensions"].items() if v["videos_left_out"]}
    if left_out:
        parts += ["", "Videos left out: " + "; ".join(f"{n} {dict(v)}" for n, v in left_out.items())]
    if report.get("repeats"):
        spread = report["repeats"]["spread"]
        repeat_rows = [
            [name, pct(s["mean"]) if name.endswith("acc") else num(s["mean"]), _std(name, s)]
            for name, s in spread.items()
        ]
        parts += [
            "",
            f"## Judge noise over {report['repeats']['count']} repeats",
            "",
            table(["figure", "mean", "std"], repeat_rows),
        ]
    if report.get("notes"):
        parts += ["", "## Notes", "", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(parts) + "\n"


def _std(name: str, spread: dict[str, Any]) -> str:
    if spread["std"] is None:
        return "-"
    return pct(spread["std"]) if name.endswith("acc") else num(spread["std"], 3)


def plot(report: dict[str, Any], out: Path) -> list[Path]:
    results = report["results"]
    entries = [*results["dimensions"].items(), ("average", results["average"])]
    groups = [name for name, _ in entries]
    panels = [
        {
            "groups": groups,
            "series": {"Acc": scaled([v["acc"] for _, v in entries], 100)},
            "intervals": {"Acc": scaled_intervals([v.get("acc_ci") for _, v in entries], 100)},
            "ylabel": "Acc (x100)",
        },
        {
            "groups": groups,
            "series": {"Score": [v["score"] for _, v in entries]},
            "intervals": {"Score": [v.get("score_ci") for _, v in entries]},
            "ylabel": "Score (0-5)",
        },
    ]
    judge = (report.get("judge") or {}).get("model", "")
    return [grouped_bars(out / "vdc.png", panels, title=f"VDC, preset {report['preset']}, judge {judge}")]
