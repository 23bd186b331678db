"""The score and report steps every benchmark shares: the numbers over judge repeats, counts, notes, what the run
was, and writing the files.

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

from owlcap.eval.config import deviations, judge_deviations
from owlcap.eval.judging import judge_notes
from owlcap.eval.runs import write_json
from owlcap.jsonl import write_text_atomic

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


@dataclass
class Scores:
    """A run's numbers (the score step): the aggregate of the first repeat, with its intervals, its headline
    figures, and with several judge repeats each repeat's headline figures and their spread."""

    results: dict[str, Any]
    headline: dict[str, float | None]
    repeats: dict[str, Any] | None = None


def score_repeats(
    records: list[dict[str, Any]],
    scoring: Any,
    settings: Any,
    *,
    aggregate: Callable[..., dict[str, Any]],
    headline: Callable[[dict[str, Any]], dict[str, float | None]],
) -> Scores:
    """Stage 2 over a run's records under ``scoring``: ``aggregate`` the first repeat with bootstrap intervals
    (``settings``: a ``ReportConfig``); with several repeats, the spread of each headline figure over them."""
    by_repeat = by_repeats(records)
    first = next(iter(by_repeat))
    results = aggregate(
        by_repeat[first],
        scoring,
        bootstrap_samples=settings.bootstrap_samples,
        confidence=settings.confidence,
        seed=settings.seed,
    )
    scores = Scores(results, headline(results))
    if len(by_repeat) > 1:
        headlines = [headline(aggregate(group, scoring)) for group in by_repeat.values()]
        scores.repeats = {"count": len(by_repeat), "spread": repeat_spread(headlines)}
    return scores


def by_repeats(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The records of each judge repeat, in repeat order (repeat 0 alone when there are none)."""
    repeats = sorted({record.get("repeat", 0) for record in records}) or [0]
    return {k: [r for r in records if r.get("repeat", 0) == k] for k in repeats}


def benchmark_report(
    benchmark: str,
    header: dict[str, Any],
    records: list[dict[str, Any]],
    scores: Scores,
    scoring: Any,
    preset: str,
    settings: Any,
    *,
    official_scoring: dict[str, Any],
    calls: Callable[[dict[str, Any]], list[dict[str, Any] | None]],
) -> dict[str, Any]:
    """What every benchmark's ``report.json`` holds, from the run header, the item records and their ``scores``
    (no judge needed): provenance, the preset's deviations, the numbers and the spread over repeats."""
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
        "results": scores.results,
        "headline": scores.headline,
        "counts": item_counts(next(iter(by_repeats(records).values())), calls),
        "last_run": header.get("last_run"),
        "notes": list(header.get("notes") or []),
    }
    if scores.repeats is not None:
        report["repeats"] = scores.repeats
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


def record_run(
    config: Any, judged: Any, official: dict[str, Any], *, prompts: Any, captions: Any, data_notes: Any
) -> dict[str, Any]:
    """Complete ``run.json`` (the header of ``judged``, an ``Execution``) with what the run was and return it: the
    judge and how it and the protocol differ from the ``official`` preset values, the prompt set, the protocol, the
    captions (and the captioning that made them), what loading the data found, the notes every report of such a run
    carries, and what this invocation did (``last_run``)."""
    judge, judge_note = config.judge.describe(), judge_notes(config.judge)
    notes = caption_notes(prompts.name, captions.bad_lines) + judge_note
    if judged.stopped:
        notes.append(judged.stopped)
    if judged.errors:
        notes.append(f"{len(judged.errors)} item(s) hit an unexpected error (a bug; see the log): {judged.errors[0]}")
    changed = judge_deviations(config.judge, official["judge"])
    for section in [name for name in official if name not in ("judge", "scoring")]:  # protocol; CAPability's retry
        changed |= deviations(getattr(config, section).model_dump(), official[section], f"{section}.")
    header = judged.header | {
        "judge": judge,
        "judge_deviations": changed,
        "prompts": prompts.describe(),
        "protocol": config.protocol.model_dump(),
        "captions": captions.describe(),
        "data": data_notes,
        "notes": notes,
        "last_run": {
            "cost": judged.cost,
            "reused_items": judged.reused,
            "judged_items": judged.judged,
            "not_judged_items": judged.not_judged,
        },
    }
    judged.run.write_header(header)
    return header


def caption_notes(prompts_name: str, bad_lines: list[str]) -> list[str]:
    notes = [] if prompts_name != "owlcap" else ["prompt set: owlcap's own (not the official texts)"]
    if bad_lines:
        notes.append(f"{len(bad_lines)} unreadable caption line(s), first: {bad_lines[0]}")
    return notes


def publish(
    config: Any, judged: Any, report: dict[str, Any], markdown: str, plot: Callable[[Path], list[Path]]
) -> EvalResult:
    """Write a run's ``report`` (with the items this invocation left unjudged), its ``markdown`` and, if the
    report settings ask, its ``plot`` into ``config.out``; say whether the run is complete."""
    report["counts"]["not_judged"] = judged.not_judged
    write_outputs(config.out, report, markdown, plot if config.report.plots else None)
    return EvalResult(config.out, report, *completeness(report["counts"]))


def completeness(counts: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether every item was judged without a failed call, and what was not."""
    problems = []
    if counts.get("failed"):
        problems.append(f"{counts['failed']} item(s) with failed judge calls ({counts.get('failed_calls')})")
    if counts.get("no_caption"):
        problems.append(f"{counts['no_caption']} item(s) without a caption")
    if counts.get("not_judged"):
        problems.append(f"{counts['not_judged']} item(s) not judged (the run stopped); re-run to resume")
    return not problems, problems


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
    write_text_atomic(out / REPORT_MD, markdown)
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
    if "sent" in judge:
        sent = judge["sent"]
        sampling = ", ".join(f"{key} {value}" for key, value in sent.items()) or "no sampling fields sent"
    else:  # a run made before owlcap recorded what it sent
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
