"""``evaluate_capability``: caption the videos (optionally), judge every annotated file in retry rounds, report.

One item is one (dimension, file): one judge call, or one per object for dynamic_object_number, in order, stopping
at the first that fails (the official worker returns at once). The official scorers give each unjudged file one
answer per round, for ``max_retry_times + 1`` rounds, and stop a dimension as soon as at most
``max_allow_missing`` of its files are unjudged, before the first round too: ``judge_in_rounds`` does the same,
each round an ``execute`` over the files still to judge; the files a stopped dimension leaves are recorded as
``skipped`` (or keep their failure) and left out of the numbers, as officially.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlcap.caption.files import LoadedCaptions, dotted, read_captions, text_field
from owlcap.caption.jobs import CaptionJob, caption_jobs
from owlcap.config import validate_config
from owlcap.eval.capability import prompts as cap_prompts
from owlcap.eval.capability.answers import read_literal, validate_call
from owlcap.eval.capability.config import PRESETS, TASKS, CapEvalConfig, CapProtocol, CapScoring
from owlcap.eval.capability.data import CapData, CapRecord, load
from owlcap.eval.capability.report import build_report, markdown, plot
from owlcap.eval.config import deviations
from owlcap.eval.judging import CallRecord, JudgeSession
from owlcap.eval.prompt_sets import PromptSet, load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runner import Execution, PlannedItem, execute, judge_and_report, judge_deviations
from owlcap.eval.runs import RunDir
from owlcap.hashing import json_digest

CAPTIONS_FILE = "captions.jsonl"


@dataclass(frozen=True)
class FilePayload:
    record: CapRecord
    caption: str
    repeat: int


def caption_key(task: str, file_id: str) -> str:
    return f"{task}/{file_id}"


def load_cap_captions(config: CapEvalConfig, path: Path) -> LoadedCaptions:
    """Captions keyed ``<dimension>/<file_id>`` (a folder of per-dimension files, the official layout:
    ``<dimension>.jsonl`` or lmms-eval's ``..._samples_capability_<dimension>.jsonl``; or a ``task`` field) or by
    ``file_id`` alone (one caption per file, shared by the dimensions that annotate it). An ``id`` field is read
    from ``file_id`` when the record has no ``id`` (the official caption files)."""
    source = config.captions
    id_field = source.id_field if source else "id"
    caption_field = source.caption_field if source else "caption"
    by_length = sorted(TASKS, key=len, reverse=True)

    def key_of(record: dict[str, Any], stem: str | None) -> str:
        try:
            file_id = str(dotted(record, id_field))
        except KeyError:
            if id_field != "id" or "file_id" not in record:
                raise
            file_id = str(record["file_id"])
        task = record.get("task")
        if not isinstance(task, str) or task not in TASKS:
            task = next((t for t in by_length if stem and (stem == t or stem.endswith(f"capability_{t}"))), None)
        return caption_key(task, file_id) if task else file_id

    return read_captions(path, key_of, lambda record: text_field(record, caption_field))


def caption_for(captions: LoadedCaptions, record: CapRecord) -> str | None:
    """A file's caption: its dimension's, else (action only) event's, as the official scorer copies event's
    caption file for action; else the one caption of its ``file_id``."""
    for key in (caption_key(record.task, record.file_id), caption_key("event", record.file_id), record.file_id):
        if key in captions.captions and (not key.startswith("event/") or record.task in ("action", "event")):
            return captions.captions[key]
    return None


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


def _identity(config: CapEvalConfig, prompts: PromptSet) -> dict[str, Any]:
    return {
        "benchmark": "capability",
        "judge": config.judge.fingerprint(),
        "prompts": prompts.sha256,
        "protocol": config.protocol.model_dump(),
    }


def _plan(config: CapEvalConfig, data: CapData, captions: LoadedCaptions, prompts: PromptSet) -> list[PlannedItem]:
    identity = _identity(config, prompts)
    items = []
    for repeat in range(config.judge.repeats):
        for task, records in data.tasks.items():
            for record in records[: config.limit] if config.limit else records:
                key = f"{caption_key(task, record.file_id)}#{repeat}"
                caption = caption_for(captions, record)
                if caption is None:
                    reason = captions.failed.get(record.file_id, "no caption for this file")
                    final = _base(key, record, repeat) | {"input_hash": None, "status": "no_caption", "reason": reason}
                    items.append(PlannedItem(key, "", final=final))
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


def rounds_executor(config: CapEvalConfig):
    """``execute`` in the official retry rounds (see the module docstring), as ``judge_and_report``'s executor."""
    allow, rounds = config.retry.max_allow_missing, config.retry.max_retry_times + 1
    keep_failures = not config.rejudge_failed

    def judge_in_rounds(run: RunDir, header, items: list[PlannedItem], judge, judge_one, **kwargs) -> Execution:
        groups: dict[tuple[str, int], list[PlannedItem]] = {}
        for item in items:
            if item.final is None:
                groups.setdefault((item.payload.record.task, item.payload.repeat), []).append(item)
        total: Execution | None = None
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
            description = f"capability, round {index + 1} of {rounds}"
            overwrite = config.overwrite and index == 0
            execution = execute(
                run,
                header,
                planned,
                judge,
                judge_one,
                overwrite=overwrite,
                rejudge_failed=True,
                description=description,
            )
            if total is None:
                total = execution
            else:
                total.records, total.stopped = execution.records, execution.stopped
                total.judged += execution.judged
                total.not_judged = execution.not_judged
                total.errors += execution.errors
                total.cost = _add_cost(total.cost, execution.cost)
            if execution.stopped or not todo:
                break
        return total

    return judge_in_rounds


def _judge_deviations(config: CapEvalConfig) -> dict[str, Any]:
    official = PRESETS[config.preset]
    changed = judge_deviations(config.judge, official["judge"])
    changed |= deviations(config.protocol.model_dump(), official["protocol"], "protocol.")
    return changed | deviations(config.retry.model_dump(), official["retry"], "retry.")


def _captions(config: CapEvalConfig, data: CapData, prompts: PromptSet) -> tuple[LoadedCaptions, dict]:
    if config.captions is not None:
        return load_cap_captions(config, config.captions.path), {}
    prompt = prompts.get("caption_prompts", "video")
    jobs: dict[str, CaptionJob] = {}
    for records in data.tasks.values():
        for record in records[: config.limit] if config.limit else records:
            jobs.setdefault(record.file_id, CaptionJob(record.file_id, record.video_id, prompt))
    path = config.out / CAPTIONS_FILE
    summary = caption_jobs(config.captioning, list(jobs.values()), path)
    return load_cap_captions(config, path), summary


def evaluate_capability(config: CapEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a CAPability evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged file in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(CapEvalConfig, config, source="capability config")
    data = load(config.annotations, config.dimensions)
    prompts = load_prompt_set(
        config.prompts, benchmark="capability", search_dirs=[config.annotations], required=cap_prompts.REQUIRED
    )
    config.out.mkdir(parents=True, exist_ok=True)
    captions, caption_summary = _captions(config, data, prompts)
    notes = data.notes() | {"retry": config.retry.model_dump()}
    return judge_and_report(
        config,
        benchmark="capability",
        identity=_identity(config, prompts),
        items=_plan(config, data, captions, prompts),
        judge_one=lambda session, item: judge_file(session, item, prompts, config.protocol, config.scoring),
        prompts=prompts,
        captions=captions,
        caption_summary=caption_summary,
        data_notes=notes,
        judge_deviations=_judge_deviations(config),
        build=build_report,
        markdown=markdown,
        plot=plot,
        executor=rounds_executor(config),
    )
