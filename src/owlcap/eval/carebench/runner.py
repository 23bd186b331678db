"""``evaluate_carebench``: caption (optionally), extract and judge events and objects both ways, write the report.

One item is one sample. Per aspect (events, objects) two chains run concurrently: the reference's units (the
annotation's, or extracted from the reference caption) judged against the prediction (recall), and the
prediction's units extracted then judged against the reference (precision). Each call samples again until its
answer parses, up to ``judge.parse_attempts`` (official 10). The sample's record (every call's raw answer, parsed
value, attempts, failures) is appended to ``items.jsonl`` when its calls are done.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_jobs
from owlcap.config import validate_config
from owlcap.eval.carebench import prompts as care_prompts
from owlcap.eval.carebench.config import ASPECTS, PRESETS, CareEvalConfig, CareProtocol, CareScoring
from owlcap.eval.carebench.data import CareData, CareItem, load, official_descriptions
from owlcap.eval.carebench.report import build_report, markdown, plot
from owlcap.eval.carebench.scoring import score_item
from owlcap.eval.config import deviations
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet, load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runner import PlannedItem, judge_and_report, judge_deviations
from owlcap.hashing import file_digest, json_digest

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class SamplePayload:
    item: CareItem
    prediction: str
    repeat: int


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


def _call(call: CallRecord | None) -> dict[str, Any] | None:
    return call.to_dict() if call is not None else None


async def judge_sample(
    session: JudgeSession, item: PlannedItem, prompts: PromptSet, protocol: CareProtocol, scoring: CareScoring
) -> dict[str, Any]:
    """Judge one sample's calls (up to eight); ``RunStopped`` if the judge went away."""
    payload: SamplePayload = item.payload
    sample, prediction, repeat = payload.item, payload.prediction, payload.repeat

    async def extract(aspect: care_prompts.Aspect, caption: str) -> CallRecord:
        return await session.ask(
            care_prompts.kind(aspect.name, "extraction"),
            care_prompts.VERSION,
            care_prompts.extraction_messages(prompts, caption, aspect, protocol),
            parse=aspect.parse_extraction,
            offline=care_prompts.offline_extraction(caption, aspect, protocol),
            repeat=repeat,
        )

    async def entail(aspect, description: str, units: list[Any], other: str, units_repr: str | None) -> CallRecord:
        if not units and not protocol.judge_empty_lists:
            return CallRecord(None, [], 0)
        return await session.ask(
            care_prompts.kind(aspect.name, "entailment"),
            care_prompts.VERSION,
            care_prompts.entailment_messages(
                prompts, aspect, description, units, other, protocol, units_repr=units_repr
            ),
            parse=aspect.entailment_parser(len(units)),
            offline=care_prompts.offline_entailment(aspect, description, units, other, protocol),
            repeat=repeat,
        )

    async def recall(aspect) -> tuple[CallRecord | None, CallRecord | None]:
        """The reference's units (extracted first when the annotation has none) judged against the prediction."""
        async with session.chain():
            annotated = None if protocol.reference_units == "extract" else sample.units(aspect.name)
            extracted = None
            if annotated is None:
                extracted = await extract(aspect, sample.caption)
                if not extracted.ok:
                    return extracted, None
                units, units_repr = extracted.value[aspect.name], extracted.value["repr"]
            else:
                units, units_repr = list(annotated), None
            return extracted, await entail(aspect, prediction, units, sample.caption, units_repr)

    async def precision(aspect) -> tuple[CallRecord, CallRecord | None]:
        """The prediction's units, extracted, judged against the reference."""
        async with session.chain():
            extracted = await extract(aspect, prediction)
            if not extracted.ok:
                return extracted, None
            units = extracted.value[aspect.name]
            return extracted, await entail(aspect, sample.caption, units, prediction, extracted.value["repr"])

    aspects = [care_prompts.ASPECTS[name] for name in ASPECTS]
    chains = await asyncio.gather(*(chain(aspect) for aspect in aspects for chain in (recall, precision)))
    record: dict[str, Any] = {
        "benchmark": "carebench",
        "key": item.key,
        "id": sample.id,
        "idx": sample.idx,
        "category": sample.category,
        "repeat": repeat,
        "input_hash": item.input_hash,
        "prediction": prediction,
        "reference": sample.caption,
    }
    failed = False
    for index, aspect in enumerate(aspects):
        (reference_extraction, recalled), (extracted, precise) = chains[2 * index], chains[2 * index + 1]
        annotated = None if protocol.reference_units == "extract" else sample.units(aspect.name)
        calls = [extracted, recalled, precise] + ([] if annotated is not None else [reference_extraction])
        failed = failed or not all(call is not None and call.ok for call in calls)
        record[aspect.name] = {
            "reference_units": list(annotated) if annotated is not None else None,
            "reference_extraction": _call(reference_extraction),
            "extraction": _call(extracted),
            "recall": _call(recalled),
            "precision": _call(precise),
        }
    record["status"] = "failed" if failed else "judged"
    scored = score_item(record, scoring)
    record["scores"] = {
        name: {"recall": score.recall, "precision": score.precision} for name, score in scored.aspects.items()
    }
    return record


