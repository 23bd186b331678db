"""Gather a run's figures into one JSON-able dict (``report.json``): what every stage did and measured.

Read from the run directory only (each stage's ``stage.json``, the trainers' log history, the caption and eval
files), so a report can be rebuilt at any time with ``owlcap run CONFIG --only report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.run.stages.base import Layout
from owlcap.run.stages.evaluate import read_captions
from owlcap.run.stages.train import log_history
from owlcap.run.state import StageRecord

GRPO_CURVES = (
    "reward",
    "reward_std",
    "frac_reward_zero_std",
    "grad_norm",
    "rewards/cser/mean",
    "rewards/length/mean",
    "completions/mean_length",
    "kl",
)

DPO_CURVES = ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected", "grad_norm")

TINY_NOTE = (
    "The models are tiny and random (a few hundred thousand parameters, built offline). They show that every stage "
    "runs and that training moves the model: SFT's loss falls, GRPO's rewards differ within a group (reward_std > 0) "
    "so its gradient is not zero, and the vision tower's weights change. They cannot show caption quality: the "
    "captions are fragments of the training captions, the rules judge matches words rather than meaning, and a "
    "few steps on three videos are noise next to a real run. In the data stage a random model's MDF captions are "
    "gibberish and its FGE verdicts mean nothing, so which records are kept is arbitrary."
)
DATA_RECORDS_SHOWN = 3
UNITS_SHOWN = 6
P_YES_BINS = 40


def collect(layout: Layout, stages: list[str], title: str, caption_chars: int, *, tiny: bool) -> dict[str, Any]:
    """The report's content; ``stages`` are the pipeline's stages before the report, in order."""
    records = {name: StageRecord.load(layout.stage_dir(name) / "stage.json") for name in stages}
    report: dict[str, Any] = {"title": title, "run_dir": str(layout.run_dir), "stages": {}, "notes": []}
    for name, record in records.items():
        if record is None:
            report["stages"][name] = {"status": "not run"}
            continue
        report["stages"][name] = {
            "status": "done",
            "seconds": round(record.seconds, 2),
            "resumed": record.resumed,
            "summary": record.summary,
        }
    if "data" in stages and records.get("data"):
        report["data"] = _data(records["data"], caption_chars)
    if "sft" in stages:
        report["sft"] = _sft(layout)
    if "dpo" in stages:
        report["dpo"] = _dpo(layout)
    if "grpo" in stages:
        report["grpo"] = _grpo(layout)
    if "caption" in stages and records.get("caption"):
        report["captions"] = _captions(layout, records["caption"], caption_chars)
    if "eval" in stages and records.get("eval"):
        report["eval"] = records["eval"].summary
    if tiny:
        report["notes"].append(TINY_NOTE)
    return report


def _data(record: StageRecord, chars: int) -> dict[str, Any]:
    """Each build's figures, every unit's p(yes), and a few records with their MDF outputs and unit verdicts."""
    from owlcap.data.store import RECORDS, read_records

    builds: dict[str, Any] = {}
    for name in ("train", "preview"):
        summary = record.summary.get(name)
        if not summary:
            continue
        records, _ = read_records(Path(summary["folder"]) / RECORDS)
        p_yes = [v["p_yes"] for r in records.values() for v in r.get("unit_verdicts") or [] if "p_yes" in v]
        shown = [_data_record(r, chars) for r in list(records.values())[:DATA_RECORDS_SHOWN]]
        builds[name] = summary | {"p_yes_histogram": histogram(p_yes), "examples": shown}
    return builds


def histogram(values: list[float], bins: int = P_YES_BINS) -> list[int]:
    """Counts of ``values`` in ``bins`` equal bins over [0, 1] (the last one closed), so a report of a 270K-video
    build holds 40 numbers, not millions."""
    counts = [0] * bins
    for value in values:
        counts[min(int(value * bins), bins - 1)] += 1
    return counts


def _data_record(record: dict[str, Any], chars: int) -> dict[str, Any]:
    verdicts = record.get("unit_verdicts") or []
    units = [
        {"unit": _excerpt(v.get("unit", ""), 200), "supported": v.get("supported"), "p_yes": v.get("p_yes")}
        for v in verdicts[:UNITS_SHOWN]
    ]
    return {
        "id": record.get("id"),
        "status": record.get("status"),
        "unit_accuracy": record.get("unit_accuracy"),
        "units": len(verdicts),
        "supported": sum(bool(v.get("supported")) for v in verdicts),
        "motion_caption": _excerpt(record.get("motion_caption") or "", chars),
        "caption": _excerpt(record.get("caption") or "", chars),
        "first_units": units,
    }


def _excerpt(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars].rstrip() + " ..."


def _sft(layout: Layout) -> dict[str, Any]:
    history = log_history(layout.sft_model)
    curve = [[entry["step"], entry["loss"]] for entry in history if "loss" in entry]
    return {
        "loss": curve,
        "loss_first": curve[0][1] if curve else None,
        "loss_last": curve[-1][1] if curve else None,
        "steps": curve[-1][0] if curve else 0,
    }


def _grpo(layout: Layout) -> dict[str, Any]:
    steps = [entry for entry in log_history(layout.grpo_model) if "reward" in entry]
    curves = {name: [[entry["step"], entry[name]] for entry in steps if name in entry] for name in GRPO_CURVES}
    return {
        "curves": curves,
        "steps": len(steps),
        "steps_with_reward_std": sum(entry.get("reward_std", 0) > 0 for entry in steps),
        "steps_with_grad": sum(entry.get("grad_norm", 0) > 0 for entry in steps),
    }


def _dpo(layout: Layout) -> dict[str, Any]:
    """DPO's curves (reward accuracy and margin per logged step) and the pairs it trained on, per source."""
    import json

    steps = [entry for entry in log_history(layout.dpo_model) if "rewards/margins" in entry]
    curves = {name: [[entry["step"], entry[name]] for entry in steps if name in entry] for name in DPO_CURVES}
    stats = layout.dpo_pairs / "stats.json"
    pairs = json.loads(stats.read_text(encoding="utf-8")) if stats.is_file() else {}
    return {
        "curves": curves,
        "steps": len(steps),
        "pairs": pairs.get("pairs", 0),
        "by_source": pairs.get("by_source", {}),
        "no_pair": pairs.get("no_pair", {}),
    }


def _captions(layout: Layout, record: StageRecord, chars: int) -> dict[str, dict[str, str]]:
    """``{video id: {model: caption excerpt}}`` for the models that captioned."""
    by_video: dict[str, dict[str, str]] = {}
    for model in record.summary.get("models", {}):
        path = Path(layout.captions(model))
        if not path.is_file():
            continue
        for item_id, caption in read_captions(path).items():
            by_video.setdefault(item_id, {})[model] = _excerpt(caption, chars)
    return by_video
