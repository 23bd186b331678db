"""CaReBench's judge step: events and objects extracted and judged both ways, for every sample with a caption.

One item is one sample and judge repeat. Per kind (events, objects) two chains run concurrently: the reference's
units (the annotation's, or extracted from the reference caption) judged against the prediction (recall), and the
prediction's units extracted then judged against the reference (precision). Each call samples again until its
answer parses, up to ``judge.parse_attempts`` (official 10). The sample's record (every call's raw answer, parsed
value, attempts, failures) is appended to ``items.jsonl`` when its calls are done (``owlcap.eval.runner.judge_run``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.carebench import prompts as care_prompts
from owlcap.eval.carebench.config import ASPECTS, CareEvalConfig, CareProtocol, CareScoring
from owlcap.eval.carebench.data import CareData, CareItem
from owlcap.eval.carebench.scoring import score_item
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.runner import Execution, PlannedItem, judge_identity, judge_run
from owlcap.hashing import json_digest


@dataclass(frozen=True)
class SamplePayload:
    item: CareItem
    prediction: str
    repeat: int


def judge(config: CareEvalConfig, data: CareData, captions: LoadedCaptions, prompts: PromptSet) -> Execution:
    """Judge every selected sample with a caption, ``config.judge.repeats`` times, into the run folder; a sample
    judged before with the same inputs is reused."""
    identity = judge_identity("carebench", config, prompts, {"protocol": config.protocol.model_dump()})
    return judge_run(
        config,
        benchmark="carebench",
        identity=identity,
        items=plan(config, data, captions, identity),
        judge_one=lambda session, item: judge_sample(session, item, prompts, config.protocol, config.scoring),
    )


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


def plan(
    config: CareEvalConfig, data: CareData, captions: LoadedCaptions, identity: dict[str, Any]
) -> list[PlannedItem]:
    """One item per judge repeat and sample; one without a caption is a final ``no_caption`` record."""
    items = []
    samples = data.selected(config.limit)
    for repeat in range(config.judge.repeats):
        for sample in samples:
            key = f"{sample.id}#{repeat}"
            prediction = captions.captions.get(sample.id)
            base = {"benchmark": "carebench", "key": key, "id": sample.id, "idx": sample.idx, "repeat": repeat}
            base["category"] = sample.category
            if prediction is None:
                reason = captions.failed.get(sample.id, "no caption for this item")
                items.append(PlannedItem.no_caption(key, base, reason))
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
