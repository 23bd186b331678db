"""Judging for the benchmarks: the judge's settings, one call with its provenance, and the concurrent item loop.

Every judge call goes through ``owlcap.llm`` as a ``Task`` (cached, retried, counted). What this module adds:

- ``JudgeConfig``: the judge model and its sampling (the presets set the official values), the retry budgets and
  the concurrency, turned into an ``LLMConfig`` and per-request options;
- ``JudgeSession.ask``: one call that never raises for a judge failure: a ``CallRecord`` holds the raw answer (also
  of a failed one), the parsed value, how many answers it took, whether it was cached, and why it failed;
- chains: a benchmark item runs its dependent calls (VDC: answer, then verdict; DREAM-1K: extraction, then
  precision) as chains; at most ``concurrency`` chains run at once, each with one request in flight, so a chain's
  next call starts as soon as its previous one is answered and the server always has ``concurrency`` requests;
- a breaker: after ``stop_after_consecutive_failures`` calls in a row fail for want of a judge (timeouts, 5xx,
  refused connections, rejected requests), the run stops instead of grinding through every item; what was judged is
  kept and a re-run resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from owlcap.errors import JudgeError
from owlcap.hashing import json_digest
from owlcap.llm import LLM, LLMConfig, Message, Task, from_spec, parse_spec
from owlcap.llm.retry import RetryableError
from owlcap.progress import progress_bar

logger = logging.getLogger(__name__)

OPENAI_HOSTS = ("api.openai.com", "openai.azure.com")


class JudgeConfig(BaseModel):
    """The judge model, its sampling, retry budgets and concurrency. A preset sets the official values."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        ...,
        description="Judge model spec: openai:<model>@<base_url> (vLLM, SGLang, OpenAI), hf:<path>, or rules (the "
        "offline word-overlap recipes: demos and tests only, never a benchmark number).",
    )
    temperature: float = Field(..., ge=0, le=2, description="Sampling temperature of every judge request.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass; None to leave it to the server.")
    max_tokens: int = Field(..., ge=1, description="Most new tokens per judge answer.")
    seed: int | None = Field(None, description="Sampling seed sent with every request (None: none sent).")
    parse_attempts: int = Field(
        ...,
        ge=1,
        le=50,
        description="Answers asked for one call before it fails: an unparsable answer is sampled "
        "again (the official retry budget: VDC 1, DREAM-1K 10).",
    )
    repeats: int = Field(
        1,
        ge=1,
        le=20,
        description="Judge every item this many times with fresh samples (--judge-repeats): the "
        "report shows the spread. Repeat 0 gives the headline numbers.",
    )
    concurrency: int = Field(64, ge=1, le=4096, description="Judge requests in flight at once (match the server).")
    request_timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit of one request, in seconds.")
    max_retries: int = Field(
        8,
        ge=0,
        le=20,
        description="Retries of one request on 429, 5xx, timeouts and dropped connections. The "
        "official DREAM-1K scorer retries these forever; owlcap stops after this many and counts the call as failed.",
    )
    backoff_base_s: float = Field(1.0, ge=0, description="First retry waits about this long; then doubling.")
    backoff_max_s: float = Field(30.0, ge=0, description="Longest wait between two retries, in seconds.")
    server_extras: bool | None = Field(
        None,
        description="Send vLLM/SGLang-only fields (chat_template_kwargs). None: on unless the endpoint is "
        "api.openai.com or Azure OpenAI, which reject them.",
    )
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Extra JSON fields of every request.")
    cache: bool = Field(True, description="Keep parsed judge answers in owlcap's sqlite cache (re-runs reuse them).")
    cache_path: Path | None = Field(None, description="Cache file; default <OWLCAP_CACHE_DIR>/llm-cache.sqlite.")
    preflight: bool = Field(True, description="Send one tiny request before judging; stop at once if it fails.")
    stop_after_consecutive_failures: int = Field(
        32,
        ge=0,
        description="Stop the run after this many judge calls in a row failed for want of a judge "
        "(0: never). What was judged is kept; a re-run resumes.",
    )

    @field_validator("model")
    @classmethod
    def _judge_backend(cls, value: str) -> str:
        parse_spec(value)  # a malformed spec is refused here, with what to write
        return value

    @property
    def offline(self) -> bool:
        """The ``rules`` judge: weak deterministic recipes that answer in the official formats (demos, tests)."""
        return parse_spec(self.model).backend == "rules"

    def llm_config(self) -> LLMConfig:
        spec = parse_spec(self.model)
        extras = self.server_extras
        if extras is None:
            extras = spec.backend == "openai" and not any(
                h in (spec.base_url or "api.openai.com") for h in OPENAI_HOSTS
            )
        return LLMConfig(
            request_timeout_s=self.request_timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=max(self.backoff_max_s, self.backoff_base_s),
            concurrency=self.concurrency,
            temperature=self.temperature,
            top_k=None,
            max_tokens=self.max_tokens,
            seed=self.seed,
            server_extras=extras,
            cache=self.cache,
            cache_path=self.cache_path,
        )

    def options(self) -> dict[str, Any]:
        """Per-request sampling options: set explicitly, so the official values reach the server."""
        options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens, "top_k": None}
        if self.top_p is not None:
            options["top_p"] = self.top_p
        if self.seed is not None:
            options["seed"] = self.seed
        if self.extra_body:
            options["extra_body"] = dict(self.extra_body)
        return options

    def fingerprint(self) -> dict[str, Any]:
        """What decides the judge's answers (not where it is served): a run refuses to mix two of these."""
        spec = parse_spec(self.model)
        return {
            "model": f"{spec.backend}:{spec.model}",
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "parse_attempts": self.parse_attempts,
            "extra_body": self.extra_body,
        }

    def describe(self) -> dict[str, Any]:
        spec = parse_spec(self.model)
        return {
            **self.fingerprint(),
            "spec": self.model,
            "endpoint": spec.base_url or ("https://api.openai.com/v1" if spec.backend == "openai" else None),
            "repeats": self.repeats,
            "concurrency": self.concurrency,
            "request_timeout_s": self.request_timeout_s,
            "max_retries": self.max_retries,
        }


