"""What every benchmark run does around its own judging: caption (optionally), resume, judge, count, compact.

A benchmark plans its items (``PlannedItem``: key, hash of the judge's inputs, what to judge) and gives the
coroutine that judges one; ``execute`` reuses the items already judged with the same inputs, judges the rest
concurrently through a ``JudgeSession``, appends each record as it finishes, and rewrites ``items.jsonl`` in
benchmark order at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlcap.eval.config import deviations
from owlcap.eval.judging import JudgeConfig, JudgeSession, judge_items, judge_notes, run_judging
from owlcap.eval.report import EvalResult, write_outputs
from owlcap.eval.runs import RunDir
from owlcap.jsonl import JsonlWriter
from owlcap.llm import StatsSnapshot, parse_spec

logger = logging.getLogger(__name__)


@dataclass
class PlannedItem:
    """One item to judge: its key in ``items.jsonl``, the hash of everything the judge will see, the benchmark's
    payload; or ``final``, a record written as it is (an item without a caption)."""

    key: str
    input_hash: str
    payload: Any = None
    final: dict[str, Any] | None = None


@dataclass
class Execution:
    records: list[dict[str, Any]]
    reused: int = 0
    judged: int = 0
    not_judged: int = 0
    stopped: str | None = None
    errors: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)


def execute(
    run: RunDir,
    header: dict[str, Any],
    items: list[PlannedItem],
    judge: JudgeConfig,
    judge_one: Callable[[JudgeSession, PlannedItem], Awaitable[dict[str, Any] | None]],
    *,
    overwrite: bool,
    rejudge_failed: bool,
    description: str,
) -> Execution:
    """Judge what is not judged yet; ``KeyboardInterrupt`` propagates after the written records are safe."""
    existing = run.open(header, overwrite=overwrite)
    todo: list[PlannedItem] = []
    finals: list[dict[str, Any]] = []
    reused = 0
    for item in items:
        old = existing.get(item.key)
        if item.final is not None:
            if old != item.final:
                finals.append(item.final)
            continue
        reusable = old is not None and old.get("input_hash") == item.input_hash
        if reusable and (old.get("status") == "judged" or not rejudge_failed):
            reused += 1
        else:
            todo.append(item)
    execution = Execution(records=[], reused=reused, cost=cost(StatsSnapshot(), 0.0))
    session = JudgeSession(judge)
    try:
        with JsonlWriter(run.items_path) as writer:
            for record in finals:
                writer.write(record)
            if todo:
                logger.info("%s: judging %d item(s), reusing %d", description, len(todo), reused)
                run_judging(session, session.preflight())
                before = session.llm.stats.snapshot()
                outcome = run_judging(
                    session,
                    judge_items(
                        session,
                        todo,
                        len(todo),
                        lambda item: judge_one(session, item),
                        writer.write,
                        description=description,
                    ),
                )
                execution.judged, execution.not_judged = outcome.written, outcome.not_judged
                execution.stopped, execution.errors = outcome.stopped, outcome.errors
                execution.cost = cost(session.llm.stats.snapshot() - before, outcome.wall_s)
    finally:
        session.llm.close()
    execution.records = run.compact([item.key for item in items])
    return execution


def cost(delta: Any, wall_s: float) -> dict[str, Any]:
    """The judging cost of this invocation from the ``owlcap.llm`` counters."""
    return {
        "requests": delta.requests,
        "retried_requests": delta.retries,
        "resampled_answers": delta.repairs,
        "failed_calls": delta.failures,
        "cache_hits": delta.cache_hits,
        "prompt_tokens": delta.prompt_tokens,
        "completion_tokens": delta.completion_tokens,
        "prompt_chars": delta.prompt_chars,
        "completion_chars": delta.completion_chars,
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(delta.requests / wall_s, 3) if wall_s > 0 else None,
    }


def judge_deviations(judge: JudgeConfig, official: dict[str, Any]) -> dict[str, Any]:
    """The judge settings that differ from a preset's official ones; the model is compared by name, not endpoint."""
    official = dict(official)
    actual = judge.model_dump(include=set(official))
    official["model"] = str(parse_spec(official["model"]).model)
    actual["model"] = str(parse_spec(actual["model"]).model)
    return deviations(actual, official, "judge.")


