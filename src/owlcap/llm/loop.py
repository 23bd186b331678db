"""A private event loop on a daemon thread, for the synchronous wrappers (``chat_sync``, ``CSER.score_sync``).

Running every sync call on one long-lived loop (rather than ``asyncio.run`` per call) keeps HTTP connection pools
alive between calls, and works even when the caller is itself inside a running loop (a notebook, a trainer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """Starts its thread on first use; ``run(coro)`` blocks until the coroutine is done and returns its result."""

    def __init__(self, name: str = "owlcap-llm"):
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def _run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=_run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._ensure()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a sync owlcap call was made from its own background loop; await the async API")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the background loop and return at once; ``.result()`` waits for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure())

    def close(self, drain_timeout_s: float = 5.0) -> None:
        """Cancel what still runs on the loop (a batch interrupted by Ctrl-C, say), wait up to ``drain_timeout_s``
        for it to unwind, then stop the thread: no task is left pending on a dead loop."""
        with self._lock:
            if self._loop is not None:
                loop = self._loop
                if threading.current_thread() is not self._thread:
                    with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                        asyncio.run_coroutine_threadsafe(_wind_down(), loop).result(timeout=drain_timeout_s)
                loop.call_soon_threadsafe(loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=5)
                self._loop = None
                self._thread = None


async def _wind_down() -> None:
    """What ``asyncio.run`` does before it closes a loop: cancel the tasks, then close the open async generators
    (``owlcap.llm.clients`` closes the loop's connections in one)."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()
