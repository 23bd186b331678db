"""CAPability's judge step: every annotated file judged against its caption, in the official retry rounds.

One item is one (dimension, file) and judge repeat: one judge call, or one per object for dynamic_object_number, in
order, stopping at the first that fails (the official worker returns at once). The official scorers give each
unjudged file one answer per round, for ``max_retry_times + 1`` rounds, and stop a dimension as soon as at most
``max_allow_missing`` of its files are unjudged, before the first round too: ``judge_in_rounds`` does the same,
each round a ``judge_run`` over the files still to judge; the files a stopped dimension leaves are recorded as
``skipped`` (or keep their failure) and left out of the numbers, as officially.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from owlcap.caption.files import LoadedCaptions
from owlcap.eval.capability import prompts as cap_prompts
from owlcap.eval.capability.answers import read_literal, validate_call
from owlcap.eval.capability.captions import caption_for, caption_key
from owlcap.eval.capability.config import CapEvalConfig, CapProtocol, CapScoring
from owlcap.eval.capability.data import CapData, CapRecord
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.runner import Execution, JudgeOne, PlannedItem, judge_identity, judge_run
from owlcap.eval.runs import RunDir
from owlcap.hashing import json_digest


@dataclass(frozen=True)
class FilePayload:
    record: CapRecord
    caption: str
    repeat: int


def judge(config: CapEvalConfig, data: CapData, captions: LoadedCaptions, prompts: PromptSet) -> Execution:
    """Judge every selected file with a caption, ``config.judge.repeats`` times, into the run folder, in rounds; a
    file judged before with the same inputs is reused."""
    # the retry rounds are not part of the identity: a run judged in more rounds holds the same answers
    identity = judge_identity("capability", config, prompts, {"protocol": config.protocol.model_dump()})
    return judge_in_rounds(
        config,
        identity,
        plan(config, data, captions, identity),
        lambda session, item: judge_file(session, item, prompts, config.protocol, config.scoring),
    )


def answer_parser(task: str, annotation: Any, index: int, scoring: CapScoring):
    """The ``Task.parse`` of one call: the official reading and check of the answer (``ValueError`` when refused)."""

    def parse_answer(text: str) -> dict[str, Any]:
        response = read_literal(text, strip=scoring.strip_answer)
        return validate_call(task, response, annotation, index, strict_match=scoring.strict_match)

    return parse_answer


async def judge_file(
    session: JudgeSession, item: PlannedItem, prompts: PromptSet, protocol: CapProtocol, scoring: CapScoring
) -> dict[str, Any]:
    """Judge one file's calls in order, stopping at the first that fails; ``RunStopped`` if the judge went away."""
    payload: FilePayload = item.payload
    record, caption = payload.record, payload.caption
    conversations = cap_prompts.judge_messages(prompts, record.task, caption, record.annotation, protocol)
    calls: list[CallRecord] = []
    async with session.chain():
        for index, messages in enumerate(conversations):
            call = await session.ask(
                cap_prompts.kind(record.task),
                cap_prompts.VERSION,
                messages,
                parse=answer_parser(record.task, record.annotation, index, scoring),
                offline=cap_prompts.offline_answer(record.task, caption, record.annotation, index),
                repeat=payload.repeat,
            )
            calls.append(call)
            if not call.ok:
                break
    judged = len(calls) == len(conversations) and all(call.ok for call in calls)
    return _base(item.key, record, payload.repeat) | {
        "input_hash": item.input_hash,
        "status": "judged" if judged else "failed",
        "caption": caption,
        "calls": [call.to_dict() for call in calls],
    }


def _base(key: str, record: CapRecord, repeat: int) -> dict[str, Any]:
    return {
        "benchmark": "capability",
        "key": key,
        "task": record.task,
        "file_id": record.file_id,
        "data_type": record.data_type,
        "repeat": repeat,
        "annotation": record.annotation,
    }