def judge_and_report(
    config: Any,
    *,
    benchmark: str,
    identity: dict[str, Any],
    items: list[PlannedItem],
    judge_one: Callable[[JudgeSession, PlannedItem], Awaitable[dict[str, Any] | None]],
    prompts: Any,
    captions: Any,
    caption_summary: dict[str, Any],
    data_notes: Any,
    judge_deviations: dict[str, Any],
    build: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
    plot: Callable[[dict[str, Any], Path], list[Path]],
    executor: Callable[..., Execution] | None = None,
) -> EvalResult:
    """The part of a benchmark run after planning: judge what is not judged yet (``executor``, by default
    ``execute``; CAPability's judges in retry rounds), then ``finish`` with what the run was (judge, prompt set,
    captions, data notes) recorded beside the results."""
    facts = {
        "judge": config.judge.describe(),
        "judge_deviations": judge_deviations,
        "prompts": prompts.describe(),
        "protocol": config.protocol.model_dump(),
        "captions": captions.describe() | ({"captioning": caption_summary} if caption_summary else {}),
        "data": data_notes,
    }
    notes = caption_notes(prompts.name, captions.bad_lines) + judge_notes(config.judge)
    run = RunDir(config.out)
    header = {
        "benchmark": benchmark,
        "identity": identity,
        "preset": config.preset,
        "config": config.model_dump(mode="json"),
    }
    execution = (executor or execute)(
        run,
        header,
        items,
        config.judge,
        judge_one,
        overwrite=config.overwrite,
        rejudge_failed=config.rejudge_failed,
        description=benchmark,
    )
    return finish(config, run, header, execution, facts=facts, notes=notes, build=build, markdown=markdown, plot=plot)


def finish(
    config: Any,
    run: RunDir,
    header: dict[str, Any],
    execution: Execution,
    *,
    facts: dict[str, Any],
    notes: list[str],
    build: Callable[..., dict[str, Any]],
    markdown: Callable[[dict[str, Any]], str],
    plot: Callable[[dict[str, Any], Path], list[Path]],
) -> EvalResult:
    """Record what the run was (``facts``: judge, prompts, captions, data...) in ``run.json``, build the report
    from the records and write it. ``config`` is the benchmark's run config (scoring, preset, report settings)."""
    if execution.stopped:
        notes = [*notes, execution.stopped]
    if execution.errors:
        notes = [
            *notes,
            f"{len(execution.errors)} item(s) hit an unexpected error (a bug; see the log): {execution.errors[0]}",
        ]
    header |= facts | {
        "notes": notes,
        "last_run": {
            "cost": execution.cost,
            "reused_items": execution.reused,
            "judged_items": execution.judged,
            "not_judged_items": execution.not_judged,
        },
    }
    run.write_header(header)
    report = build(header, execution.records, config.scoring, config.preset, config.report)
    report["counts"]["not_judged"] = execution.not_judged
    write_outputs(
        config.out, report, markdown(report), (lambda out: plot(report, out)) if config.report.plots else None
    )
    return EvalResult(config.out, report, *completeness(report["counts"]))


def completeness(counts: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether every item was judged without a failed call, and what was not."""
    problems = []
    if counts.get("failed"):
        problems.append(f"{counts['failed']} item(s) with failed judge calls ({counts.get('failed_calls')})")
    if counts.get("no_caption"):
        problems.append(f"{counts['no_caption']} item(s) without a caption")
    if counts.get("not_judged"):
        problems.append(f"{counts['not_judged']} item(s) not judged (the run stopped); re-run to resume")
    return not problems, problems


def caption_notes(prompts_name: str, bad_lines: list[str]) -> list[str]:
    notes = [] if prompts_name != "owlcap" else ["prompt set: owlcap's own (not the official texts)"]
    if bad_lines:
        notes.append(f"{len(bad_lines)} unreadable caption line(s), first: {bad_lines[0]}")
    return notes
