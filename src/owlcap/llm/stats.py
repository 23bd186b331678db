"""Counters of every model call: requests, failures, retries, tokens, characters and latency.

One ``LLMStats`` per ``LLM``; it is updated from whatever thread runs the event loop (TRL runs async rewards on a
daemon thread) and read from others, so every update takes a lock.

``usage_scope()`` attributes counts to one piece of work among many running concurrently (one record's stage in
the data engine): every counter added by calls made inside the scope, including tasks it starts, is also added to
the scope's own ``StatsSnapshot``. It rides on a context variable, which asyncio copies into each new task.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields


@dataclass
class StatsSnapshot:
    """A frozen copy of the counters. Subtract two snapshots to get the figures of what ran in between."""

    calls: int = 0
    """``chat``/``run`` calls made (one per task, whatever its retries)."""
    successes: int = 0
    """Calls that returned a valid answer (cache hits included)."""
    failures: int = 0
    """Calls that ended in ``JudgeError`` after their retries and repair rounds."""
    requests: int = 0
    """Requests sent to the model (first attempts, retries and repair rounds)."""
    retries: int = 0
    """Requests that were retries after a transient error (429, 5xx, connection error, timeout)."""
    repairs: int = 0
    """Repair rounds sent after an answer failed to parse or validate."""
    cache_hits: int = 0
    cache_misses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_chars: int = 0
    """Characters of text sent (images and video are not counted)."""
    completion_chars: int = 0
    """Characters of text received, before ``<think>`` stripping."""
    latency_s: float = 0.0
    """Summed wall time of finished calls, retries and backoff included."""
    latency_max_s: float = 0.0

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        values = {f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)}
        values["latency_max_s"] = self.latency_max_s  # a maximum does not subtract; keep the newer one
        return StatsSnapshot(**values)

    @property
    def mean_latency_s(self) -> float:
        done = self.successes + self.failures - self.cache_hits
        return self.latency_s / done if done > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        data = asdict(self)
        data["mean_latency_s"] = self.mean_latency_s
        return data


@dataclass
class LLMStats:
    """Thread-safe live counters; ``snapshot()`` returns a ``StatsSnapshot``."""

    _values: StatsSnapshot = field(default_factory=StatsSnapshot)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        scope = _SCOPE.get()
        with self._lock:
            for name, delta in deltas.items():
                setattr(self._values, name, getattr(self._values, name) + delta)
                if scope is not None:
                    setattr(scope, name, getattr(scope, name) + delta)

    def record_latency(self, seconds: float) -> None:
        with self._lock:
            self._values.latency_s += seconds
            self._values.latency_max_s = max(self._values.latency_max_s, seconds)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(**asdict(self._values))

    def reset(self) -> None:
        with self._lock:
            self._values = StatsSnapshot()


_SCOPE: contextvars.ContextVar[StatsSnapshot | None] = contextvars.ContextVar("owlcap_llm_usage", default=None)


@contextlib.contextmanager
def usage_scope() -> Iterator[StatsSnapshot]:
    """Collect the counters of every ``LLM`` call made inside the block (and the tasks it starts) into the yielded
    ``StatsSnapshot``: requests, retries, repairs, cache hits, tokens, characters. Latencies are not attributed."""
    usage = StatsSnapshot()
    token = _SCOPE.set(usage)
    try:
        yield usage
    finally:
        _SCOPE.reset(token)
