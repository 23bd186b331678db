"""``reaggregate``: rebuild a run's report from its ``items.jsonl``, under its own or another preset, no judge.

The judge's raw answers are in the items, so every scoring rule (exclusions, parse-failure policy, casts, F1 mode,
macro/micro...) can be applied again. What was asked of the judge (model, sampling, prompt set) cannot change: the
report says which preset's judge made the run and which preset's rules scored it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError
from owlcap.eval.config import ReportConfig
from owlcap.eval.registry import BENCHMARKS
from owlcap.eval.report import EvalResult, completeness, write_outputs
from owlcap.eval.runs import RunDir, read_items
from owlcap.hashing import json_digest


def reaggregate(
    run_dir: str | Path,
    preset: str | None = None,
    *,
    scoring: dict[str, Any] | None = None,
    out: str | Path | None = None,
    report: dict[str, Any] | None = None,
) -> EvalResult:
    """Re-score ``run_dir`` under ``preset`` (default: the run's) with ``scoring`` overrides (switch -> value) and
    ``report`` settings (bootstrap samples, plots...). Writes into ``out``: by default the run folder itself when
    nothing changes, else a folder named by what differs (:func:`rescore_folder`), so re-scores under different
    rules never replace one another."""
    run_dir = Path(run_dir)
    records = read_items(run_dir)
    header = RunDir(run_dir).header() or {}
    benchmark = header.get("benchmark") or (records[0].get("benchmark") if records else None)
    if benchmark not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {benchmark!r} in the run folder")
    entry = BENCHMARKS[benchmark]
    config_module, report_module = entry.module("config"), entry.module("report")
    judged_with = header.get("preset") or entry.default_preset
    preset = preset or judged_with
    if preset not in config_module.PRESETS:
        raise ConfigError(f"preset: {preset!r} is not a {benchmark} preset ({', '.join(config_module.PRESETS)})")
    rules = config_module.scoring_for(preset, scoring)
    saved = ((header.get("config") or {}).get("report") or {}) | (report or {})
    settings = ReportConfig.model_validate(saved)
    built = report_module.build_report(header, records, rules, preset, settings)
    if preset != judged_with:
        built["notes"].append(
            f"judged with preset {judged_with}'s judge settings; scored here with preset {preset}'s rules"
        )
    built["rescored_from"] = str(run_dir)
    changed = preset != judged_with or bool(scoring)
    target = Path(out) if out is not None else (run_dir / rescore_folder(preset, scoring) if changed else run_dir)
    plot = (lambda folder: report_module.plot(built, folder)) if settings.plots else None
    write_outputs(target, built, report_module.markdown(built), plot)
    return EvalResult(target, built, *completeness(built["counts"]))


def rescore_folder(preset: str, scoring: dict[str, Any] | None) -> str:
    """``rescored-<preset>`` plus each changed switch as ``<switch>=<value>`` in name order
    (``rescored-lmms-exclude_zero_videos=false``); a name that would be too long ends in a digest of the switches."""
    switches = [f"{key}={_plain(value)}" for key, value in sorted((scoring or {}).items())]
    name = "-".join(["rescored", preset, *switches])
    name = re.sub(r"[^A-Za-z0-9._=+-]", "_", name)
    return name if len(name) <= 100 else f"rescored-{preset}-{json_digest(scoring, 12)}"


def _plain(value: Any) -> str:
    return (
        json.dumps(value)
        if isinstance(value, (dict, list))
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
    )
