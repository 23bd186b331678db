"""CaReBench's caption step: the captions to judge, keyed by the video's file stem.

Either a caption file (owlcap's, any JSONL with mapped fields, or the official task's ``description.json``), or,
given videos and a model, every selected video captioned first with the official prompt into
``<out>/captions.jsonl``, resumable.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_into_run
from owlcap.eval.carebench.config import CareEvalConfig
from owlcap.eval.carebench.data import CareData, official_descriptions
from owlcap.eval.prompt_sets import PromptSet
from owlcap.hashing import file_digest


def caption(config: CareEvalConfig, data: CareData, prompts: PromptSet) -> LoadedCaptions:
    """The captions of this run: ``config.captions`` read, or the videos of ``config.captioning`` captioned first
    with the official prompt (the summary of that captioning rides along in ``LoadedCaptions.captioning``)."""
    if config.captions is not None:
        return load_care_captions(config, data, config.captions.path)
    prompt = prompts.get("caption_prompt")
    jobs = [CaptionJob(sample.id, sample.id, prompt) for sample in data.selected(config.limit)]
    return caption_into_run(config.captioning, jobs, config.out, lambda path: load_care_captions(config, data, path))


def load_care_captions(config: CareEvalConfig, data: CareData, path: Path) -> LoadedCaptions:
    """Captions keyed by the video's file stem: owlcap's caption files, any JSONL with mapped fields (an id may be
    the stem, the file name or the annotation's ``video``), or the official task's ``description.json``
    (``{idx: {"pred": ...}}``, matched by position)."""
    by_idx = official_descriptions(path)
    if by_idx is not None:
        loaded = LoadedCaptions(files={str(path): file_digest(path)})
        for item in data.items:
            if item.idx in by_idx:
                loaded.captions[item.id] = by_idx[item.idx]
        return loaded
    source = config.captions
    id_field = source.id_field if source else "id"
    caption_field = source.caption_field if source else "caption"

    def key_of(record: dict[str, Any], stem: str | None) -> str:
        return PurePosixPath(str(dotted(record, id_field)).replace("\\", "/")).stem

    return read_captions(path, key_of, lambda record: text_field(record, caption_field))
