"""``evaluate_vdc``: caption (optionally), judge every question with two calls, write the report.

One item is one (dimension, video): its questions run as chains (answer from the caption, then the verdict on that
answer), all of the video's chains concurrently, so a judge server stays busy and a question's second call follows
its first at once. The item's record (every call's raw answer, attempts, failures) is appended to ``items.jsonl``
when its last question is judged.
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
from owlcap.errors import DataError
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet, load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runner import PlannedItem, judge_and_report, judge_deviations
from owlcap.eval.vdc import prompts as vdc_prompts
from owlcap.eval.vdc.config import PRESETS, VDCEvalConfig, VDCProtocol, VDCScoring
from owlcap.eval.vdc.data import DIMENSIONS, QA, VDCData, load
from owlcap.eval.vdc.report import build_report, markdown, plot
from owlcap.eval.vdc.scoring import literal_verdict, question_verdict
from owlcap.hashing import json_digest

logger = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class VideoPayload:
    dimension: str
    video_id: str
    repeat: int
    caption: str
    caption_prompt: str | None
    qas: list[QA]


def selected(data: VDCData, limit: int | None) -> list[tuple[str, str]]:
    """(dimension, video) pairs to evaluate: every video with questions, or those of the first ``limit`` videos."""
    videos = data.video_ids()
    chosen = set(videos[:limit]) if limit else None
    return [
        (dimension, video_id)
        for dimension, dimension_data in data.dimensions.items()
        for video_id in dimension_data.videos
        if chosen is None or video_id in chosen
    ]


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


def _question_record(qa: QA, answer: CallRecord, verdict: CallRecord | None, scoring: VDCScoring) -> dict[str, Any]:
    record = {
        "question": qa.question,
        "answer": qa.answer,
        "answer_call": _call(answer),
        "verdict_call": _call(verdict) if verdict is not None else None,
    }
    parsed = question_verdict(record, scoring)
    record["verdict"] = {"status": parsed.status, "yes": parsed.yes, "score": parsed.score}
    return record


def _call(call: CallRecord) -> dict[str, Any]:
    data = call.to_dict()
    data.pop("value")  # the text itself: ``raw`` holds it untrimmed
    return data


async def judge_video(
    session: JudgeSession,
    item: PlannedItem,
    prompts: PromptSet,
    protocol: VDCProtocol,
    scoring: VDCScoring,
) -> dict[str, Any]:
    """Judge one (dimension, video): every question's two calls; ``RunStopped`` if the judge went away."""
    payload: VideoPayload = item.payload

    async def question(qa: QA) -> dict[str, Any]:
        async with session.chain():
            messages = vdc_prompts.answer_messages(prompts, payload.caption, qa.question)
            offline = vdc_prompts.offline_answer(payload.caption, qa.question)
            answer = await session.ask(
                vdc_prompts.ANSWER_KIND, vdc_prompts.VERSION, messages, offline=offline, repeat=payload.repeat
            )
            if not answer.ok:
                return _question_record(qa, answer, None, scoring)
            text = answer.raw if protocol.raw_answer_in_verdict and answer.raw is not None else answer.value
            messages = vdc_prompts.verdict_messages(prompts, qa.question, qa.answer, text or "")
            verdict = await session.ask(
                vdc_prompts.VERDICT_KIND,
                vdc_prompts.VERSION,
                messages,
                parse=literal_verdict,
                offline=vdc_prompts.offline_verdict(qa.answer, text or ""),
                repeat=payload.repeat,
            )
        return _question_record(qa, answer, verdict, scoring)

    results = await asyncio.gather(*(question(qa) for qa in payload.qas), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    failed = any(q["answer_call"]["error"] or (q["verdict_call"] or {}).get("error") for q in results)
    return {
        "benchmark": "vdc",
        "key": item.key,
        "dimension": payload.dimension,
        "video_id": payload.video_id,
        "repeat": payload.repeat,
        "input_hash": item.input_hash,
        "status": "failed" if failed else "judged",
        "caption": payload.caption,
        "caption_prompt": payload.caption_prompt,
        "questions": results,
    }


def _plan(
    config: VDCEvalConfig, data: VDCData, pairs: list[tuple[str, str]], captions: LoadedCaptions, prompts: PromptSet
) -> list[PlannedItem]:
    identity = _identity(config, prompts)
    items = []
    for repeat in range(config.judge.repeats):
        for dimension, video_id in pairs:
            key = f"{caption_key(dimension, video_id)}#{repeat}"
            qas = data.dimensions[dimension].videos[video_id]
            caption = captions.captions.get(caption_key(dimension, video_id))
            base = {"benchmark": "vdc", "key": key, "dimension": dimension, "video_id": video_id, "repeat": repeat}
            if caption is None:
                reason = captions.failed.get(caption_key(dimension, video_id), "no caption for this video")
                final = base | {"input_hash": None, "status": "no_caption", "reason": reason, "questions": []}
                items.append(PlannedItem(key, "", final=final))
                continue
            questions = [[qa.question, qa.answer] for qa in qas]
            input_hash = json_digest(
                {"caption": caption, "questions": questions, "identity": identity, "repeat": repeat}
            )
            prompt = captions.prompts.get(caption_key(dimension, video_id))
            payload = VideoPayload(dimension, video_id, repeat, caption, prompt, qas)
            items.append(PlannedItem(key, input_hash, payload))
    return items


def _identity(config: VDCEvalConfig, prompts: PromptSet) -> dict[str, Any]:
    return {
        "benchmark": "vdc",
        "judge": config.judge.fingerprint(),
        "prompts": prompts.sha256,
        "raw_answer_in_verdict": config.protocol.raw_answer_in_verdict,
    }


def _captions(config: VDCEvalConfig, data: VDCData, pairs, prompts: PromptSet) -> tuple[LoadedCaptions, dict]:
    if config.captions is not None:
        return load_vdc_captions(config, config.captions.path), {}
    chosen = vdc_prompts.caption_prompts(data, prompts, config.protocol)
    jobs = [CaptionJob(caption_key(d, v), v, chosen[(d, v)]) for d, v in pairs]
    path = config.out / CAPTIONS_FILE
    summary = caption_jobs(config.captioning, jobs, path)
    return load_vdc_captions(config, path), summary


def _check_layout(config: VDCEvalConfig, captions: LoadedCaptions, pairs: list[tuple[str, str]]) -> None:
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


def evaluate_vdc(config: VDCEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a VDC evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged item in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(VDCEvalConfig, config, source="vdc config")
    data = load(config.qa_dir, config.dimensions, duplicate_keys=config.duplicate_keys)
    prompts = load_prompt_set(
        config.prompts, benchmark="vdc", search_dirs=[config.qa_dir], required=vdc_prompts.REQUIRED
    )
    pairs = selected(data, config.limit)
    config.out.mkdir(parents=True, exist_ok=True)
    captions, caption_summary = _captions(config, data, pairs, prompts)
    _check_layout(config, captions, pairs)
    items = _plan(config, data, pairs, captions, prompts)
    return judge_and_report(
        config,
        benchmark="vdc",
        identity=_identity(config, prompts),
        items=items,
        judge_one=lambda session, item: judge_video(session, item, prompts, config.protocol, config.scoring),
        prompts=prompts,
        captions=captions,
        caption_summary=caption_summary,
        data_notes=data.notes(),
        judge_deviations=judge_deviations(config.judge, PRESETS[config.preset]["judge"]),
        build=build_report,
        markdown=markdown,
        plot=plot,
    )
