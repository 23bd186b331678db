"""The parts of a report every benchmark shares: counts, judge-noise spread, notes, and writing the files.

A report is ``report.json`` (everything: the numbers, their intervals, the judge, prompt set, captions, every
switch and how it differs from the preset, counts and cost), ``report.md`` (the papers' table) and PNG plots.
It is built from ``items.jsonl`` and ``run.json`` alone, so ``owlcap eval report`` rebuilds it without a judge.
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlcap.eval.runs import write_json

REPORT_JSON, REPORT_MD = "report.json", "report.md"


@dataclass
class EvalResult:
    """What an evaluation returns: the folder, the report, and whether every item was judged without failure."""

    out: Path
    report: dict[str, Any]
    complete: bool
    problems: list[str] = field(default_factory=list)

    @property
    def report_path(self) -> Path:
        return self.out / REPORT_JSON


def version() -> str:
    try:
        from importlib.metadata import version as package_version

        return package_version("owlcap")
    except Exception:  # noqa: BLE001 - not installed (source checkout): say so rather than fail a report
        return "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def item_counts(records: list[dict[str, Any]], calls: Callable[[dict[str, Any]], list[dict[str, Any] | None]]) -> dict:
    """Items by status, failed calls by kind and calls that took more than one answer (resampled)."""
    statuses = Counter(record.get("status") for record in records)
    failed_calls: Counter = Counter()
    resampled = 0
    for record in records:
        for call in calls(record):
            if call is None:
                continue
            if call.get("error_kind"):
                failed_calls[call["error_kind"]] += 1
            if (call.get("attempts") or 0) > 1:
                resampled += 1
    return {
        "items": len(records),
        "judged": statuses.get("judged", 0),
        "failed": statuses.get("failed", 0),
        "no_caption": statuses.get("no_caption", 0),
        "failed_calls": dict(failed_calls),
        "resampled_calls": resampled,
    }


def benchmark_report(
    benchmark: str,
    header: dict[str, Any],
    records: list[dict[str, Any]],
    scoring: Any,
    preset: str,
    settings: Any,
    *,
    official_scoring: dict[str, Any],
    aggregate: Callable[..., dict[str, Any]],
    headline: Callable[[dict[str, Any]], dict[str, float | None]],
    calls: Callable[[dict[str, Any]], list[dict[str, Any] | None]],
) -> dict[str, Any]:
    """What every benchmark's ``report.json`` holds, from the run header and the item records (no judge needed):
    provenance, the preset's deviations, the aggregate of the first repeat, and the spread over repeats."""
    from owlcap.eval.config import deviations

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
        "benchmark": benchmark,
        "preset": preset,
        "created": now(),
        "owlcap_version": version(),
        "judge": header.get("judge"),
        "prompts": header.get("prompts"),
        "captions": header.get("captions"),
        "protocol": header.get("protocol"),
        "scoring": scoring_values,
        "deviations_from_preset": deviations(scoring_values, official_scoring, "scoring.")
        | (header.get("judge_deviations") or {}),
        "confidence": settings.confidence,
        "bootstrap_samples": settings.bootstrap_samples,
        "data": header.get("data"),
        "results": results,
        "headline": headline(results),
        "counts": item_counts(by_repeat[repeats[0]], calls),
        "last_run": header.get("last_run"),
        "notes": list(header.get("notes") or []),
    }
    if len(repeats) > 1:
        headlines = [headline(aggregate(by_repeat[k], scoring)) for k in repeats]
        report["repeats"] = {"count": len(repeats), "spread": repeat_spread(headlines)}
    return report


def repeat_spread(headlines: list[dict[str, float | None]]) -> dict[str, Any]:
    """Per headline figure over judge repeats: each repeat's value, mean, standard deviation, min and max."""
    spread: dict[str, Any] = {}
    for name in headlines[0]:
        values = [h.get(name) for h in headlines]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        spread[name] = {
            "values": values,
            "mean": statistics.fmean(finite) if finite else None,
            "std": statistics.stdev(finite) if len(finite) > 1 else None,
            "min": min(finite) if finite else None,
            "max": max(finite) if finite else None,
        }
    return spread


def clean(value: Any) -> Any:
    """JSON has no NaN: NaN and infinities become ``None`` (the Markdown table still says nan)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: clean(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def write_outputs(
    out: Path, report: dict[str, Any], markdown: str, plot: Callable[[Path], list[Path]] | None
) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / REPORT_JSON, out / REPORT_MD]
    if plot is not None:
        try:
            plots = plot(out)
        except (OSError, ValueError) as exc:  # a plot must never cost the report
            report.setdefault("notes", []).append(f"plots not written: {exc}")
            plots = []
        report["plots"] = [p.name for p in plots]
        written += plots
    write_json(out / REPORT_JSON, clean(report))
    (out / REPORT_MD).write_text(markdown, encoding="utf-8")
    return written


def pct(value: float | None, digits: int = 2) -> str:
    """A [0, 1] value as x100 with ``digits`` decimals; ``-`` when missing, ``nan`` when not a number."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "nan"
    return f"{100 * value:.{digits}f}"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}f}"


def ci(bounds: list[float] | None, scale: float = 100.0, digits: int = 2) -> str:
    if not bounds:
        return "-"
    return f"[{bounds[0] * scale:.{digits}f}, {bounds[1] * scale:.{digits}f}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def provenance_lines(report: dict[str, Any]) -> list[str]:
    """The lines under a report's title that say how its numbers were made."""
    judge = report.get("judge") or {}
    prompts = report.get("prompts") or {}
    captions = report.get("captions") or {}
    sampling = ", ".join(
        f"{key} {judge.get(key)}" for key in ("temperature", "top_p", "max_tokens", "seed") if key in judge
    )
    lines = [
        f"- preset: `{report.get('preset')}`" + _deviation_text(report.get("deviations_from_preset") or {}),
        f"- judge: `{judge.get('spec', judge.get('model', 'unknown'))}` ({sampling}; "
        f"{judge.get('parse_attempts')} answer(s) per call, {judge.get('repeats', 1)} repeat(s))",
        f"- prompt set: `{prompts.get('name', 'unknown')}` sha256 `{str(prompts.get('sha256', ''))[:16]}`",
        f"- captions: {', '.join(captions.get('captioners') or []) or 'unknown captioner'}; "
        f"{captions.get('captions', '?')} captions, {captions.get('failed_captions', 0)} failed",
    ]
    counts = report.get("counts") or {}
    if counts:
        lines.append(
            f"- items: {counts.get('items')} ({counts.get('judged')} judged, {counts.get('failed')} with failed judge "
            f"calls, {counts.get('no_caption')} without caption); failed calls {counts.get('failed_calls') or 0}; "
            f"resampled calls {counts.get('resampled_calls', 0)}"
        )
    return lines


def repeat_lines(report: dict[str, Any], digits: int = 1) -> list[str]:
    """The Markdown section on judge noise (each headline figure's mean and std over repeats, x100), if any."""
    if not report.get("repeats"):
        return []
    spread = report["repeats"]["spread"]
    rows = [[name, pct(s["mean"], digits), pct(s["std"], digits + 1)] for name, s in spread.items()]
    return ["", f"## Judge noise over {report['repeats']['count']} repeats", "", table(["figure", "mean", "std"], rows)]


def _deviation_text(deviations: dict[str, Any]) -> str:
    if not deviations:
        return " (no deviation)"
    changed = ", ".join(f"{key}={value['value']}" for key, value in deviations.items())
    return f" **with deviations: {changed}**"