def _identity(config: CareEvalConfig, prompts: PromptSet) -> dict[str, Any]:
    return {
        "benchmark": "carebench",
        "judge": config.judge.fingerprint(),
        "prompts": prompts.sha256,
        "protocol": config.protocol.model_dump(),
    }


def _plan(config: CareEvalConfig, samples: list[CareItem], captions: LoadedCaptions, prompts: PromptSet):
    identity = _identity(config, prompts)
    items = []
    for repeat in range(config.judge.repeats):
        for sample in samples:
            key = f"{sample.id}#{repeat}"
            prediction = captions.captions.get(sample.id)
            base = {"benchmark": "carebench", "key": key, "id": sample.id, "idx": sample.idx, "repeat": repeat}
            base["category"] = sample.category
            if prediction is None:
                reason = captions.failed.get(sample.id, "no caption for this item")
                items.append(
                    PlannedItem(key, "", final=base | {"input_hash": None, "status": "no_caption", "reason": reason})
                )
                continue
            inputs = {
                "prediction": prediction,
                "reference": sample.caption,
                "events": sample.events,
                "objects": sample.objects,
            }
            input_hash = json_digest(inputs | {"identity": identity, "repeat": repeat})
            items.append(PlannedItem(key, input_hash, SamplePayload(sample, prediction, repeat)))
    return items


def _judge_deviations(config: CareEvalConfig) -> dict[str, Any]:
    changed = judge_deviations(config.judge, PRESETS[config.preset]["judge"])
    return changed | deviations(config.protocol.model_dump(), PRESETS[config.preset]["protocol"], "protocol.")


def _captions(
    config: CareEvalConfig, data: CareData, samples: list[CareItem], prompts: PromptSet
) -> tuple[LoadedCaptions, dict]:
    if config.captions is not None:
        return load_care_captions(config, data, config.captions.path), {}
    prompt = prompts.get("caption_prompt")
    jobs = [CaptionJob(sample.id, sample.id, prompt) for sample in samples]
    path = config.out / CAPTIONS_FILE
    summary = caption_jobs(config.captioning, jobs, path)
    return load_care_captions(config, data, path), summary


def evaluate_carebench(config: CareEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a CaReBench evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged sample in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(CareEvalConfig, config, source="carebench config")
    data = load(config.annotations)
    prompts = load_prompt_set(
        config.prompts, benchmark="carebench", search_dirs=[config.annotations.parent], required=care_prompts.REQUIRED
    )
    samples = data.items[: config.limit] if config.limit else data.items
    config.out.mkdir(parents=True, exist_ok=True)
    captions, caption_summary = _captions(config, data, samples, prompts)
    return judge_and_report(
        config,
        benchmark="carebench",
        identity=_identity(config, prompts),
        items=_plan(config, samples, captions, prompts),
        judge_one=lambda session, item: judge_sample(session, item, prompts, config.protocol, config.scoring),
        prompts=prompts,
        captions=captions,
        caption_summary=caption_summary,
        data_notes=data.notes(),
        judge_deviations=_judge_deviations(config),
        build=build_report,
        markdown=markdown,
        plot=plot,
    )
