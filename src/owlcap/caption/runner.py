"""The caption runner: many videos through one model, batched, resumable, never losing a record.

Decoding runs in a thread pool ahead of the model (PyAV releases the GIL), so the model waits on video only for the
first batch. Items that show the same clip (the same video file and trims: a benchmark asking one video several
prompts, VDC's five dimensions) are captioned one after another from one decode: the same frames, so the same
captions, at a fraction of the decoding. Each finished video is appended to the output JSONL durably, by one run at
a time (a lock beside the file); a re-run with the same output repairs what a crash left, skips the ids already
captioned and retries the ones that failed, and the file holds one line per id. What made the captions is recorded
beside them and checked on resume (``owlcap.caption.provenance``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path

from owlcap.caption.config import CaptionConfig
from owlcap.caption.engines import CaptionEngine
from owlcap.caption.provenance import check_output, is_empty, item_prompt, lock_captions, meta_path, write_meta
from owlcap.data.sources import VideoItem
from owlcap.errors import VideoDecodeError
from owlcap.jsonl import JsonlWriter, compact_jsonl, done_ids
from owlcap.locks import holding
from owlcap.models.inputs import VideoRequest
from owlcap.progress import progress_bar
from owlcap.video import SampledVideo, SamplingConfig

logger = logging.getLogger(__name__)


@dataclass
class CaptionSummary:
    total: int = 0
    skipped: int = 0
    captioned: int = 0
    repaired: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def to_dict(self) -> dict:
        rate = self.captioned / self.seconds if self.seconds else 0.0
        return {
            "total": self.total,
            "skipped": self.skipped,
            "captioned": self.captioned,
            "failed": self.failed,
            "repaired_lines": self.repaired,
            "seconds": round(self.seconds, 2),
            "videos_per_s": round(rate, 3),
        }


@dataclass
class _Decoded:
    item: VideoItem
    video: SampledVideo | None
    error: str | None
    seconds: float


def _clip_key(item: VideoItem) -> tuple[str, float | None, float | None]:
    """Items with the same key decode to the same frames (the run has one sampling config)."""
    return (str(item.video), item.start, item.end)


def _by_clip(items: Sequence[VideoItem]) -> list[list[VideoItem]]:
    """The items grouped by clip, in order of each clip's first item (a clip's items become neighbours)."""
    groups: dict[tuple[str, float | None, float | None], list[VideoItem]] = {}
    for item in items:
        groups.setdefault(_clip_key(item), []).append(item)
    return list(groups.values())


def caption_videos(
    items: Sequence[VideoItem],
    out_path: str | Path,
    engine: CaptionEngine,
    config: CaptionConfig,
    *,
    overwrite: bool = False,
) -> CaptionSummary:
    """Caption ``items`` into ``out_path`` (JSONL, appended), skipping ids already there.

    Refuses (``ConfigError``) an output made with other settings (see the module docstring) unless ``overwrite``,
    which starts the file afresh, and an output another run is writing (the lock names its pid). A resume first
    repairs the file (torn lines and repeated ids dropped), so it holds one line per id whatever ended the run
    before. Ids that failed before are retried; their old lines are dropped at the end.
    """
    started = time.perf_counter()
    out_path = Path(out_path)
    prompts = {item.id: item_prompt(item, config) for item in items}
    check_output(out_path, engine.name, config, overwrite=overwrite, prompts=prompts)
    with holding(lock_captions(out_path)):
        return _caption_locked(items, out_path, engine, config, overwrite=overwrite, started=started)


def _caption_locked(
    items: Sequence[VideoItem],
    out_path: Path,
    engine: CaptionEngine,
    config: CaptionConfig,
    *,
    overwrite: bool,
    started: float,
) -> CaptionSummary:
    """``caption_videos`` once it holds ``out_path``: repair what an earlier run left, then caption what is missing."""
    if overwrite or is_empty(out_path):  # a sidecar left without its captions describes nothing
        for stale in (out_path, meta_path(out_path)):
            stale.unlink(missing_ok=True)
    summary = CaptionSummary(total=len(items))
    if out_path.exists():
        summary.repaired = compact_jsonl(out_path)  # torn lines, and the repeats two racing writers once left
        if summary.repaired:
            logger.warning("%s: dropped %d torn or repeated line(s): one line per id", out_path, summary.repaired)
    write_meta(out_path, engine.name, config)
    finished = done_ids(out_path)
    failed_before = done_ids(out_path, include_errors=True) - finished
    todo = [item for item in items if item.id not in finished]
    summary.skipped = len(items) - len(todo)
    sampling = config.sampling.model_copy(update={"factor": engine.vision_factor})
    parallel = max(1, int(getattr(engine, "max_concurrent_batches", 1)))
    if parallel > 1:
        config = config.model_copy(update={"batch_size": 1})
    with JsonlWriter(out_path) as writer, progress_bar("video") as bar:
        task = bar.add_task("caption", total=len(todo))
        batches = _decoded_batches(todo, sampling, config)
        for records in _captioned(batches, engine, config, sampling, parallel):
            for record in records:
                writer.write(record)
                if record.get("error"):
                    summary.failures.append((record["id"], record["error"]))
                    logger.warning("%s (%s): %s", record["id"], record["video"], record["error"])
                else:
                    summary.captioned += 1
                bar.advance(task)
    if failed_before & {item.id for item in todo}:
        compact_jsonl(out_path)  # the retried ids' old error lines go; the file keeps one line per id
    summary.seconds = time.perf_counter() - started
    return summary


def _captioned(batches, engine: CaptionEngine, config: CaptionConfig, sampling: SamplingConfig, parallel: int):
    """Each batch's records: in order, one batch at a time, or (``parallel`` > 1) as they finish, with up to
    ``parallel`` batches in flight."""
    if parallel == 1:
        for batch in batches:
            yield list(_caption_batch(batch, engine, config, sampling))
        return
    pool = ThreadPoolExecutor(parallel, thread_name_prefix="owlcap-caption")
    try:
        pending: set[Future] = set()
        for batch in batches:
            pending.add(pool.submit(lambda b=batch: list(_caption_batch(b, engine, config, sampling))))
            if len(pending) >= parallel:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        for future in as_completed(pending):
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C must not wait for requests in flight


def _decoded_batches(items: Sequence[VideoItem], sampling: SamplingConfig, config: CaptionConfig):
    """Yield batches of decoded items, each clip decoded once for all its items; decoding stays a bounded number of
    clips ahead of generation."""
    window = config.batch_size * 2 + config.decode_workers
    with ThreadPoolExecutor(config.decode_workers, thread_name_prefix="owlcap-decode") as pool:
        batch: list[_Decoded] = []
        for decoded in _decode_in_order(pool, _by_clip(items), sampling, window):
            batch.append(decoded)
            if len(batch) == config.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


def _decode_in_order(pool, clips: list[list[VideoItem]], sampling, window) -> Iterator[_Decoded]:
    """Each item of each clip, in order, with the clip's one decode (its time shared among its items)."""
    pending: list[tuple[list[VideoItem], Future[_Decoded]]] = []
    for clip in clips:
        pending.append((clip, pool.submit(_decode, clip[0], sampling)))
        if len(pending) >= window:
            yield from _shared(*pending.pop(0))
    while pending:
        yield from _shared(*pending.pop(0))


