"""DREAM-1K's judge step: events extracted from each caption and entailment judged both ways.

One item is one sample and judge repeat: two chains run concurrently, extraction then precision (the extracted
events judged against the reference), and recall (the GT events judged against the prediction). Each call samples
again until its answer parses, up to ``judge.parse_attempts`` (official 10). The sample's record (every call's raw
answer, parsed value, attempts, failures) is appended to ``items.jsonl`` when its calls are done
(``owlcap.eval.runner.judge_run``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.dream1k import prompts as dream_prompts
from owlcap.eval.dream1k.config import DreamEvalConfig, DreamProtocol, DreamScoring
from owlcap.eval.dream1k.data import DreamData, DreamItem
from owlcap.eval.dream1k.scoring import score_item
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.runner import Execution, PlannedItem, judge_identity, judge_run
from owlcap.hashing import json_digest


@dataclass(frozen=True)
class SamplePayload:
    item: DreamItem
    prediction: str
    repeat: int


def judge(config: DreamEvalConfig, data: DreamData, captions: LoadedCaptions, prompts: PromptSet) -> Execution:
    """Judge every selected sample with a caption, ``config.judge.repeats`` times, into the run folder; a sample
    judged before with the same inputs is reused."""
    identity = judge_identity("dream1k", config, prompts, {"protocol": config.protocol.model_dump()})
    return judge_run(
        config,
        benchmark="dream1k",
        identity=identity,
        items=plan(config, data, captions, identity),
        judge_one=lambda session, item: judge_sample(session, item, prompts, config.protocol, config.scoring),
    )


def plan(
    config: DreamEvalConfig, data: DreamData, captions: LoadedCaptions, identity: dict[str, Any]
) -> list[PlannedItem]:
    """One item per judge repeat and sample; one without a caption is a final ``no_caption`` record."""
    items = []
    samples = data.selected(config.limit)
    for repeat in range(config.judge.repeats):
        for sample in samples:
            key = f"{sample.id}#{repeat}"
            prediction = captions.captions.get(sample.id)
            base = {"benchmark": "dream1k", "key": key, "id": sample.id, "idx": sample.idx, "repeat": repeat}
            base |= {"dataset": sample.dataset}
            if prediction is None:
                reason = captions.failed.get(sample.id, "no caption for this item")
                items.append(PlannedItem.no_caption(key, base, reason))
                continue
            inputs = {"prediction": prediction, "reference": sample.reference, "events": list(sample.events)}
            input_hash = json_digest(inputs | {"identity": identity, "repeat": repeat})
            items.append(PlannedItem(key, input_hash, SamplePayload(sample, prediction, repeat)))
    return items


async def judge_sample(
    session: JudgeSession, item: PlannedItem, prompts: PromptSet, protocol: DreamProtocol, scoring: DreamScoring
) -> dict[str, Any]:
    """Judge one sample's three calls; ``RunStopped`` if the judge went away."""
    payload: SamplePayload = item.payload
    sample, prediction, repeat = payload.item, payload.prediction, payload.repeat
    kind, version = dream_prompts.ENTAIL_KIND, dream_prompts.VERSION

    async def entail(description: str, events: list[Any], other: str, events_repr: str | None = None) -> CallRecord:
        if not events and not protocol.judge_empty_event_lists:
            return CallRecord(None, [], 0)
        messages = dream_prompts.entailment_messages(
            prompts, description, events, other, protocol, events_repr=events_repr
        )
        parse = dream_prompts.entailment_parser(len(events))
        offline = dream_prompts.offline_entailment(description, events, other, protocol)
        return await session.ask(kind, version, messages, parse=parse, offline=offline, repeat=repeat)

    async def extraction_then_precision() -> tuple[CallRecord, CallRecord | None]:
        async with session.chain():
            messages = dream_prompts.extraction_messages(prompts, prediction, protocol)
            extracted = await session.ask(
                dream_prompts.EXTRACT_KIND,
                version,
                messages,
                parse=dream_prompts.parse_events,
                offline=dream_prompts.offline_events(prediction, protocol),
                repeat=repeat,
            )
            if not extracted.ok:
                return extracted, None
            events = extracted.value["events"]
            return extracted, await entail(sample.reference, events, prediction, extracted.value["repr"])

    async def recall() -> CallRecord:
        async with session.chain():
            return await entail(prediction, list(sample.events), sample.reference)

    (extracted, precision), recalled = await asyncio.gather(extraction_then_precision(), recall())
    failed = not (extracted.ok and recalled.ok and precision is not None and precision.ok)
    record = {
        "benchmark": "dream1k",
        "key": item.key,
        "id": sample.id,
        "idx": sample.idx,
        "dataset": sample.dataset,
        "repeat": repeat,
        "input_hash": item.input_hash,
        "status": "failed" if failed else "judged",
        "counts": {"n_events": sample.n_events, "n_shots": sample.n_shots, "n_subjects": sample.n_subjects},
        "prediction": prediction,
        "reference": sample.reference,
        "events_gt": list(sample.events),
        "extraction": _call(extracted),
        "recall": _call(recalled),
        "precision": _call(precision),
    }
    scored = score_item(record, scoring)
    record["scores"] = {"recall": scored.recall, "precision": scored.precision}
    return record


def _call(call: CallRecord | None) -> dict[str, Any] | None:
    return call.to_dict() if call is not None else None
