"""VDC's caption step: the captions to judge, keyed ``<dimension>/<video_id>``.

Either a caption file (owlcap's, lmms-eval's samples, any JSONL with mapped fields; or a folder of one file per
dimension), or, given videos and a model, every selected (dimension, video) captioned first with the prompt drawn
from its dimension's pool (``prompts.caption_prompts``) into ``<out>/captions.jsonl``, resumable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_into_run
from owlcap.errors import DataError
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.vdc import prompts as vdc_prompts
from owlcap.eval.vdc.config import VDCEvalConfig
from owlcap.eval.vdc.data import DIMENSIONS, VDCData


def caption(config: VDCEvalConfig, data: VDCData, prompts: PromptSet) -> LoadedCaptions:
    """The captions of this run: ``config.captions`` read, or the videos of ``config.captioning`` captioned first
    (the summary of that captioning rides along in ``LoadedCaptions.captioning``)."""
    if config.captions is not None:
        captions = load_vdc_captions(config, config.captions.path)
        check_layout(config, captions, data.pairs(config.limit))
        return captions
    chosen = vdc_prompts.caption_prompts(data, prompts, config.protocol)
    jobs = [CaptionJob(caption_key(d, v), v, chosen[(d, v)]) for d, v in data.pairs(config.limit)]
    return caption_into_run(config.captioning, jobs, config.out, lambda path: load_vdc_captions(config, path))


def check_layout(config: VDCEvalConfig, captions: LoadedCaptions, pairs: list[tuple[str, str]]) -> None:
    """A caption file none of whose lines names a (dimension, video) of the benchmark is a layout mistake, not 5,000
    missing captions: say what VDC reads, before any judging."""
    if config.captions is None or not captions.bad_lines:
        return
    wanted = {caption_key(dimension, video_id) for dimension, video_id in pairs}
    if wanted.isdisjoint(captions.captions) and wanted.isdisjoint(captions.failed):
        raise DataError(
            config.captions.path,
            f"no line gives a caption for a VDC (dimension, video) ({len(captions.bad_lines)} unreadable; first: "
            f"{captions.bad_lines[0]}). VDC judges one caption per video and dimension: write ids as "
            "<dimension>/<video_id> (as owlcap's VDC captioning does), add a dimension field (--dimension-field), "
            "or give a folder of <dimension>.jsonl files (--captions DIR); --id-field / --caption-field name other "
            "fields",
        )


def caption_key(dimension: str, video_id: str) -> str:
    return f"{dimension}/{video_id}"


def load_vdc_captions(config: VDCEvalConfig, path: Path) -> LoadedCaptions:
    """Captions keyed ``<dimension>/<video_id>``; the dimension comes from ``dimension_field``, the file name (a
    folder of ``<dimension>.jsonl`` files) or an id written ``<dimension>/<video_id>``."""
    source = config.captions
    id_field = source.id_field if source else "id"
    caption_field = source.caption_field if source else "caption"
    dimension_field = source.dimension_field if source else "dimension"

    def key_of(record: dict[str, Any], stem: str | None) -> str:
        video_id = str(dotted(record, id_field))
        try:
            dimension = str(dotted(record, dimension_field))
        except KeyError:
            # A folder of per-dimension files: camera.jsonl, or lmms-eval's camera_test.json.
            dimension = next((d for d in sorted(DIMENSIONS, key=len, reverse=True) if stem and d in stem), None)
        if dimension is None:
            dimension, slash, rest = video_id.partition("/")
            if not slash or dimension not in DIMENSIONS:
                raise ValueError(f"no dimension for id {video_id!r}: add '{dimension_field}' or write <dimension>/<id>")
            video_id = rest
        return caption_key(dimension, video_id)

    return read_captions(path, key_of, lambda record: text_field(record, caption_field))