@dataclass
class CallRecord:
    """One judge call: the raw answer, the parsed value, answers requested (0 when cached), and for a failure its
    kind (``invalid_answer``: no answer parsed within the budget; ``judge_unavailable``: retries spent on
    timeouts/5xx/429/connection errors; ``judge_rejected``: the server refused the request, e.g. HTTP 400/404) and
    message. A failed call's ``raw`` is the last answer received as the parser saw it (``<think>`` blocks and
    surrounding whitespace removed)."""

    raw: str | None
    value: Any = None
    attempts: int = 0
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunStopped(Exception):
    """The breaker tripped: the judge is considered gone, remaining items are left for a re-run."""


def failure_kind(error: BaseException) -> str:
    """Classify a ``JudgeError`` from ``owlcap.llm`` by its cause chain."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RetryableError):
            return "judge_unavailable"
        seen = seen.__cause__
    return "invalid_answer" if "invalid answer after" in str(error) else "judge_rejected"


class JudgeSession:
    """One judge for one run: the ``LLM``, its request options, chain slots and the failure breaker."""

    def __init__(self, config: JudgeConfig, *, llm: LLM | None = None):
        self.config = config
        self.llm = llm if llm is not None else from_spec(config.model, config.llm_config())
        self.options = config.options()
        self._chains: asyncio.Semaphore | None = None
        self._consecutive_failures = 0
        self.stopped: str | None = None

    def chain(self) -> asyncio.Semaphore:
        """Hold one of ``concurrency`` chain slots while running dependent calls."""
        if self._chains is None:
            self._chains = asyncio.Semaphore(self.config.concurrency)
        return self._chains

    async def ask(
        self,
        kind: str,
        version: str,
        messages: list[Message],
        *,
        parse: Callable[[str], Any] | None = None,
        offline: Callable[[Any], Any] | None = None,
        repeat: int = 0,
    ) -> CallRecord:
        """Ask one question; never raises for a judge failure (``RunStopped`` once the breaker has tripped).

        ``offline`` is the question's recipe for the ``rules`` judge (``TextRules`` -> the answer text in the
        official format); ``parse`` reads its text as it reads a model's. Other backends ignore it."""
        if self.stopped:
            raise RunStopped(self.stopped)
        received: list[str] = []
        task = Task(
            kind=kind,
            version=version,
            messages=messages,
            schema=None,
            inputs={"messages_sha256": json_digest(messages), **({"repeat": repeat} if repeat else {})},
            options=self.options,
            parse=_recording(parse, received) if parse is not None else None,
            offline=offline,
            on_invalid="resample",
            max_attempts=self.config.parse_attempts if parse is not None else 1,
        )
        try:
            answer = await self.llm.answer(task)
        except JudgeError as exc:
            kind_of_failure = failure_kind(exc)
            self._count(kind_of_failure)
            raw = received[-1] if received else None
            return CallRecord(raw, attempts=len(received), error=str(exc), error_kind=kind_of_failure)
        self._count(None)
        return CallRecord(answer.raw, answer.value, answer.attempts, answer.cached)

    def _count(self, failure: str | None) -> None:
        if failure in ("judge_unavailable", "judge_rejected"):
            self._consecutive_failures += 1
            limit = self.config.stop_after_consecutive_failures
            if limit and self._consecutive_failures >= limit and not self.stopped:
                self.stopped = (
                    f"stopped after {self._consecutive_failures} judge calls in a row failed "
                    f"(is {self.config.model} up?); re-run the same command to resume"
                )
                logger.error("%s", self.stopped)
        else:
            self._consecutive_failures = 0

    async def preflight(self) -> None:
        """One tiny request with a short timeout and no retries to speak of; ``JudgeError`` says what failed."""
        if not self.config.preflight or parse_spec(self.config.model).backend != "openai":
            return
        probe = from_spec(
            self.config.model,
            self.config.llm_config().model_copy(
                update={"max_retries": 1, "request_timeout_s": min(30.0, self.config.request_timeout_s), "cache": False}
            ),
        )
        try:
            await probe.chat([{"role": "user", "content": "Reply with OK."}], **{**self.options, "max_tokens": 4})
        except JudgeError as exc:
            raise JudgeError(
                f"the judge {self.config.model} did not answer a test request ({exc}); start it or fix --judge "
                "(skip this check with --no-preflight)"
            ) from exc
        finally:
            await probe.aclose()


