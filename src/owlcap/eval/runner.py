"""The judge step every benchmark shares: claim the run folder, judge what is not judged yet, keep every record.

A benchmark plans its items (``PlannedItem``: key, hash of the judge's inputs, what to judge) and gives the
coroutine that judges one; ``judge_run`` opens the run folder for this judge (``owlcap.eval.runs``), reuses the
items already judged with the same inputs, judges the rest concurrently in one judge session
(``owlcap.eval.judging.judge_all``), appends each record as it finishes, and rewrites ``items.jsonl`` in benchmark
order at the end. The ``Execution`` it returns is what the score and report steps read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from owlcap.eval.judging import JudgeSession, cost, judge_all
from owlcap.eval.prompt_sets import PromptSet
from owlcap.eval.runs import RunDir
from owlcap.jsonl import JsonlWriter
from owlcap.llm import StatsSnapshot

logger = logging.getLogger(__name__)

JudgeOne = Callable[[JudgeSession, "PlannedItem"], Awaitable[dict[str, Any] | None]]


@dataclass
class PlannedItem:
    """One item to judge: its key in ``items.jsonl``, the hash of everything the judge will see, the benchmark's
    payload; or ``final``, a record written as it is (an item without a caption)."""

    key: str
    input_hash: str
    payload: Any = None
    final: dict[str, Any] | None = None

    @classmethod
    def no_caption(cls, key: str, record: dict[str, Any], reason: str) -> PlannedItem:
        """An item without a caption: ``record`` written as it is, ``status: no_caption`` and why; never judged."""
        return cls(key, "", final=record | {"input_hash": None, "status": "no_caption", "reason": reason})


@dataclass
class Execution:
    """A judged run: its folder and header (``run.json`` so far), the latest record of every planned item in
    benchmark order, and what this invocation did (reused, judged, not judged, why it stopped, what it cost)."""

    run: RunDir
    header: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0
    judged: int = 0
    not_judged: int = 0
    stopped: str | None = None
    errors: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)


def judge_identity(benchmark: str, config: Any, prompts: PromptSet, protocol: dict[str, Any]) -> dict[str, Any]:
    """What decides a benchmark's judge answers, of which a run folder holds one: the judge (``config.judge``), the
    prompt texts and ``protocol``, the benchmark's switches that change what is asked or how it is read."""
    return {"benchmark": benchmark, "judge": config.judge.fingerprint(), "prompts": prompts.sha256, **protocol}


def judge_run(
    config: Any, *, benchmark: str, identity: dict[str, Any], items: list[PlannedItem], judge_one: JudgeOne
) -> Execution:
    """Judge ``items`` into ``config.out`` (a benchmark's run config: judge, preset, overwrite, rejudge_failed).

    The folder refuses a judge, prompt set or protocol (``identity``) other than the one that made it, unless
    ``config.overwrite``; ``KeyboardInterrupt`` propagates after the written records are safe."""
    run = RunDir(config.out)
    header = {
        "benchmark": benchmark,
        "identity": identity,
        "preset": config.preset,
        "config": config.model_dump(mode="json"),
    }
    existing = run.open(header, overwrite=config.overwrite)
    todo, finals, reused = _todo(items, existing, rejudge_failed=config.rejudge_failed)
    execution = Execution(run, header, reused=reused, cost=cost(StatsSnapshot(), 0.0))
    with JsonlWriter(run.items_path) as writer:
        for record in finals:
            writer.write(record)
        if todo:
            logger.info("%s: judging %d item(s), reusing %d", benchmark, len(todo), reused)
            outcome = judge_all(config.judge, todo, judge_one, writer.write, description=benchmark)
            execution.judged, execution.not_judged = outcome.written, outcome.not_judged
            execution.stopped, execution.errors, execution.cost = outcome.stopped, outcome.errors, outcome.cost
    execution.records = run.compact([item.key for item in items])
    return execution


def _todo(
    items: list[PlannedItem], existing: dict[str, dict[str, Any]], *, rejudge_failed: bool
) -> tuple[list[PlannedItem], list[dict[str, Any]], int]:
    """The items to judge, the final records to write (changed ones only) and how many judged items are reused."""
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
    return todo, finals, reused
