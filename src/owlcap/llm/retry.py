"""Which failures are worth a retry, how long to wait, and the server's Retry-After."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping


class RetryableError(Exception):
    """A transient failure of one request (429, 5xx, connection error, timeout). ``retry_after`` is the wait the
    server asked for, in seconds, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half of ``base * 2**attempt`` (capped) plus a random half, so many
    clients hit by the same outage do not retry in lockstep yet each waits at least half the nominal time."""
    nominal = min(max_s, base_s * (2**attempt))
    rng = rng or random
    return nominal / 2 + rng.uniform(0, nominal / 2)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); ``None`` when absent/garbled."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


def next_wait(attempt: int, error: RetryableError, *, base_s: float, max_s: float, retry_after_max_s: float) -> float:
    """The wait before retry number ``attempt + 1``: the backoff, or the server's Retry-After if longer (capped)."""
    wait = backoff_delay(attempt, base_s, max_s)
    if error.retry_after is not None:
        wait = max(wait, min(error.retry_after, retry_after_max_s))
    return wait
