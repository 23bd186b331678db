"""Everything in a build directory derived from ``records.jsonl``: ``hmd.jsonl``, ``stats.json``, ``config.yaml``,
the report folder. Rewritten (atomically) at the end of every run, interrupted ones included, and by ``owlcap data
report DIR``; ``records.jsonl`` stays the single source of truth.
"""

from __future__ import annotations

import json
import logging
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from owlcap.data.config import BuildConfig
from owlcap.data.schema import SCHEMA_VERSION, BuildRecord
from owlcap.data.store import HMD, RECORDS, REPORT, STATS, read_records
from owlcap.jsonl import write_text_atomic

if TYPE_CHECKING:
    from owlcap.data.runner import BuildSummary

logger = logging.getLogger(__name__)

CONFIG = "config.yaml"
MODEL_STAGES = ("motion", "fusion", "splitter", "verifier")


def load_records(out_dir: str | Path) -> list[BuildRecord]:
    """The build records of ``out_dir`` (each id once, file order); unreadable lines are logged and left out."""
    raw, torn = read_records(Path(out_dir) / RECORDS)
    if torn:
        logger.warning("%s: %d unreadable line(s) left out (a run was killed mid-write)", out_dir, torn)
    records = []
    for record_id, data in raw.items():
        try:
            records.append(BuildRecord.model_validate(data))
        except ValidationError as exc:
            logger.warning("%s: record %r does not match %s: %s", out_dir, record_id, SCHEMA_VERSION, exc)
    return records


def write_outputs(
    out_dir: str | Path, config: BuildConfig | None = None, summary: BuildSummary | None = None
) -> tuple[dict[str, str], dict[str, int]]:
    """Write hmd.jsonl, stats.json, config.yaml and the report; return ``(output paths, totals by status)``."""
    out = Path(out_dir)
    if config is None:
        config = read_config(out)
    else:
        header = (
            "# The settings of the last run in this folder. Re-run: owlcap data build INPUT... --out DIR --config\n"
        )
        write_text_atomic(out / CONFIG, header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    records = load_records(out)
    kept = [record.hmd() for record in records if record.status == "kept"]
    write_text_atomic(out / HMD, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in kept))
    stats = compute_stats(records)
    if summary is not None:
        stats["last_run"] = summary.to_dict() | {"llm": summary.llm}
    elif (out / STATS).exists():
        previous = json.loads((out / STATS).read_text(encoding="utf-8"))
        if "last_run" in previous:
            stats["last_run"] = previous["last_run"]
    write_text_atomic(out / STATS, json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    outputs = {"records": str(out / RECORDS), "hmd": str(out / HMD), "stats": str(out / STATS)}
    outputs |= write_report(out, records, stats, config)
    return outputs, stats["counts"]


def read_config(out: Path) -> BuildConfig:
    """The settings a build directory was last built with (defaults when it has none)."""
    path = out / CONFIG
    if not path.exists():
        return BuildConfig()
    return BuildConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def write_report(out: Path, records: list[BuildRecord], stats: dict[str, Any], config: BuildConfig) -> dict[str, str]:
    from owlcap.data.report import write_plots
    from owlcap.data.viewer import write_viewer

    folder = out / REPORT
    folder.mkdir(exist_ok=True)
    paths: dict[str, str] = {"report": str(folder)}
    if config.report.plots:
        paths |= write_plots(folder, records, stats, config.fge.threshold)
    if config.report.viewer:
        paths["viewer"] = str(write_viewer(folder / "index.html", out, records, stats, config.report.viewer_max_cards))
    return paths


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "mean": round(statistics.fmean(values), 4),
        "median": round(statistics.median(values), 4),
        "p10": round(pick(0.1), 4),
        "p90": round(pick(0.9), 4),
        "min": round(ordered[0], 4),
        "max": round(ordered[-1], 4),
    }


def compute_stats(records: list[BuildRecord]) -> dict[str, Any]:
    """Counts, ratios, distributions, failures by cause and per-stage cost of a set of records."""
    counts = {status: sum(r.status == status for r in records) for status in ("kept", "rejected", "failed")}
    examined = counts["kept"] + counts["rejected"]
    accuracies = [r.unit_accuracy for r in records if r.unit_accuracy is not None]
    histogram = [0] * 10
    for value in accuracies:
        histogram[min(int(value * 10), 9)] += 1
    by_cause: dict[str, int] = {}
    examples: dict[str, str] = {}
    for record in records:
        if record.failure is not None:
            key = f"{record.failure.stage}: {record.failure.kind}"
            by_cause[key] = by_cause.get(key, 0) + 1
            examples.setdefault(key, f"{record.id}: {record.failure.message}")
    by_stage: dict[str, int] = {}
    for key, value in by_cause.items():
        by_stage[key.split(":")[0]] = by_stage.get(key.split(":")[0], 0) + value
    return {
        "schema_version": SCHEMA_VERSION,
        "counts": {"records": len(records), **counts},
        "kept_ratio": round(counts["kept"] / examined, 4) if examined else None,
        "kept_ratio_of_all": round(counts["kept"] / len(records), 4) if records else None,
        "unit_accuracy": _summary(accuracies) | {"histogram_0_to_1_by_0.1": histogram},
        "units_per_record": _summary([len(r.units) for r in records if r.units is not None]),
        "caption_words": {
            "motion": _summary([len(r.motion_caption.split()) for r in records if r.motion_caption]),
            "fused": _summary([len(r.fused_caption.split()) for r in records if r.fused_caption]),
        },
        "failures": {
            "by_stage": by_stage,
            "by_cause": dict(sorted(by_cause.items(), key=lambda kv: -kv[1])),
            "examples": examples,
        },
        "stages": stage_costs(records),
    }


def stage_costs(records: list[BuildRecord]) -> dict[str, dict[str, float]]:
    """Per model stage: records it ran for, requests, cache hits, tokens and seconds, in total and per record."""
    costs: dict[str, dict[str, float]] = {}
    for stage in ("decode", *MODEL_STAGES):
        runs = [r.stages[stage] for r in records if stage in r.stages]
        answered = [run for run in runs if run.source in ("model", "cache")]
        if not runs:
            continue
        entry: dict[str, float] = {
            "records": len(runs),
            "answered_by_model": sum(run.source == "model" for run in runs),
            "from_cache": sum(run.source == "cache" for run in runs),
            "from_manifest_or_previous": sum(run.source in ("manifest", "previous") for run in runs),
            "seconds_total": round(sum(run.seconds for run in runs), 3),
        }
        if stage != "decode" and answered:
            for name in ("requests", "prompt_tokens", "completion_tokens"):
                total = sum(getattr(run, name) for run in answered)
                entry[name] = total
                entry[f"{name}_per_record"] = round(total / len(answered), 3)
        costs[stage] = entry
    return costs
