"""``build`` and ``examine``: the HMD data engine's entry points (the CLI and ``owlcap run`` call these).

```python
from owlcap.data import BuildConfig, build, examine

config = BuildConfig.model_validate({"models": {"motion": ..., "fusion": ..., "verifier": ...}})
summary = build(config, ["videos/"], "out/hmd")        # MDF + FGE; inputs: files, folders, JSONL manifests
summary = examine(config, ["captions.jsonl"], "out/x") # FGE only, on captions the manifest carries
summary.ok, summary.kept, summary.failed, summary.outputs["hmd"]
```

Neither exits the process. A bad config or a missing model raises ``ConfigError``; bad inputs and failed videos are
counted in the summary (``summary.ok`` is False); Ctrl-C writes the outputs of what finished and raises
``BuildInterrupted`` (a ``KeyboardInterrupt`` carrying the summary).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from owlcap.data.config import BuildConfig
from owlcap.data.decoding import VIDEO_STAGES, video_key
from owlcap.data.failures import StageFailed
from owlcap.data.pipeline import ItemResult, Pipeline, WorkItem
from owlcap.data.sources import VideoItem, collect_videos
from owlcap.data.store import RecordStore
from owlcap.errors import ConfigError, DataError
from owlcap.hashing import json_digest
from owlcap.progress import progress_bar

logger = logging.getLogger(__name__)


@dataclass
class BuildSummary:
    """What one ``build``/``examine`` call did, and where its outputs are."""

    out_dir: str
    inputs: int = 0
    bad_inputs: list[str] = field(default_factory=list)
    skipped: int = 0
    retried: int = 0
    rebuilt: int = 0
    built: int = 0
    kept: int = 0
    rejected: int = 0
    failed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    interrupted: bool = False
    stopped: str | None = None
    seconds: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    llm: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every input became a kept or rejected record in this run (or was already finished)."""
        return not (self.failed or self.bad_inputs or self.interrupted or self.stopped)

    @property
    def videos_per_min(self) -> float:
        return 60 * self.built / self.seconds if self.seconds > 0 else 0.0

    def failures_by_cause(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for failure in self.failures:
            key = f"{failure['stage']}: {failure['kind']}"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("llm")
        data["failures"] = self.failures[:50]
        data |= {"ok": self.ok, "videos_per_min": round(self.videos_per_min, 2)}
        data["failures_by_cause"] = self.failures_by_cause()
        return data


class BuildInterrupted(KeyboardInterrupt):
    """Ctrl-C during a build: what finished is written (records, hmd.jsonl, stats, report); ``summary`` says so."""

    def __init__(self, summary: BuildSummary):
        super().__init__("build interrupted")
        self.summary = summary


def build(
    config: BuildConfig, inputs: Sequence[str | Path], out_dir: str | Path, *, examine_only: bool = False
) -> BuildSummary:
    """Run MDF + FGE over ``inputs`` into ``out_dir`` (resuming what is there). See the module docstring."""
    from owlcap.data.outputs import write_outputs

    started = time.perf_counter()
    summary = BuildSummary(out_dir=str(out_dir))
    items, input_errors = collect_videos(list(inputs))
    work, plan_errors = plan_items(items, config, examine_only=examine_only)
    summary.inputs = len(items)
    summary.bad_inputs = [str(error) for error in input_errors + plan_errors]
    for error in summary.bad_inputs:
        logger.error("skipped input: %s", error)
    with RecordStore(out_dir) as store:
        plan = store.plan(work, retry_failed=config.retry_failed)
        summary.skipped, summary.retried, summary.rebuilt = plan.skipped, plan.retried, plan.rebuilt
        check_models(config, plan.todo)
        if plan.skipped:
            logger.info("%d input(s) already built under these settings; skipping them", plan.skipped)
        try:
            _run(config, plan.todo, store, summary)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            summary.seconds = time.perf_counter() - started
            summary.outputs, summary.totals = write_outputs(out_dir, config, summary)
    if summary.interrupted:
        raise BuildInterrupted(summary)
    return summary


def examine(config: BuildConfig, inputs: Sequence[str | Path], out_dir: str | Path) -> BuildSummary:
    """FGE only: split and verify the captions the inputs carry (JSONL manifests with ``caption``); no MDF."""
    return build(config, inputs, out_dir, examine_only=True)


def plan_items(
    items: list[VideoItem], config: BuildConfig, *, examine_only: bool = False
) -> tuple[list[WorkItem], list[DataError]]:
    """Turn input items into work items: absolute video path, cache identity, manifest captions, fingerprints."""
    work, errors = [], []
    mdf_settings, fge_settings = config.mdf_settings(), config.fge_settings()
    for item in items:
        texts: dict[str, str | None] = {}
        for name in ("caption", "motion_caption"):
            try:
                value = manifest_caption(item) if name == "caption" else item.field(name)
            except ValueError as exc:
                errors.append(DataError(item.video, f"id {item.id!r}: {exc}"))
                break
            if value is not None and (not isinstance(value, str) or not value.strip()):
                errors.append(DataError(item.video, f"id {item.id!r}: {name!r} must be a non-empty string or absent"))
                break
            texts[name] = " ".join(value.split()) if isinstance(value, str) else None
        else:
            if examine_only and texts["caption"] is None:
                errors.append(DataError(item.video, f"id {item.id!r}: no 'caption' to examine (give a JSONL manifest)"))
                continue
            path = os.path.abspath(item.video)
            key = video_key(path, item.start, item.end, config.sampling)
            if texts["caption"] is not None:
                mdf = json_digest({"manifest_caption": texts["caption"], "motion_caption": texts["motion_caption"]}, 16)
            else:
                mdf = json_digest({"video": key, "motion_caption": texts["motion_caption"], **mdf_settings}, 16)
            fge = json_digest({"video": key, "mdf": mdf, **fge_settings}, 16)
            caption, motion = texts["caption"], texts["motion_caption"]
            prompt = manifest_prompt(item)
            work.append(WorkItem(item.id, path, key, mdf, fge, item.start, item.end, caption, motion, prompt))
    return work, errors


def manifest_caption(item: VideoItem) -> object:
    """The caption a manifest line carries: ``caption``, or the answer turn of a conversation line (the released
    OwlCap/LLaVA ``{"video", "conversations": [human, gpt]}`` shape, ``messages`` too), so FGE filters those sets
    as they are. ``ValueError`` for a conversation owlcap cannot read."""
    from owlcap.data.records import parse_record

    extra = dict(item.extra)
    if "caption" in extra or not {"conversations", "messages"} & extra.keys():
        return extra.get("caption")
    line = {"id": item.id, "video": item.video, **extra}
    return parse_record(line, base=Path(item.video).parent).caption


def manifest_prompt(item: VideoItem) -> str | None:
    """The user prompt a manifest line carries (``prompt``, or the human turn of a conversation line), so the kept
    record trains with it; ``None`` when it has none (or the conversation does not parse: ``manifest_caption``
    reports that)."""
    from owlcap.data.records import parse_record

    extra = dict(item.extra)
    if not {"conversations", "messages"} & extra.keys():
        prompt = extra.get("prompt")
        return prompt if isinstance(prompt, str) and prompt.strip() else None
    try:
        return parse_record({"id": item.id, "video": item.video, **extra}, base=Path(item.video).parent).prompt
    except ValueError:
        return None


def check_models(config: BuildConfig, todo: list[WorkItem]) -> None:
    """Every stage the pending items need has a model that can do it; else ``ConfigError`` saying what to pass."""
    if not todo:
        return
    models = config.models
    example = "e.g. openai:<model>@http://127.0.0.1:8000/v1 or hf:<path>"
    for stage in VIDEO_STAGES:
        if getattr(models, stage) == "rules":
            raise ConfigError(f"models.{stage}: the rules backend cannot see video; give a video MLLM ({example})")
    need_fusion = [item for item in todo if item.caption is None and item.previous is None]
    need_motion = [item for item in need_fusion if item.motion_caption is None]
    for stage, flag, needed, why in (
        ("motion", "--motion-model", need_motion, "have neither a caption nor a motion_caption"),
        ("fusion", "--fusion-model", need_fusion, "have no caption"),
        ("verifier", "--verifier", todo, "need verification"),
    ):
        if needed and getattr(models, stage) is None:
            raise ConfigError(
                f"models.{stage} is not set but {len(needed)} input(s) {why}: pass {flag} SPEC ({example})"
            )


class _Sink:
    """Where finished records go: the store, the counters, the progress bar and the dead-server guard."""

    def __init__(self, store: RecordStore, summary: BuildSummary, config: BuildConfig, advance: Any):
        self.store, self.summary, self.advance = store, summary, advance
        self.max_streak = config.max_consecutive_failures
        self.streak = 0
        self.stopping: str | None = None

    def write(self, result: ItemResult) -> None:
        self.store.write(result)
        record, summary = result.record, self.summary
        summary.built += 1
        status = record["status"]
        setattr(summary, status, getattr(summary, status) + 1)
        self.advance()
        if status != "failed":
            self.streak = 0
            return
        failure = record["failure"]
        summary.failures.append({"id": record["id"], **{k: failure[k] for k in ("stage", "kind", "message")}})
        logger.warning("%s failed at %s: %s", record["id"], failure["stage"], failure["message"])
        if failure["stage"] in ("decode", "worker"):
            return  # a bad video says nothing about the models
        self.streak += 1
        if self.max_streak and self.streak >= self.max_streak and self.stopping is None:
            self.stopping = (
                f"stopped after {self.streak} records in a row failed at a model stage (last: {failure['stage']}: "
                f"{failure['message']}); is the server up? Re-run to retry them"
            )
            logger.error("%s", self.stopping)


def _run(config: BuildConfig, todo: list[WorkItem], store: RecordStore, summary: BuildSummary) -> None:
    if not todo:
        return
    with progress_bar("video") as bar:
        task = bar.add_task("hmd build", total=len(todo))
        sink = _Sink(store, summary, config, lambda: bar.advance(task))
        try:
            if config.engine == "ray":
                from owlcap.data.ray_engine import run_ray

                summary.llm = run_ray(config, todo, sink)
            else:
                summary.llm = _run_local(config, todo, sink)
        finally:
            summary.stopped = sink.stopping


def _run_local(config: BuildConfig, todo: list[WorkItem], sink: _Sink) -> dict[str, Any]:
    pipeline = Pipeline(config)
    try:
        asyncio.run(_local_workers(pipeline, todo, sink, config.concurrency.videos_per_process))
    finally:
        stats = pipeline.llm_stats()
        pipeline.close()
    return stats


async def _local_workers(pipeline: Pipeline, todo: list[WorkItem], sink: _Sink, workers: int) -> None:
    pending = iter(todo)

    async def worker() -> None:
        for item in pending:  # each worker takes the next item: one shared iterator, no await in between
            if sink.stopping:
                return
            sink.write(await process_safely(pipeline, item))

    try:
        await asyncio.gather(*(worker() for _ in range(min(workers, len(todo)))))
    finally:
        await pipeline.aclose()


async def process_safely(pipeline: Pipeline, item: WorkItem) -> ItemResult:
    """``pipeline.process`` with a batch boundary: an unexpected error becomes a failed record, not a lost batch."""
    try:
        return await pipeline.process(item)
    except Exception as exc:  # noqa: BLE001 - one item's bug must not sink the build; logged with its traceback
        logger.exception("%s: unexpected error", item.id)
        return failed_result(item, StageFailed("worker", f"unexpected {type(exc).__name__}: {exc}"))


def failed_result(item: WorkItem, failed: StageFailed) -> ItemResult:
    """A failed record for an item whose processing never produced one (a crash outside the stages)."""
    from owlcap.data.schema import BuildRecord

    record = BuildRecord(
        id=item.id,
        video=item.video,
        start=item.start,
        end=item.end,
        status="failed",
        kept=False,
        failure=failed.failure,
        error=str(failed),
        video_key=item.video_key,
        mdf_fingerprint=item.mdf_fingerprint,
        fge_fingerprint=item.fge_fingerprint,
    )
    return ItemResult(record.model_dump(mode="json", exclude_none=True))
