"""Pairs from two or more caption files of the same videos, scored against reference captions.

Each caption of a video (one per file: other models, checkpoints, prompts) is scored against the video's reference
caption with CSER plus ``length_weight`` x the length reward (the paper's GRPO reward by default); the best-scored
caption is chosen against the worst when the margin exceeds ``captions.min_margin``. This is VDC-Agent's
self-scored pairs with a reference in place of its principles, and AVC-DPO's prompt-contrast pairs when the files
come from one model under different prompts: the pair's prompt is the plain one (``prompt``, or the reference
record's own), so the captioner learns to write unprompted what the enhanced prompt drew out. A judge failure on
any caption of a video fails that video's item (retried by a re-run): a failure is never a score.
"""

from __future__ import annotations

import logging
from pathlib import Path

from owlcap.data.pairs.config import PairsConfig
from owlcap.data.pairs.items import Item, ItemOutcome, Models, Planned, item_id
from owlcap.data.pairs.schema import PreferencePair, same_text
from owlcap.data.records import CaptionExample, read_caption_examples
from owlcap.errors import DataError, JudgeError
from owlcap.jsonl import iter_jsonl

logger = logging.getLogger(__name__)


def plan_captions(config: PairsConfig) -> Planned:
    """One item per reference video that two or more caption files caption."""
    planned = Planned()
    section = config.captions
    if not section.files:
        return planned
    references, errors = read_caption_examples(section.references, check_files=False)
    planned.bad_lines += [str(error) for error in errors]
    names = [Path(path).name for path in section.files]
    files = {}
    for path, name in zip(section.files, names, strict=True):
        captions, bad = read_caption_file(Path(path))
        planned.bad_lines += bad
        files[name if names.count(name) == 1 else str(path)] = captions  # a file's name says which it is
    for reference in references:
        captions = {name: found[reference.id] for name, found in files.items() if reference.id in found}
        if len(captions) < 2:
            planned.skipped["captions: a reference video captioned by fewer than 2 files"] += 1
            continue
        planned.items.append(_item(reference, captions, config))
    return planned


def read_caption_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The caption of each id in an owlcap caption file (a later success replaces a failure), and its bad lines."""
    if not path.is_file():
        raise DataError(path, "no such caption file")
    captions: dict[str, str] = {}
    bad: list[str] = []
    for line in iter_jsonl(path):
        record = line.record
        if line.error is not None:
            bad.append(str(line.error))
            continue
        if record.get("error"):
            continue
        if not isinstance(record.get("id"), (str, int)) or not isinstance(record.get("caption"), str):
            bad.append(str(DataError(path, "needs an 'id' and a string 'caption'", line.line)))
            continue
        if record["caption"].strip():
            captions[str(record["id"])] = record["caption"].strip()
    return captions, bad


def _item(reference: CaptionExample, captions: dict[str, str], config: PairsConfig) -> Item:
    section = config.captions
    scoring = section.model_dump(mode="json", exclude={"files", "references"})
    inputs = {"reference": reference.to_dict(), "captions": captions, "scoring": scoring, "prompt": config.prompt}

    async def make(models: Models) -> ItemOutcome:
        return await _pair(reference, captions, config, models)

    return Item(item_id("captions", inputs), "captions", reference.id, make)


async def _pair(reference: CaptionExample, captions: dict[str, str], config: PairsConfig, models: Models):
    from owlcap.reward import length_reward

    section = config.captions
    names = list(captions)
    cser = models.cser(section.judge, section.cser)
    results = await cser.score_group([captions[name] for name in names], reference.caption)
    failed = [f"{name}: {result.error}" for name, result in zip(names, results, strict=True) if result.failed]
    if failed:
        raise JudgeError(f"CSER could not score {len(failed)} caption(s) of {reference.id}: {failed[0]}")
    scores = {
        name: result.reward + section.length_weight * length_reward(captions[name], section.length)
        for name, result in zip(names, results, strict=True)
    }
    best = max(names, key=scores.__getitem__)
    worst = min(names, key=scores.__getitem__)
    outcome = ItemOutcome()
    if scores[best] - scores[worst] <= section.min_margin or same_text(captions[best], captions[worst]):
        outcome.notes.append(f"captions: a video whose score margin is not above min_margin={section.min_margin:g}")
        return outcome
    listed = ", ".join(f"{name} {scores[name]:.3f}" for name in names)
    outcome.pairs.append(
        PreferencePair(
            video_id=reference.id,
            video=reference.video,
            prompt=reference.prompt or config.prompt,
            chosen=captions[best],
            rejected=captions[worst],
            chosen_score=scores[best],
            rejected_score=scores[worst],
            source="captions",
            why=f"CSER ({section.judge}) + {section.length_weight:g} x length vs the reference: {listed}",
            origin=f"{best} > {worst}",
            start=reference.start,
            end=reference.end,
            system=reference.system,
        )
    )
    return outcome