def _shared(clip: list[VideoItem], future: Future[_Decoded]) -> Iterator[_Decoded]:
    decoded = future.result()
    for item in clip:
        yield _Decoded(item, decoded.video, decoded.error, decoded.seconds / len(clip))


def _decode(item: VideoItem, sampling: SamplingConfig) -> _Decoded:
    started = time.perf_counter()
    try:
        sampling = sampling.clip(item.start, item.end)
    except ValueError as exc:  # a trim that contradicts the configured span
        return _Decoded(item, None, f"clip trims: {exc}", time.perf_counter() - started)
    try:
        video = sampling.sample(item.video)
    except VideoDecodeError as exc:
        return _Decoded(item, None, exc.cause, time.perf_counter() - started)
    return _Decoded(item, video, None, time.perf_counter() - started)


def _caption_batch(batch: list[_Decoded], engine: CaptionEngine, config: CaptionConfig, sampling: SamplingConfig):
    ready = [decoded for decoded in batch if decoded.video is not None]
    captions, errors, gen_seconds = _generate_isolating_failures(ready, engine, config)
    for decoded in batch:
        record = {
            "id": decoded.item.id,
            "video": decoded.item.video,
            "model": engine.name,
            "prompt": item_prompt(decoded.item, config),
            "sampling": sampling.model_dump(exclude_none=True),
            "generation": config.generation.model_dump(exclude_none=True),
        }
        record |= {k: v for k, v in (("start", decoded.item.start), ("end", decoded.item.end)) if v is not None}
        if decoded.video is None:
            yield record | {"error": f"video: {decoded.error}", "seconds": round(decoded.seconds, 3)}
            continue
        key = id(decoded)
        seconds = round(decoded.seconds + gen_seconds.get(key, 0.0), 3)
        record |= {"frames": len(decoded.video.indices), "sample_fps": round(decoded.video.sample_fps, 4)}
        if key in errors:
            yield record | {"error": f"generation: {errors[key]}", "seconds": seconds}
        else:
            yield record | {"caption": captions[key], "seconds": seconds}


def _generate_isolating_failures(ready: list[_Decoded], engine: CaptionEngine, config: CaptionConfig):
    """Generate for the batch; if the batch fails, retry each video alone so one bad input costs only itself."""
    captions: dict[int, str] = {}
    errors: dict[int, str] = {}
    seconds: dict[int, float] = {}
    if not ready:
        return captions, errors, seconds
    groups = [ready]
    while groups:
        group = groups.pop(0)
        started = time.perf_counter()
        try:
            outputs = engine.generate([_request(d, config) for d in group], config.generation)
        except (RuntimeError, ValueError) as exc:
            if len(group) > 1:
                logger.warning("batch of %d failed (%s); retrying one video at a time", len(group), exc)
                groups.extend([d] for d in group)
                continue
            errors[id(group[0])] = f"{type(exc).__name__}: {exc}"
            outputs = None
        share = (time.perf_counter() - started) / len(group)
        for index, decoded in enumerate(group):
            seconds[id(decoded)] = seconds.get(id(decoded), 0.0) + share
            if outputs is not None:
                captions[id(decoded)] = outputs[index]
    return captions, errors, seconds


def _request(decoded: _Decoded, config: CaptionConfig) -> VideoRequest:
    return VideoRequest(prompt=item_prompt(decoded.item, config), video=decoded.video, system=config.system)
