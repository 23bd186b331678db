"""``LLM``: the one interface every model call in owlcap goes through.

A backend only implements ``_generate`` (one request, one answer, transient failures raised as
``RetryableError``). Everything else lives here, once: bounded concurrency, per-attempt timeouts, retries with
backoff and Retry-After, ``<think>`` stripping, JSON validation with repair rounds, the result cache, counters,
and a batch helper that reports each item's failure instead of raising.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import time
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from owlcap import envs
from owlcap.errors import JudgeError, OwlcapError
from owlcap.llm.cache import ResultCache
from owlcap.llm.config import LLMConfig
from owlcap.llm.loop import BackgroundLoop
from owlcap.llm.parsing import message_chars, parse_structured, repair_messages, strip_think
from owlcap.llm.retry import RetryableError, next_wait
from owlcap.llm.stats import LLMStats
from owlcap.llm.task import Answer, Generation, Message, Outcome, Task

logger = logging.getLogger(__name__)


class LLM(abc.ABC):
    """Async chat with text or structured (pydantic-validated) answers. Create one with ``from_spec``.

    ``chat`` and ``run`` raise ``JudgeError`` once retries and repairs are spent; ``chat_many`` never raises for
    one item and returns an ``Outcome`` per item instead. ``stats`` counts everything.
    """

    backend: ClassVar[str] = ""
    uses_cache: ClassVar[bool] = True

    def __init__(self, model: str, config: LLMConfig | None = None):
        self.model = model
        self.config = config or LLMConfig()
        self.stats = LLMStats()
        self._cache: ResultCache | None = None
        # asyncio primitives bind to one loop; keep one semaphore per loop that uses this LLM.
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._background = BackgroundLoop(name=f"owlcap-{self.backend}")
        self._last_slow_log = -math.inf  # when a slow request was last logged (time.monotonic)
        self._result_cache()  # opened now: an unwritable cache is one ConfigError here, not every item failing

    @property
    def name(self) -> str:
        """The model spec this LLM answers for, e.g. ``openai:qwen3@http://127.0.0.1:8000/v1``."""
        return f"{self.backend}:{self.model}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # ----------------------------------------------------------------------------------------------- public API

    async def chat(
        self,
        messages: list[Message],
        schema: type[BaseModel] | None = None,
        *,
        check: Any = None,
        parse: Any = None,
        on_invalid: str = "repair",
        **options: Any,
    ) -> Any:
        """One conversation turn. Returns the text (``<think>`` stripped), ``parse(text)``, or an instance of
        ``schema``.

        ``options`` override the config for this call: ``temperature``, ``max_tokens``, ``top_p``, ``top_k``, ``seed``,
        ``thinking`` (True/False: Qwen3 ``enable_thinking``), ``structured_output`` and, for servers, ``extra_body``.
        ``parse`` raises ``ValueError`` for an unusable answer, which is followed by a repair round or, with
        ``on_invalid="resample"``, by the same request again. Raises ``JudgeError`` after the retries and repair
        rounds are spent.
        """
        start = time.perf_counter()
        self.stats.add(calls=1)
        try:
            result, _, _ = await self._chat(messages, schema, options, check, parse=parse, on_invalid=on_invalid)
        except JudgeError:
            self.stats.add(failures=1)
            self.stats.record_latency(time.perf_counter() - start)
            raise
        self.stats.add(successes=1)
        self.stats.record_latency(time.perf_counter() - start)
        return result

    async def run(self, task: Task) -> Any:
        """Answer a ``Task`` (a ``task.schema`` instance, ``task.parse``'s value, or text), from the cache when it
        was answered before."""
        return (await self.answer(task)).value

    async def answer(self, task: Task) -> Answer[Any]:
        """``run`` with provenance: the raw answer text and how many answers it took (0 when cached)."""
        start = time.perf_counter()
        self.stats.add(calls=1)
        cache = self._result_cache() if task.cache else None
        key = task.cache_key(self.backend, self.model) if cache is not None else ""
        if cache is not None:
            # sqlite answers in microseconds (WAL); a thread hop per lookup would cost more than the lookup.
            cached = cache.get(key)
            if cached is not None:
                self.stats.add(cache_hits=1, successes=1)
                return _from_cache(task, cached)
            self.stats.add(cache_misses=1)
        try:
            value, raw, attempts = await self._run_task(task)
        except JudgeError as exc:
            self.stats.add(failures=1)
            self.stats.record_latency(time.perf_counter() - start)
            raise JudgeError(f"{self.name}: task {task.kind}: {exc}") from exc
        self.stats.add(successes=1)
        self.stats.record_latency(time.perf_counter() - start)
        if cache is not None:
            cache.put(key, _to_cache(task, value, raw), kind=task.kind)
        return Answer(value, raw, attempts)

    async def chat_many(
        self,
        items: Sequence[Task | list[Message]],
        schema: type[BaseModel] | None = None,
        *,
        concurrency: int | None = None,
    ) -> list[Outcome[Any]]:
        """Answer many tasks (or message lists, with ``schema``) concurrently; never raises for one item.

        In-flight requests stay bounded by ``config.concurrency``; ``concurrency`` bounds the items further.
        """
        limit = asyncio.Semaphore(concurrency) if concurrency else None

        async def _one(index: int, item: Task | list[Message]) -> Outcome[Any]:
            start = time.perf_counter()
            try:
                if limit is not None:
                    async with limit:
                        value = await self._answer(item, schema)
                else:
                    value = await self._answer(item, schema)
            except OwlcapError as exc:
                logger.warning("%s: item %d failed: %s", self.name, index, exc)
                return Outcome(index, None, str(exc), time.perf_counter() - start)
            except Exception as exc:  # noqa: BLE001 - a batch boundary: one item's bug must not sink the batch
                logger.exception("%s: item %d failed unexpectedly", self.name, index)
                return Outcome(index, None, f"unexpected {type(exc).__name__}: {exc}", time.perf_counter() - start)
            return Outcome(index, value, None, time.perf_counter() - start)

        return list(await asyncio.gather(*(_one(i, item) for i, item in enumerate(items))))

    async def ping(self, **options: Any) -> None:
        """One tiny text request ("Reply with OK.", a few tokens): a dead or misnamed server fails here, once, with
        its cause (``JudgeError``), instead of failing every item after its retries. Callers say which flag to fix."""
        await self.chat([{"role": "user", "content": "Reply with OK."}], **{"max_tokens": 4, **options})

    def chat_sync(self, messages: list[Message], schema: type[BaseModel] | None = None, **options: Any) -> Any:
        """``chat`` for synchronous code (runs on a private background loop)."""
        return self._background.run(self.chat(messages, schema, **options))

    def run_sync(self, task: Task) -> Any:
        return self._background.run(self.run(task))

    def chat_many_sync(
        self,
        items: Sequence[Task | list[Message]],
        schema: type[BaseModel] | None = None,
        *,
        concurrency: int | None = None,
    ) -> list[Outcome[Any]]:
        return self._background.run(self.chat_many(items, schema, concurrency=concurrency))

    def run_in_background(self, coro: Any) -> Any:
        """Run any coroutine that uses this LLM on its background loop and wait for the result."""
        return self._background.run(coro)

    def submit_in_background(self, coro: Any) -> Any:
        """Start a coroutine on this LLM's background loop without waiting; returns a ``concurrent.futures.Future``."""
        return self._background.submit(coro)

    async def aclose(self) -> None:
        """Release connections. The LLM stays usable (clients are recreated on demand)."""

    def close(self) -> None:
        """Close the background loop's connections and stop it, and close the cache. Async users: ``aclose``."""
        if self._background.started:
            self._background.run(self.aclose())
        self._background.close()
        if self._cache is not None:
            self._cache.close()

    # --------------------------------------------------------------------------------------------- internals

    async def _answer(self, item: Task | list[Message], schema: type[BaseModel] | None) -> Any:
        if isinstance(item, Task):
            return await self.run(item)
        return await self.chat(item, schema)

    async def _run_task(self, task: Task) -> tuple[Any, str | None, int]:
        """``(value, raw answer, answers requested)`` for one task, not cached."""
        return await self._chat(
            task.messages,
            task.schema,
            task.options,
            task.check,
            parse=task.parse,
            on_invalid=task.on_invalid,
            max_attempts=task.max_attempts,
        )

    def _result_cache(self) -> ResultCache | None:
        if not (self.config.cache and self.uses_cache):
            return None
        if self._cache is None:
            self._cache = ResultCache(self.config.resolved_cache_path())
        return self._cache

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.config.concurrency)
        return semaphore

    async def _chat(
        self,
        messages: list[Message],
        schema: type[BaseModel] | None,
        options: dict[str, Any],
        check: Any,
        *,
        parse: Any = None,
        on_invalid: str = "repair",
        max_attempts: int | None = None,
    ) -> tuple[Any, str, int]:
        """Request, then validate: ``(value, raw text, answers requested)``. An invalid answer is followed by a
        repair round showing the problem, or by a fresh sample of the same request (``on_invalid="resample"``)."""
        attempts = max_attempts if max_attempts is not None else self.config.repair_rounds + 1
        conversation = messages
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self.stats.add(repairs=1)
            text = await self._request(conversation, schema, options)
            if schema is None and parse is None:
                return strip_think(text), text, attempt
            try:
                result = parse(strip_think(text)) if schema is None else parse_structured(text, schema)
                if check is not None:
                    check(result)
                return result, text, attempt
            except ValueError as exc:
                problem = str(exc)
                if attempt < attempts:
                    more = "; asking again" if on_invalid == "resample" else "; asking for a repair"
                else:
                    more = ""
                logger.info("%s: invalid answer (%s)%s", self.name, problem, more)
                if on_invalid == "repair":
                    conversation = repair_messages(messages, strip_think(text), problem, schema)
        how = f"{attempts - 1} repair round(s)" if on_invalid == "repair" else "fresh samples"
        raise JudgeError(f"invalid answer after {attempts} attempt(s) ({how}): {problem}")

    async def _request(self, messages: list[Message], schema: type[BaseModel] | None, options: dict[str, Any]) -> str:
        """One answer, retrying transient errors with backoff; raises ``JudgeError`` when retries are spent."""
        config = self.config
        prompt_chars = message_chars(messages)
        for attempt in range(config.max_retries + 1):
            self.stats.add(requests=1, retries=1 if attempt else 0, prompt_chars=prompt_chars)
            try:
                async with self._semaphore():
                    watch = self._watch_slow_request()
                    try:
                        async with asyncio.timeout(config.request_timeout_s):
                            generation: Generation = await self._generate(messages, schema=schema, options=options)
                    finally:
                        if watch is not None:
                            watch.cancel()
            except TimeoutError:
                error = RetryableError(f"no answer within request_timeout_s={config.request_timeout_s}")
            except RetryableError as exc:
                error = exc
            else:
                self.stats.add(
                    completion_chars=len(generation.text),
                    prompt_tokens=generation.prompt_tokens,
                    completion_tokens=generation.completion_tokens,
                )
                return generation.text
            if attempt == config.max_retries:
                raise JudgeError(f"gave up after {attempt + 1} attempt(s): {error}") from error
            wait = next_wait(
                attempt,
                error,
                base_s=config.backoff_base_s,
                max_s=config.backoff_max_s,
                retry_after_max_s=config.retry_after_max_s,
            )
            logger.info("%s: %s; retry %d/%d in %.2fs", self.name, error, attempt + 1, config.max_retries, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _watch_slow_request(self) -> asyncio.TimerHandle | None:
        """Log once when this attempt has had no answer for ``OWLCAP_SLOW_REQUEST_S``, so a hung server shows up in
        the log long before ``request_timeout_s`` and the retries are spent. At most one line per that many seconds
        per model, however many requests are waiting."""
        after_s = envs.slow_request_s()
        if after_s <= 0 or after_s >= self.config.request_timeout_s:
            return None
        return asyncio.get_running_loop().call_later(after_s, self._log_slow_request, after_s)

    def _log_slow_request(self, after_s: float) -> None:
        now = time.monotonic()
        if now - self._last_slow_log < after_s:
            return
        self._last_slow_log = now
        config = self.config
        logger.warning(
            "%s: no answer after %g s (a request is given up after request_timeout_s=%g s and retried up to %d "
            "times); is the server up and not overloaded?",
            self.name,
            after_s,
            config.request_timeout_s,
            config.max_retries,
        )

    @abc.abstractmethod
    async def _generate(
        self, messages: list[Message], *, schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Generation:
        """Send one request. Raise ``RetryableError`` for transient failures and ``JudgeError`` for the rest."""


_ANSWER_FORMAT = "owlcap.answer.v2"


def _to_cache(task: Task, value: Any, raw: str | None) -> Any:
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else value
    return {"format": _ANSWER_FORMAT, "value": data, "raw": raw}


def _from_cache(task: Task, cached: Any) -> Answer[Any]:
    # Entries written before answers kept their raw text hold the schema instance's JSON alone.
    if isinstance(cached, dict) and cached.get("format") == _ANSWER_FORMAT:
        value, raw = cached["value"], cached.get("raw")
    else:
        value, raw = cached, None
    if task.schema is not None:
        value = task.schema.model_validate(value)
    return Answer(value, raw, 0, cached=True)
