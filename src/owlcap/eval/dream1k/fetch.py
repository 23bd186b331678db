"""Where DREAM-1K's official files are on the Hugging Face Hub and how ``owlcap eval fetch dream1k`` lays them out.

The repository ``omni-research/DREAM-1K`` (the Tarsier authors') holds the 1,000 annotations as one table
(``json/metadata.json``: ``idx``, ``video_file``, ``source``, ``duration``, ``description``, ``events``,
``n_subjects``, ``n_shots``, ``n_events``) and the videos in ``video/video.zip`` (3.9 GB). The official scorer
(Tarsier's ``evaluate_dream_gpt.py``) reads ``DREAM-1k.jsonl`` from Tarsier's GitHub repository instead, a chat
layout of the same fields; :func:`to_tarsier_jsonl` writes the table in that layout, so ``owlcap eval dream1k
--annotations DIR/dream1k/DREAM-1k.jsonl`` reads it as it reads Tarsier's file. ``--videos DIR/dream1k/videos``
finds ``<idx>.mp4`` there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from owlcap.errors import DataError
from owlcap.eval.dream1k.data import load
from owlcap.eval.fetch import FetchSpec, HubFile

ANNOTATIONS = "DREAM-1k.jsonl"
_PROMPT = "Describe the video in detail."  # the user turn of every line of Tarsier's file
_COUNTS = ("n_events", "n_shots", "n_subjects")

_SOURCES = ("movie_animation", "movie_live_action", "vertical_video", "videvo", "youtube")
# Tarsier's DREAM-1k.jsonl (md5 760e8ff5d5a00c29eac555ce1b75c4d9) as owlcap's loader reads it.
OFFICIAL_COUNTS = {
    "records": 1000,
    "events": 6298,
    "records without events": 4,
    **{
        f"DREAM/{source}": 200
        for source in ("movie_animation", "movie_live_action", "vertical_video", "videvo", "youtube")
    },
}


def to_tarsier_jsonl(source: Path, target: Path) -> None:
    """The hub's annotation table (a JSON array, or JSON lines) as Tarsier's ``DREAM-1k.jsonl``: one line per
    video, its description as the assistant's reference, its events and counts in ``extra_info``, keys in Tarsier's
    order. Tarsier's file also carries ``old_duration``/``old_video_file`` on 26 lines, which no scorer reads."""
    rows = _rows(source)
    with target.open("w", encoding="utf-8") as out:
        for number, row in enumerate(rows, 1):
            out.write(json.dumps(_tarsier_line(source, number, row), ensure_ascii=False) + "\n")


def _rows(source: Path) -> list[dict[str, Any]]:
    text = source.read_text(encoding="utf-8")
    try:
        rows = json.loads(text)
    except ValueError:
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise DataError(source, f"neither a JSON array nor JSON lines ({exc})") from exc
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DataError(source, "expected a list of annotation objects")
    return rows


def _tarsier_line(source: Path, number: int, row: dict[str, Any]) -> dict[str, Any]:
    try:
        idx = int(row["idx"])
        events = row["events"]
        events = json.loads(events) if isinstance(events, str) else events
        extra = {"duration": float(row["duration"]), "events": list(events)}
        extra.update({key: int(row[key]) for key in _COUNTS})
        user = [
            {"reference": None, "text": None, "type": "video", "video": {"video_file": "<placeholder>"}},
            {"reference": None, "text": _PROMPT, "type": "text", "video": None},
        ]
        assistant = [{"reference": str(row["description"]), "text": "", "type": "text", "video": None}]
        return {
            "messages": [{"content": user, "role": "user"}, {"content": assistant, "role": "assistant"}],
            "dataset": str(row["source"]),
            "task": "video/caption",
            "idx": idx,
            "extra_info": extra,
            "vid": idx,
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(source, f"annotation {number}: missing or malformed field ({exc!r})") from exc


def counts(folder: Path) -> dict[str, int]:
    items = load(folder / ANNOTATIONS).items
    found = {
        "records": len(items),
        "events": sum(len(item.events) for item in items),
        "records without events": sum(1 for item in items if not item.events),
    }
    for item in items:
        found[item.dataset] = found.get(item.dataset, 0) + 1
    return found


def video_ids(folder: Path) -> set[str]:
    return {item.id for item in load(folder / ANNOTATIONS).items}


SPEC = FetchSpec(
    benchmark="dream1k",
    repo_id="omni-research/DREAM-1K",
    files=(HubFile("json/metadata.json", ANNOTATIONS, convert=to_tarsier_jsonl),),
    archives=("video/video.zip",),
    counts=counts,
    expected=dict(OFFICIAL_COUNTS),
    video_ids=video_ids,
    notes="The hub's annotation table is rewritten in the layout of Tarsier's DREAM-1k.jsonl, the file the official "
    "scorer reads; every field a scorer reads (description, events, counts, source, idx) is carried over as it is, "
    "and the counts above check them.",
    usage="owlcap eval dream1k --annotations {folder}/DREAM-1k.jsonl --captions CAPTIONS.jsonl --judge SPEC "
    "(or --videos {folder}/videos --model M to caption first)",
)
