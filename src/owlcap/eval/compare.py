"""``compare_runs``: several runs of one benchmark side by side, in one table and one plot.

Runs are comparable only when the same judge (model and sampling), the same prompt set and the same scoring rules
made them: the table marks every run that differs from the first on any of these, so a "better" number that comes
from a different judge is never read as a better captioner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from owlcap.errors import DataError
from owlcap.eval.plots import grouped_bars, scaled
from owlcap.eval.registry import BENCHMARKS
from owlcap.eval.report import REPORT_JSON, num, pct, table

_JUDGE_KEYS = ("model", "temperature", "top_p", "max_tokens", "parse_attempts")


def _load(run: Path) -> dict[str, Any]:
    path = run / REPORT_JSON if run.is_dir() else run
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a readable owlcap report ({exc}); run `owlcap eval report` on the folder") from exc


def _labels(runs: list[Path]) -> list[str]:
    names = [run.name if run.is_dir() else run.parent.name for run in runs]
    if len(set(names)) == len(names):
        return names
    return [str(run) for run in runs]


def _flags(reference: dict[str, Any], report: dict[str, Any]) -> list[str]:
    flags = []
    judge, first = report.get("judge") or {}, reference.get("judge") or {}
    changed = [key for key in _JUDGE_KEYS if judge.get(key) != first.get(key)]
    if changed:
        flags.append("judge differs (" + ", ".join(f"{k}={judge.get(k)}" for k in changed) + ")")
    if (report.get("prompts") or {}).get("sha256") != (reference.get("prompts") or {}).get("sha256"):
        flags.append(f"prompt set differs ({(report.get('prompts') or {}).get('name')})")
    if report.get("preset") != reference.get("preset") or report.get("scoring") != reference.get("scoring"):
        flags.append(f"scoring differs (preset {report.get('preset')})")
    if (report.get("counts") or {}).get("items") != (reference.get("counts") or {}).get("items"):
        flags.append(f"{(report.get('counts') or {}).get('items')} items")
    return flags


def _own_columns(report: dict[str, Any]) -> list[tuple[str, str, float | None]] | None:
    """The columns a benchmark's report module defines (``compare_columns``: label, cell, plotted value), if any."""
    entry = BENCHMARKS.get(report.get("benchmark"))
    columns = getattr(entry.module("report"), "compare_columns", None) if entry else None
    return columns(report) if columns is not None else None


def _columns(report: dict[str, Any]) -> list[tuple[str, str]]:
    results = report["results"]
    if (own := _own_columns(report)) is not None:
        return [(label, label) for label, _, _ in own]
    if report["benchmark"] == "vdc":
        names = [*results["dimensions"], "average"]
        return [(name, f"{name} Acc/Score") for name in names]
    return [(name, name.split("/")[-1] + " F1") for name in results["categories"]] + [("OVERALL", "OVERALL F1/R/P")]


def _cell(report: dict[str, Any], name: str) -> str:
    results = report["results"]
    if (own := _own_columns(report)) is not None:
        return next((cell for label, cell, _ in own if label == name), "-")
    if report["benchmark"] == "vdc":
        values = results["average"] if name == "average" else results["dimensions"].get(name)
        return "-" if values is None else f"{pct(values['acc'])} / {num(values['score'])}"
    if name == "OVERALL":
        o = results["overall"]
        return f"{pct(o['f1'], 1)} / {pct(o['recall'], 1)} / {pct(o['precision'], 1)}"
    values = results["categories"].get(name)
    return "-" if values is None else pct(values["f1"], 1)


def _value(report: dict[str, Any], name: str) -> float | None:
    results = report["results"]
    if (own := _own_columns(report)) is not None:
        return next((value for label, _, value in own if label == name), None)
    if report["benchmark"] == "vdc":
        values = results["average"] if name == "average" else results["dimensions"].get(name)
        return None if values is None else values["acc"]
    values = results["overall"] if name == "OVERALL" else results["categories"].get(name)
    return None if values is None else values["f1"]


def compare_runs(runs: list[str | Path], out: str | Path | None = None) -> dict[str, Any]:
    """Compare run folders (or report.json files) of one benchmark; write compare.md/.json/.png into ``out``."""
    paths = [Path(run) for run in runs]
    if len(paths) < 1:
        raise DataError(".", "give at least one run folder")
    reports = [_load(path) for path in paths]
    benchmarks = {report.get("benchmark") for report in reports}
    if len(benchmarks) != 1:
        raise DataError(paths[0], f"runs of different benchmarks ({', '.join(map(str, benchmarks))}) do not compare")
    labels = _labels(paths)
    columns = _columns(reports[0])
    rows, flagged = [], {}
    for label, report in zip(labels, reports, strict=True):
        flags = _flags(reports[0], report)
        if flags:
            flagged[label] = flags
        rows.append([label + (" (!)" if flags else ""), *[_cell(report, name) for name, _ in columns]])
    markdown_lines = [f"# {reports[0]['benchmark']} runs compared", "", table(["run", *[c for _, c in columns]], rows)]
    if flagged:
        markdown_lines += ["", "(!) not comparable with the first run:"]
        markdown_lines += [f"- {label}: {'; '.join(flags)}" for label, flags in flagged.items()]
    comparison = {
        "benchmark": reports[0]["benchmark"],
        "runs": {label: str(path) for label, path in zip(labels, paths, strict=True)},
        "values": {
            label: {name: _value(report, name) for name, _ in columns}
            for label, report in zip(labels, reports, strict=True)
        },
        "flags": flagged,
        "markdown": "\n".join(markdown_lines) + "\n",
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(comparison["markdown"], encoding="utf-8")
        metric = "Acc (x100)" if comparison["benchmark"] == "vdc" else "F1 (x100)"
        panel = {
            "groups": [name.split("/")[-1].split(" ")[0] for name, _ in columns],
            "series": {label: scaled(list(comparison["values"][label].values()), 100) for label in labels},
            "ylabel": metric,
        }
        grouped_bars(out / "compare.png", [panel], title=f"{comparison['benchmark']}: {len(labels)} runs")
        (out / "compare.json").write_text(json.dumps(comparison, indent=2, ensure_ascii=False), encoding="utf-8")
    return comparison
