"""Several OpenAI-compatible endpoints serving one model (vLLM replicas): least-outstanding spreading and ejection.

A spec names them after one ``@``, comma-separated: ``openai:Qwen/Qwen3-32B@http://a:8000/v1,http://b:8000/v1``.
A single URL is the same pool of one, so today's specs mean what they meant.

Policy, in the order a request meets it:

- **Pick**: the healthy endpoint with the fewest requests in flight from this process; ties go round-robin, so an
  idle pool still spreads evenly. Replicas with equal slots then fill evenly, and a slower replica, whose answers
  take longer, automatically gets fewer new requests.
- **Eject**: a refused or reset connection takes an endpoint out at once (the backend then fails over to another
  endpoint within the same attempt); other transient failures (5xx, timeouts, garbled bodies) take it out after
  ``endpoint_max_failures`` in a row. A success resets the count.
- **Put back**: after ``endpoint_cooldown_s`` an ejected endpoint gets one trial request (half-open); an answer puts
  it back, a failure ejects it again for twice as long (up to 16x the cool-down). Nothing probes in the background:
  the trial is a real request, which the backend retries elsewhere if it fails.
- When every endpoint is out, the one due back first is tried anyway: requests never wait on an empty pool, and
  ``LLM``'s retries and backoff still apply.

Counts are per process (each Ray worker balances its own requests); the pool is thread-safe because the sync
wrappers and the hf batcher may drive one backend from several event loops.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_MAX_COOLDOWN_FACTOR = 16


@dataclass
class Endpoint:
    """One base URL and its live counters."""

    url: str
    outstanding: int = 0
    requests: int = 0
    failures: int = 0
    ejections: int = 0
    consecutive_failures: int = 0
    down_until: float | None = None
    cooldown_factor: int = 1
    trial_in_flight: bool = False
    last_error: str | None = None

    @property
    def healthy(self) -> bool:
        return self.down_until is None

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "healthy": self.healthy,
            "outstanding": self.outstanding,
            "requests": self.requests,
            "failures": self.failures,
            "ejections": self.ejections,
            "last_error": self.last_error,
        }


class EndpointPool:
    """Chooses an endpoint per request and keeps each endpoint's health (see the module docstring)."""

    def __init__(self, urls: list[str] | tuple[str, ...], *, cooldown_s: float = 5.0, max_failures: int = 3):
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        if len(set(urls)) != len(urls):
            raise ValueError(f"endpoint URLs repeat: {list(urls)}")
        self.endpoints = [Endpoint(url) for url in urls]
        self.cooldown_s = cooldown_s
        self.max_failures = max_failures
        self._lock = threading.Lock()
        self._turn = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    @contextlib.contextmanager
    def use(self, exclude: set[str] | frozenset[str] = frozenset()) -> Iterator[Endpoint]:
        """Pick an endpoint (not one of ``exclude`` while others remain) and count the request as in flight."""
        endpoint = self._pick(exclude)
        try:
            yield endpoint
        finally:
            with self._lock:
                endpoint.outstanding -= 1

    def _pick(self, exclude: set[str] | frozenset[str]) -> Endpoint:
        now = time.monotonic()
        with self._lock:
            self._turn += 1
            candidates = [e for e in self.endpoints if e.url not in exclude] or list(self.endpoints)
            trial = next((e for e in candidates if _due_for_trial(e, now)), None)
            if trial is not None:
                trial.trial_in_flight = True
                chosen = trial
            else:
                healthy = [e for e in candidates if e.healthy]
                if healthy:
                    count = len(self.endpoints)
                    chosen = min(healthy, key=lambda e: (e.outstanding, (self.endpoints.index(e) - self._turn) % count))
                else:
                    chosen = min(candidates, key=lambda e: e.down_until or 0.0)
            chosen.outstanding += 1
            chosen.requests += 1
            return chosen

    def succeeded(self, endpoint: Endpoint) -> None:
        with self._lock:
            back = not endpoint.healthy
            endpoint.consecutive_failures = 0
            endpoint.down_until = None
            endpoint.cooldown_factor = 1
            endpoint.trial_in_flight = False
        if back:
            logger.warning("endpoint %s answers again; back in the pool", endpoint.url)

    def failed(self, endpoint: Endpoint, error: str, *, hard: bool) -> None:
        """Count a failure; ``hard`` (connection refused/reset) ejects at once, others after ``max_failures``."""
        with self._lock:
            endpoint.failures += 1
            endpoint.consecutive_failures += 1
            endpoint.last_error = error
            was_trial, endpoint.trial_in_flight = endpoint.trial_in_flight, False
            if not (hard or was_trial or endpoint.consecutive_failures >= self.max_failures):
                return
            if was_trial:
                endpoint.cooldown_factor = min(endpoint.cooldown_factor * 2, _MAX_COOLDOWN_FACTOR)
            elif not endpoint.healthy:
                return  # already out (another request's failure ejected it)
            wait = self.cooldown_s * endpoint.cooldown_factor
            endpoint.down_until = time.monotonic() + wait
            endpoint.ejections += 1
            others = sum(e.healthy for e in self.endpoints)
        if len(self.endpoints) > 1:
            logger.warning(
                "endpoint %s taken out of the pool for %.1f s (%s); %d of %d still in",
                endpoint.url,
                wait,
                error,
                others,
                len(self.endpoints),
            )

    def healthy_others(self, endpoint: Endpoint, exclude: set[str]) -> bool:
        """Whether another endpoint, healthy and not yet tried, could take this request now."""
        with self._lock:
            return any(e.healthy and e is not endpoint and e.url not in exclude for e in self.endpoints)

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [e.to_dict() for e in self.endpoints]


def _due_for_trial(endpoint: Endpoint, now: float) -> bool:
    return endpoint.down_until is not None and now >= endpoint.down_until and not endpoint.trial_in_flight
