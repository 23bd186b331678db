"""VDC's judge step: every question of every (dimension, video) asked twice of the judge.

One item is one (dimension, video) and judge repeat: its questions run as chains (answer from the caption, then the
verdict on that answer), all of the video's chains concurrently, so a judge server stays busy and a question's
second call follows its first at once. The item's record (every call's raw answer, attempts, failures) is appended
to ``items.jsonl`` when its last question is judged (``owlcap.eval.runner.judge_run``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.runner import Execution, PlannedItem, judge_identity, judge_run
from owlcap.eval.vdc import prompts as vdc_prompts
from owlcap.eval.vdc.captions import caption_key
from owlcap.eval.vdc.config import VDCEvalConfig, VDCProtocol, VDCScoring
from owlcap.eval.vdc.data import QA, VDCData
from owlcap.eval.vdc.scoring import literal_verdict, question_verdict
from owlcap.hashing import json_digest


@dataclass(frozen=True)
class VideoPayload:
    dimension: str
    video_id: str
    repeat: int
    caption: str
    caption_prompt: str | None
    qas: list[QA]


def judge(config: VDCEvalConfig, data: VDCData, captions: LoadedCaptions, prompts: PromptSet) -> Execution:
    """Judge every selected (dimension, video) with a caption, ``config.judge.repeats`` times, into the run folder;
    an item judged before with the same inputs is reused."""
    identity = judge_identity("vdc", config, prompts, {"raw_answer_in_verdict": config.protocol.raw_answer_in_verdict})
    return judge_run(
        config,
        benchmark="vdc",
        identity=identity,
        items=plan(config, data, captions, identity),
        judge_one=lambda session, item: judge_video(session, item, prompts, config.protocol, config.scoring),
    )


def plan(config: VDCEvalConfig, data: VDCData, captions: LoadedCaptions, identity: dict[str, Any]) -> list[PlannedItem]:
    """One item per judge repeat and (dimension, video); one without a caption is a final ``no_caption`` record."""
    items = []
    pairs = data.pairs(config.limit)
    for repeat in range(config.judge.repeats):
        for dimension, video_id in pairs:
            key = f"{caption_key(dimension, video_id)}#{repeat}"
            qas = data.dimensions[dimension].videos[video_id]
            caption = captions.captions.get(caption_key(dimension, video_id))
            base = {"benchmark": "vdc", "key": key, "dimension": dimension, "video_id": video_id, "repeat": repeat}
            if caption is None:
                reason = captions.failed.get(caption_key(dimension, video_id), "no caption for this video")
                items.append(PlannedItem.no_caption(key, base | {"questions": []}, reason))
                continue
            questions = [[qa.question, qa.answer] for qa in qas]
            input_hash = json_digest(
                {"caption": caption, "questions": questions, "identity": identity, "repeat": repeat}
            )
            prompt = captions.prompts.get(caption_key(dimension, video_id))
            payload = VideoPayload(dimension, video_id, repeat, caption, prompt, qas)
            items.append(PlannedItem(key, input_hash, payload))
    return items


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
