"""``export(DIR, to)``: a build's kept records in the formats trainers read.

- ``sft``: ``exports/sft.jsonl``, the released OwlCap/LLaVA conversation lines: ``{"id", "video", "conversations":
  [{"from": "human", "value": "<video>\\nPROMPT"}, {"from": "gpt", "value": CAPTION}]}`` plus ``start_time`` /
  ``end_time`` when the record is a clip.
- ``grpo``: ``exports/grpo.jsonl``, prompt/reference lines: ``{"id", "video", "prompt": PROMPT, "reference":
  CAPTION}`` (+ trims); the reference is what CSER compares a rollout with. owlcap's trainers read it too.
- ``hf``: ``exports/hf``, a ``datasets`` folder (``datasets.load_from_disk``) with flat columns.
- ``parquet``: ``exports/hmd.parquet``, the same columns.

``include="all"`` exports rejected and failed records too (flat formats only make sense for analysis then).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from owlcap.data.outputs import load_records
from owlcap.data.records import VIDEO_TAG
from owlcap.data.schema import BuildRecord
from owlcap.errors import ConfigError, DataError, OutputError, os_cause
from owlcap.jsonl import write_text_atomic
from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT

Format = Literal["sft", "grpo", "hf", "parquet"]
FORMATS = ("sft", "grpo", "hf", "parquet")
_DEFAULT_NAMES = {"sft": "sft.jsonl", "grpo": "grpo.jsonl", "hf": "hf", "parquet": "hmd.parquet"}


def export(
    out_dir: str | Path,
    to: Format,
    dest: str | Path | None = None,
    *,
    include: Literal["kept", "all"] = "kept",
    prompt: str = DEFAULT_CAPTION_PROMPT,
) -> tuple[Path, int]:
    """Write the export; returns ``(path, rows)``. ``DataError`` when the folder holds no build records."""
    if to not in FORMATS:
        raise DataError(out_dir, f"unknown export format {to!r}; choose one of {', '.join(FORMATS)}")
    records = load_records(out_dir)
    if not records:
        raise DataError(out_dir, "no build records here (records.jsonl is missing or empty); run owlcap data build")
    chosen = [r for r in records if include == "all" or r.status == "kept"]
    target = _target(Path(dest) if dest is not None else Path(out_dir) / "exports" / _DEFAULT_NAMES[to], to)
    if to in ("sft", "grpo"):
        make = _sft_line if to == "sft" else _grpo_line
        lines = [make(record, prompt) for record in chosen if record.caption]
        write_text_atomic(target, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        return target, len(lines)
    import datasets

    dataset = datasets.Dataset.from_list([_flat_row(record) for record in chosen], features=_features())
    # Written beside the target and renamed into place: a full disk leaves the old export (or none), never half.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        if to == "hf":
            dataset.save_to_disk(str(partial))
            if target.exists():
                shutil.rmtree(target)  # an earlier export of this build (_target checked it is one)
        else:
            dataset.to_parquet(str(partial))
        os.replace(partial, target)
    except OSError as exc:
        raise OutputError(target, os_cause(exc)) from exc
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            partial.unlink(missing_ok=True)
    return target, len(dataset)


def _target(target: Path, to: str) -> Path:
    """``target`` checked against what the format writes (a file, or an ``hf`` datasets folder), its folder made."""
    if to == "hf":
        if target.exists() and not (target / "dataset_info.json").is_file():
            kind = "a file" if not target.is_dir() else "a folder that is not a datasets export"
            raise ConfigError(f"--dest {target}: is {kind}; name a new folder for the hf export")
    elif target.is_dir():
        raise ConfigError(f"--dest {target}: is a folder; name a file, e.g. {target / _DEFAULT_NAMES[to]}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(target.parent, os_cause(exc)) from exc
    return target


def _trims(record: BuildRecord) -> dict[str, float]:
    return {
        name: value for name, value in (("start_time", record.start), ("end_time", record.end)) if value is not None
    }


def _sft_line(record: BuildRecord, prompt: str) -> dict[str, Any]:
    conversations = [
        {"from": "human", "value": f"{VIDEO_TAG}\n{record.prompt or prompt}"},
        {"from": "gpt", "value": record.caption},
    ]
    return {"id": record.id, "video": record.video, "conversations": conversations, **_trims(record)}


def _grpo_line(record: BuildRecord, prompt: str) -> dict[str, Any]:
    return {"id": record.id, "video": record.video, "prompt": record.prompt or prompt, "reference": record.caption} | (
        _trims(record)
    )


def _features() -> Any:
    import datasets

    text = datasets.Value("string")
    return datasets.Features(
        {
            "id": text,
            "video": text,
            "start": datasets.Value("float64"),
            "end": datasets.Value("float64"),
            "caption": text,
            "motion_caption": text,
            "fused_caption": text,
            "units": datasets.Sequence(text),
            "unit_supported": datasets.Sequence(datasets.Value("bool")),
            "unit_accuracy": datasets.Value("float64"),
            "status": text,
            "kept": datasets.Value("bool"),
            "models": text,
        }
    )


def _flat_row(record: BuildRecord) -> dict[str, Any]:
    verdicts = record.unit_verdicts or []
    return {
        "id": record.id,
        "video": record.video,
        "start": record.start,
        "end": record.end,
        "caption": record.caption,
        "motion_caption": record.motion_caption,
        "fused_caption": record.fused_caption,
        "units": record.units or [],
        "unit_supported": [bool(v.supported) for v in verdicts],
        "unit_accuracy": record.unit_accuracy,
        "status": record.status,
        "kept": record.kept,
        "models": json.dumps(record.models or {}, sort_keys=True),
    }
