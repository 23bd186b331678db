"""``evaluate_dream1k``: caption (optionally), extract and judge events both ways, write the report.

One item is one sample: two chains run concurrently, extraction then precision (the extracted events judged
against the reference), and recall (the GT events judged against the prediction). Each call samples again until
its answer parses, up to ``judge.parse_attempts`` (official 10). The sample's record (every call's raw answer,
parsed value, attempts, failures) is appended to ``items.jsonl`` when its calls are done.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_jobs
from owlcap.config import validate_config
from owlcap.eval.config import deviations
from owlcap.eval.dream1k import prompts as dream_prompts
from owlcap.eval.dream1k.config import PRESETS, DreamEvalConfig, DreamProtocol, DreamScoring
from owlcap.eval.dream1k.data import DreamData, DreamItem, load, prediction_of
from owlcap.eval.dream1k.report import build_report, markdown, plot
from owlcap.eval.dream1k.scoring import score_item
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet, load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runner import PlannedItem, judge_and_report, judge_deviations
from owlcap.eval.runs import claim
from owlcap.hashing import json_digest

logger = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class SamplePayload:
    item: DreamItem
    prediction: str
    repeat: int


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


def _call(call: CallRecord | None) -> dict[str, Any] | None:
    return call.to_dict() if call is not None else None


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


def _identity(config: DreamEvalConfig, prompts: PromptSet) -> dict[str, Any]:
    return {
        "benchmark": "dream1k",
        "judge": config.judge.fingerprint(),
        "prompts": prompts.sha256,
        "protocol": config.protocol.model_dump(),
    }


def _plan(config: DreamEvalConfig, samples: list[DreamItem], captions: LoadedCaptions, prompts: PromptSet):
    identity = _identity(config, prompts)
    items = []
    for repeat in range(config.judge.repeats):
        for sample in samples:
            key = f"{sample.id}#{repeat}"
            prediction = captions.captions.get(sample.id)
            base = {"benchmark": "dream1k", "key": key, "id": sample.id, "idx": sample.idx, "repeat": repeat}
            base |= {"dataset": sample.dataset}
            if prediction is None:
                reason = captions.failed.get(sample.id, "no caption for this item")
                items.append(
                    PlannedItem(key, "", final=base | {"input_hash": None, "status": "no_caption", "reason": reason})
                )
                continue
            inputs = {"prediction": prediction, "reference": sample.reference, "events": list(sample.events)}
            input_hash = json_digest(inputs | {"identity": identity, "repeat": repeat})
            items.append(PlannedItem(key, input_hash, SamplePayload(sample, prediction, repeat)))
    return items


def _judge_deviations(config: DreamEvalConfig) -> dict[str, Any]:
    changed = judge_deviations(config.judge, PRESETS[config.preset]["judge"])
    return changed | deviations(config.protocol.model_dump(), PRESETS[config.preset]["protocol"], "protocol.")


def _captions(config: DreamEvalConfig, samples: list[DreamItem], prompts: PromptSet) -> tuple[LoadedCaptions, dict]:
    if config.captions is not None:
        return load_dream_captions(config, config.captions.path), {}
    prompt = prompts.get("caption_prompt")
    jobs = [CaptionJob(sample.id, sample.id, prompt) for sample in samples]
    path = config.out / CAPTIONS_FILE
    summary = caption_jobs(config.captioning, jobs, path)
    return load_dream_captions(config, path), summary


def evaluate_dream1k(config: DreamEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a DREAM-1K evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged sample in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(DreamEvalConfig, config, source="dream1k config")
    data: DreamData = load(config.annotations, dataset_prefix=config.dataset_prefix, duplicate_ids=config.duplicate_ids)
    prompts = load_prompt_set(
        config.prompts,
        benchmark="dream1k",
        search_dirs=[config.annotations.parent],
        required=dream_prompts.REQUIRED,
    )
    samples = data.items[: config.limit] if config.limit else data.items
    with claim(config.out):  # one evaluation writes a run folder at a time
        captions, caption_summary = _captions(config, samples, prompts)
        items = _plan(config, samples, captions, prompts)
        return judge_and_report(
            config,
            benchmark="dream1k",
            identity=_identity(config, prompts),
            items=items,
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
