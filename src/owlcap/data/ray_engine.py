"""``engine: ray``: the same ``Pipeline`` inside Ray actors on many machines; the driver stays the one writer.

Why actors and not Ray Data: a build is a stream of independent videos whose cost is dominated by waiting on model
servers. An async actor runs ``Pipeline.process`` on many videos at once (``concurrency``, per actor) and returns
each record as soon as it is done, so no video waits for a batch's slowest one, and the driver gets records one by
one and appends them through the same ``RecordStore`` as the local engine. Exactly-once and resume are therefore
the local engine's own (one writer, fsync per record, compaction on open); Ray Data's batch-wise ``map_batches``
would hold finished records until their batch completes and would need a second commit-and-merge mechanism.

Each actor builds its own LLM clients (and, for ``hf:`` models, loads the model on its GPU: ``actor_num_gpus``);
videos are read by the actors, so paths must resolve on every node (shared storage). An actor that dies is
restarted and its videos retried (``max_task_retries``); a video still failing then becomes a failed record
(stage ``worker``) and is retried by the next run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from owlcap.data.config import BuildConfig
from owlcap.data.failures import StageFailed
from owlcap.data.pipeline import ItemResult, Pipeline, WorkItem
from owlcap.errors import ConfigError

if TYPE_CHECKING:
    from owlcap.data.runner import _Sink

logger = logging.getLogger(__name__)


class BuildActor:
    """A Ray actor holding one ``Pipeline``; ``process`` is async, so one actor works on many videos at once."""

    def __init__(self, config: BuildConfig):
        import logging as _logging

        _logging.basicConfig(level=_logging.INFO, format="%(name)s: %(message)s")
        self.pipeline = Pipeline(config)

    async def process(self, item: WorkItem) -> ItemResult:
        from owlcap.data.runner import process_safely

        return await process_safely(self.pipeline, item)

    def llm_stats(self) -> dict[str, Any]:
        return self.pipeline.llm_stats()


def run_ray(config: BuildConfig, todo: list[WorkItem], sink: _Sink) -> dict[str, Any]:
    """Process ``todo`` on ``config.ray.num_actors`` actors, writing each record through ``sink`` as it arrives."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("engine 'ray' needs Ray: pip install 'owlcap[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=config.ray.address, include_dashboard=False, log_to_driver=True)
    settings = config.ray
    actor_class = ray.remote(
        num_cpus=settings.actor_num_cpus,
        num_gpus=settings.actor_num_gpus,
        max_restarts=settings.max_task_retries,
        max_task_retries=settings.max_task_retries,
    )(BuildActor)
    actors = [
        actor_class.options(max_concurrency=config.concurrency.videos_per_process).remote(config)
        for _ in range(settings.num_actors)
    ]
    try:
        _drive(ray, actors, todo, sink, config.concurrency.videos_per_process)
        return _merge_stats(ray.get([actor.llm_stats.remote() for actor in actors]))
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()


def _drive(ray: Any, actors: list[Any], todo: list[WorkItem], sink: _Sink, per_actor: int) -> None:
    """Keep every actor ``per_actor`` videos busy; write each record as soon as it is back."""
    pending = iter(todo)
    in_flight: dict[Any, tuple[WorkItem, int]] = {}
    load = [0] * len(actors)

    def submit(index: int) -> bool:
        if sink.stopping:
            return False
        item = next(pending, None)
        if item is None:
            return False
        in_flight[actors[index].process.remote(item)] = (item, index)
        load[index] += 1
        return True

    for index in range(len(actors)):
        while load[index] < per_actor and submit(index):
            pass
    while in_flight:
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=5.0)
        for ref in ready:
            item, index = in_flight.pop(ref)
            load[index] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as exc:
                logger.error("%s: the Ray worker failed: %s", item.id, exc)
                from owlcap.data.runner import failed_result

                result = failed_result(item, StageFailed("worker", f"Ray worker failed: {_short(exc)}"))
            sink.write(result)
            submit(index)


def _merge_stats(per_actor: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the actors' LLM counters per model (maxima stay maxima; endpoints listed per actor)."""
    merged: dict[str, Any] = {}
    for stats in per_actor:
        for name, entry in stats.items():
            into = merged.setdefault(name, {"actors": 0})
            into["actors"] += 1
            for key, value in entry.items():
                if key == "endpoints":
                    into.setdefault("endpoints", []).extend(value)
                elif key.endswith("_max_s"):
                    into[key] = max(into.get(key, 0.0), value)
                elif isinstance(value, (int, float)):
                    into[key] = into.get(key, 0) + value
    for entry in merged.values():
        done = entry.get("successes", 0) + entry.get("failures", 0) - entry.get("cache_hits", 0)
        entry["mean_latency_s"] = entry.get("latency_s", 0.0) / done if done > 0 else 0.0
    return merged


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