def plan(config: CapEvalConfig, data: CapData, captions: LoadedCaptions, identity: dict[str, Any]) -> list[PlannedItem]:
    """One item per judge repeat and (dimension, file); one without a caption is a final ``no_caption`` record."""
    items = []
    for repeat in range(config.judge.repeats):
        for task, records in data.tasks.items():
            for record in records[: config.limit] if config.limit else records:
                key = f"{caption_key(task, record.file_id)}#{repeat}"
                caption = caption_for(captions, record)
                if caption is None:
                    reason = captions.failed.get(record.file_id, "no caption for this file")
                    items.append(PlannedItem.no_caption(key, _base(key, record, repeat), reason))
                    continue
                inputs = {"caption": caption, "annotation": record.annotation, "identity": identity, "repeat": repeat}
                items.append(PlannedItem(key, json_digest(inputs), FilePayload(record, caption, repeat)))
    return items


def _done(old: dict[str, Any] | None, item: PlannedItem, keep_failures: bool) -> bool:
    if old is None or old.get("input_hash") != item.input_hash:
        return False
    return old.get("status") == "judged" or (keep_failures and old.get("status") == "failed")


def _left_out(item: PlannedItem, old: dict[str, Any] | None, allow: int) -> PlannedItem:
    """A file not judged this round: its record as it is (judged or failed with these inputs), else ``skipped``."""
    if old is not None and old.get("input_hash") == item.input_hash and old.get("status") in ("judged", "failed"):
        return PlannedItem(item.key, item.input_hash, final=old)
    payload: FilePayload = item.payload
    reason = (
        f"not judged: the official rounds stop once at most max_allow_missing ({allow}) file(s) of "
        f"{payload.record.task} are unjudged, and leave those out"
    )
    final = _base(item.key, payload.record, payload.repeat) | {
        "input_hash": item.input_hash,
        "status": "skipped",
        "reason": reason,
    }
    return PlannedItem(item.key, item.input_hash, final=final)


def _add_cost(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    summed = {key: (total.get(key) or 0) + (value or 0) for key, value in more.items() if key != "requests_per_s"}
    summed["wall_s"] = round(summed.get("wall_s", 0.0), 3)
    wall = summed["wall_s"]
    summed["requests_per_s"] = round(summed.get("requests", 0) / wall, 3) if wall > 0 else None
    return summed


def judge_in_rounds(
    config: CapEvalConfig, identity: dict[str, Any], items: list[PlannedItem], judge_one: JudgeOne
) -> Execution:
    """``judge_run`` in the official retry rounds (see the module docstring); the returned ``Execution`` covers them
    all (the first round's header, the last round's records, the summed cost)."""
    allow, rounds = config.retry.max_allow_missing, config.retry.max_retry_times + 1
    keep_failures = not config.rejudge_failed
    groups: dict[tuple[str, int], list[PlannedItem]] = {}
    for item in items:
        if item.final is None:
            groups.setdefault((item.payload.record.task, item.payload.repeat), []).append(item)
    later = config.model_copy(
        update={"overwrite": False, "judge": config.judge.model_copy(update={"preflight": False})}
    )
    run, total = RunDir(config.out), None
    for index in range(rounds):
        latest = {} if (index == 0 and config.overwrite) else run.latest()
        todo: set[str] = set()
        for members in groups.values():
            missing = [item.key for item in members if not _done(latest.get(item.key), item, keep_failures)]
            if len(missing) > allow:
                todo.update(missing)
        if index > 0 and not todo:
            break
        planned = [
            item if item.final is not None or item.key in todo else _left_out(item, latest.get(item.key), allow)
            for item in items
        ]
        execution = judge_run(
            config if total is None else later,  # the judge answered the preflight in the first round
            benchmark="capability",
            identity=identity,
            items=planned,
            judge_one=judge_one,
        )
        if total is None:
            total = execution
        else:
            total.records, total.stopped, total.not_judged = execution.records, execution.stopped, execution.not_judged
            total.judged += execution.judged
            total.errors += execution.errors
            total.cost = _add_cost(total.cost, execution.cost)
        if execution.stopped or not todo:
            break
    return total
