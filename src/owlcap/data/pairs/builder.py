"""``build_pairs``: every source's items made once, recorded durably, then selected and exported.

The output folder holds::

    candidates.jsonl   one line per finished item (its pairs, or why it made none, or its error), appended and
                       fsynced as each finishes: the resume record (a kill costs the items in flight)
    pairs.jsonl        the selected pairs (owlcap.data.pairs.schema), rewritten whole at the end of every run:
                       datasets.load_dataset("json", data_files="pairs.jsonl") and owlcap train dpo read it
    stats.json         items, pairs per source (made and kept), what was dropped and why, bad input lines
    .lock              one writer at a time (owlcap.locks)

A re-run skips the items whose latest line has no error and makes the others (new items, failed ones, ones whose
inputs or settings changed: their ids changed). Selection always starts from every current item's pairs, so
changing the cap or adding a source re-selects without remaking anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlcap.data.pairs.captions import plan_captions
from owlcap.data.pairs.completions import plan_completions
from owlcap.data.pairs.config import PairsConfig
from owlcap.data.pairs.hmd import plan_hmd
from owlcap.data.pairs.items import Item, ItemOutcome, Models, Planned
from owlcap.data.pairs.schema import SOURCES, PreferencePair
from owlcap.data.pairs.select import select_pairs
from owlcap.errors import ConfigError, OwlcapError
from owlcap.jsonl import JsonlWriter, compact_jsonl, iter_jsonl, write_jsonl_atomic, write_text_atomic
from owlcap.locks import lock_folder, unlock
from owlcap.progress import progress_bar

logger = logging.getLogger(__name__)

CANDIDATES = "candidates.jsonl"
PAIRS = "pairs.jsonl"
STATS = "stats.json"


@dataclass
class PairsSummary:
    """What a run did (``stats.json``): the items, the pairs per source, what was dropped, what went wrong."""

    out_dir: str
    pairs_file: str
    items: int = 0
    items_done_before: int = 0
    items_made: int = 0
    items_failed: int = 0
    failures: list[str] = field(default_factory=list)
    pairs: int = 0
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    no_pair: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)
    bad_lines: int = 0
    first_bad_lines: list[str] = field(default_factory=list)
    seconds: float = 0.0
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.items_failed == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_items(config: PairsConfig) -> Planned:
    """Every source's items (in source order), bad input lines and unusable records."""
    planned = Planned()
    for plan in (plan_hmd, plan_completions, plan_captions):
        planned.extend(plan(config))
    return planned


def build_pairs(config: PairsConfig, out_dir: str | Path) -> PairsSummary:
    """Make, record and select the pairs of every source into ``out_dir`` (see the module docstring)."""
    started = time.perf_counter()
    out = _output_folder(out_dir)
    lock = lock_folder(out, busy=f"{out} is being written by another owlcap data pairs", advice="wait for it")
    try:
        planned = plan_items(config)
        for line in planned.bad_lines[:10]:
            logger.warning("bad input line skipped: %s", line)
        done = _finished(out / CANDIDATES)
        todo = [item for item in planned.items if item.id not in done]
        summary = PairsSummary(str(out), str(out / PAIRS), items=len(planned.items))
        summary.items_done_before = len(planned.items) - len(todo)
        if todo:
            logger.info("%d item(s) to make (%d done before)", len(todo), summary.items_done_before)
            summary.models = _make(todo, config, out / CANDIDATES, summary)
            compact_jsonl(out / CANDIDATES)  # a retried item's old error line goes
        _select(planned, config, out, summary)
        summary.seconds = round(time.perf_counter() - started, 3)
        write_text_atomic(out / STATS, json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return summary
    finally:
        unlock(lock)


def _output_folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the output folder ({exc.strerror or exc})") from exc
    return out


def _finished(path: Path) -> dict[str, dict[str, Any]]:
    """The latest line of each item id that finished without an error (a torn last line is ignored)."""
    if not path.exists():
        return {}
    latest: dict[str, dict[str, Any]] = {}
    for line in iter_jsonl(path):
        if line.record is not None and isinstance(line.record.get("id"), str):
            latest[line.record["id"]] = line.record
    return {key: record for key, record in latest.items() if not record.get("error")}


def _make(todo: list[Item], config: PairsConfig, path: Path, summary: PairsSummary) -> dict[str, Any]:
    models = Models(config.llm)
    try:
        with JsonlWriter(path) as writer, progress_bar("item") as bar:
            task = bar.add_task("pairs", total=len(todo))

            def record(line: dict[str, Any]) -> None:
                writer.write(line)
                bar.advance(task)
                if line.get("error"):
                    summary.items_failed += 1
                    summary.failures.append(f"{line['label']}: {line['error']}")
                else:
                    summary.items_made += 1

            asyncio.run(_make_all(todo, models, config.concurrency, record))
        return models.stats()
    finally:
        models.close()


async def _make_all(todo: list[Item], models: Models, concurrency: int, record) -> None:
    pending = iter(todo)

    async def worker() -> None:
        for item in pending:  # one shared iterator: each worker takes the next item
            record(await _make_safely(item, models))

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(todo)))))
    finally:
        await models.aclose()


async def _make_safely(item: Item, models: Models) -> dict[str, Any]:
    line: dict[str, Any] = {"id": item.id, "source": item.source, "label": item.label}
    try:
        outcome: ItemOutcome = await item.make(models)
    except OwlcapError as exc:
        logger.warning("%s: %s", item.label, exc)
        return line | {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one item's bug must not sink the run; logged with its traceback
        logger.exception("%s: unexpected error", item.label)
        return line | {"error": f"unexpected {type(exc).__name__}: {exc}"}
    return line | {"pairs": [pair.to_dict() for pair in outcome.pairs], "notes": outcome.notes}


def _select(planned: Planned, config: PairsConfig, out: Path, summary: PairsSummary) -> None:
    current = _finished(out / CANDIDATES)
    made: list[PreferencePair] = []
    notes: Counter[str] = Counter()
    for item in planned.items:
        line = current.get(item.id)
        if line is None:
            continue
        made += [PreferencePair.from_dict(pair) for pair in line.get("pairs", [])]
        notes.update(line.get("notes", []))
    kept, dropped = select_pairs(made, config.max_pairs_per_video)
    write_jsonl_atomic(out / PAIRS, (pair.to_dict() for pair in kept))
    made_by = Counter(pair.source for pair in made)
    kept_by = Counter(pair.source for pair in kept)
    summary.pairs = len(kept)
    summary.by_source = {s: {"made": made_by[s], "kept": kept_by[s]} for s in SOURCES if made_by[s] or kept_by[s]}
    summary.dropped = dict(dropped)
    summary.no_pair = dict(notes)
    summary.skipped_records = dict(planned.skipped)
    summary.bad_lines = len(planned.bad_lines)
    summary.first_bad_lines = planned.bad_lines[:10]
