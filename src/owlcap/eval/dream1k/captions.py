"""DREAM-1K's caption step: the captions to judge, keyed by the item's ``idx``.

Either a caption file (owlcap's, any JSONL with mapped fields, or Tarsier's prediction files), or, given videos and
a model, every selected item captioned first with the annotation's prompt into ``<out>/captions.jsonl``, resumable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_jobs
from owlcap.eval.dream1k.config import DreamEvalConfig
from owlcap.eval.dream1k.data import DreamData, prediction_of
from owlcap.eval.prompt_sets import PromptSet

CAPTIONS_FILE = "captions.jsonl"


def caption(config: DreamEvalConfig, data: DreamData, prompts: PromptSet) -> LoadedCaptions:
    """The captions of this run: ``config.captions`` read, or the videos of ``config.captioning`` captioned first
    (the summary of that captioning rides along in ``LoadedCaptions.captioning``)."""
    if config.captions is not None:
        return load_dream_captions(config, config.captions.path)
    prompt = prompts.get("caption_prompt")
    jobs = [CaptionJob(sample.id, sample.id, prompt) for sample in data.selected(config.limit)]
    config.out.mkdir(parents=True, exist_ok=True)
    path = config.out / CAPTIONS_FILE
    summary = caption_jobs(config.captioning, jobs, path)
    captions = load_dream_captions(config, path)
    captions.captioning = summary
    return captions


def load_dream_captions(config: DreamEvalConfig, path: Path) -> LoadedCaptions:
    """Captions keyed by ``idx``: owlcap's caption files, any JSONL with mapped fields, or Tarsier's prediction
    files (the annotation layout with the assistant ``text`` filled in), recognised by their ``messages``."""
    source = config.captions
    id_field = source.id_field if source else "id"
    caption_field = source.caption_field if source else "caption"

    def tarsier(record: dict[str, Any]) -> bool:
        return "messages" in record and caption_field not in record

    def key_of(record: dict[str, Any], stem: str | None) -> str | None:
        if tarsier(record):
            dataset = record.get("dataset")
            if isinstance(dataset, str) and dataset.split("/")[0] != config.dataset_prefix:
                return None
            return str(record["idx"])
        return str(dotted(record, id_field))

    def caption_of(record: dict[str, Any]) -> str:
        return prediction_of(record) if tarsier(record) else text_field(record, caption_field)

    return read_captions(path, key_of, caption_of)
