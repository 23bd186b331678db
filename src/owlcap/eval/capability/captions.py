"""CAPability's caption step: the captions to judge, one per annotated file.

Either a caption file (owlcap's, keyed by ``file_id``; or the official layout, one file per dimension), or, given
videos and a model, every selected video captioned once with the official video prompt into
``<out>/captions.jsonl``, resumable (event and action share their videos, hence their captions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_into_run
from owlcap.eval.capability.config import TASKS, CapEvalConfig
from owlcap.eval.capability.data import CapData, CapRecord
from owlcap.eval.prompt_sets import PromptSet


def caption(config: CapEvalConfig, data: CapData, prompts: PromptSet) -> LoadedCaptions:
    """The captions of this run: ``config.captions`` read, or each selected file's video captioned once with the
    official video prompt (the summary of that captioning rides along in ``LoadedCaptions.captioning``)."""
    if config.captions is not None:
        return load_cap_captions(config, config.captions.path)
    prompt = prompts.get("caption_prompts", "video")
    jobs: dict[str, CaptionJob] = {}
    for record in data.selected(config.limit):
        jobs.setdefault(record.file_id, CaptionJob(record.file_id, record.video_id, prompt))
    return caption_into_run(
        config.captioning, list(jobs.values()), config.out, lambda path: load_cap_captions(config, path)
    )


def caption_key(task: str, file_id: str) -> str:
    return f"{task}/{file_id}"


def load_cap_captions(config: CapEvalConfig, path: Path) -> LoadedCaptions:
    """Captions keyed ``<dimension>/<file_id>`` (a folder of per-dimension files, the official layout:
    ``<dimension>.jsonl`` or lmms-eval's ``..._samples_capability_<dimension>.jsonl``; or a ``task`` field) or by
    ``file_id`` alone (one caption per file, shared by the dimensions that annotate it). An ``id`` field is read
    from ``file_id`` when the record has no ``id`` (the official caption files)."""
    source = config.captions
    id_field = source.id_field if source else "id"
    caption_field = source.caption_field if source else "caption"
    by_length = sorted(TASKS, key=len, reverse=True)

    def key_of(record: dict[str, Any], stem: str | None) -> str:
        try:
            file_id = str(dotted(record, id_field))
        except KeyError:
            if id_field != "id" or "file_id" not in record:
                raise
            file_id = str(record["file_id"])
        task = record.get("task")
        if not isinstance(task, str) or task not in TASKS:
            task = next((t for t in by_length if stem and (stem == t or stem.endswith(f"capability_{t}"))), None)
        return caption_key(task, file_id) if task else file_id

    return read_captions(path, key_of, lambda record: text_field(record, caption_field))


def caption_for(captions: LoadedCaptions, record: CapRecord) -> str | None:
    """A file's caption: its dimension's, else (action only) event's, as the official scorer copies event's
    caption file for action; else the one caption of its ``file_id``."""
    for key in (caption_key(record.task, record.file_id), caption_key("event", record.file_id), record.file_id):
        if key in captions.captions and (not key.startswith("event/") or record.task in ("action", "event")):
            return captions.captions[key]
    return None