RULES_JUDGE_NOTE = (
    "judge: rules, owlcap's offline word-overlap recipes (answers in the official formats, read by the official "
    "parsers): for demos and tests only; these numbers are not comparable with any published one"
)


def judge_notes(config: JudgeConfig) -> list[str]:
    """Notes every benchmark report carries about its judge."""
    return [RULES_JUDGE_NOTE] if config.offline else []


def _recording(parse: Callable[[str], Any], received: list[str]) -> Callable[[str], Any]:
    """``parse`` that also keeps each text it was given, so a failed call still shows what the judge said.
    ``functools.wraps`` keeps the parser's name, which is part of the cache key."""

    @functools.wraps(parse)
    def parse_and_record(text: str) -> Any:
        received.append(text)
        return parse(text)

    return parse_and_record


@dataclass
class LoopOutcome:
    written: int = 0
    not_judged: int = 0
    stopped: str | None = None
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)


def judge_all(
    config: JudgeConfig,
    items: list[Any],
    judge_one: Callable[[JudgeSession, Any], Awaitable[dict | None]],
    write: Callable[[dict], None],
    *,
    description: str,
) -> LoopOutcome:
    """One judge session over ``items``: the preflight (``JudgeError`` if the judge does not answer), then
    ``judge_items`` on the judge's background loop, with what it cost. Ctrl-C propagates once the loop stopped."""
    session = JudgeSession(config)
    try:
        run_judging(session, session.preflight())
        before = session.llm.stats.snapshot()
        outcome = run_judging(
            session,
            judge_items(
                session, items, len(items), lambda item: judge_one(session, item), write, description=description
            ),
        )
        outcome.cost = cost(session.llm.stats.snapshot() - before, outcome.wall_s)
        return outcome
    finally:
        session.llm.close()


def cost(delta: Any, wall_s: float) -> dict[str, Any]:
    """The judging cost of one session from the ``owlcap.llm`` counters (``StatsSnapshot`` differences)."""
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


async def judge_items(
    session: JudgeSession,
    items: Iterable[Any],
    total: int,
    judge_one: Callable[[Any], Awaitable[dict | None]],
    write: Callable[[dict], None],
    *,
    description: str,
) -> LoopOutcome:
    """Judge ``items`` with a bounded window in flight; ``write`` each finished record as soon as it is done.

    ``judge_one`` returns the item's record, or ``None`` when the breaker stopped it (not written: a re-run
    judges it). The window keeps enough items open to fill every chain slot without holding all in memory.
    """
    outcome = LoopOutcome()
    started = time.perf_counter()
    window = asyncio.Semaphore(max(8, session.config.concurrency))
    running: set[asyncio.Task] = set()

    async def one(item: Any) -> None:
        try:
            record = await judge_one(item)
        except RunStopped:
            record = None
        except Exception as exc:  # noqa: BLE001 - one item's bug must not sink the run: logged, counted, re-run
            logger.exception("%s: item %s could not be judged", description, getattr(item, "key", item))
            outcome.errors.append(f"{getattr(item, 'key', item)}: {type(exc).__name__}: {exc}")
            record = None
        finally:
            window.release()
        if record is None:
            outcome.not_judged += 1
        else:
            write(record)
            outcome.written += 1
        bar.advance(task_id)

    with progress_bar("item") as bar:
        task_id = bar.add_task(description, total=total)
        try:
            for item in items:
                await window.acquire()
                if session.stopped:
                    window.release()
                    outcome.not_judged += 1
                    continue
                task = asyncio.ensure_future(one(item))
                running.add(task)
                task.add_done_callback(running.discard)
            if running:
                await asyncio.gather(*running)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)  # none writes after its caller closed the file
            raise
        finally:
            outcome.stopped = session.stopped
            outcome.wall_s = time.perf_counter() - started
    return outcome


def run_judging(session: JudgeSession, coroutine: Awaitable[LoopOutcome]) -> LoopOutcome:
    """Run the judging coroutine on the judge's background loop; Ctrl-C cancels it (records written so far stay)."""
    future = session.llm.submit_in_background(coroutine)
    try:
        return future.result()
    except KeyboardInterrupt:
        future.cancel()
        # Cancelled or failed while stopping: the interrupt is what matters.
        with contextlib.suppress(BaseException):
            future.result(timeout=10)
        raise
