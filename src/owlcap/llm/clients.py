"""HTTP clients per event loop, closed when their loop ends.

A client's connection pool belongs to the loop that opened it, so a backend keeps one client per loop and endpoint.
A caller that drives the async API with ``asyncio.run`` and never awaits ``aclose`` would leave the clients of a
finished loop to the garbage collector; the openai client then schedules its own close on whatever loop runs at that
moment (another caller's), where it fails and logs "Task exception was never retrieved" into that caller's output.
``asyncio.run`` closes every open async generator before it closes its loop (``loop.shutdown_asyncgens``): one held
open per loop closes that loop's clients then, inside the loop they belong to.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Callable
from typing import Any, Generic, Protocol, TypeVar

logger = logging.getLogger(__name__)


class _Closable(Protocol):
    async def close(self) -> Any: ...


C = TypeVar("C", bound=_Closable)


class ClientsPerLoop(Generic[C]):
    """``await get(key)``: the running loop's client for ``key`` (made by ``make(key)`` on first use)."""

    def __init__(self, make: Callable[[str], C]):
        self._make = make
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[dict[str, C], AsyncGenerator]] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self, key: str) -> C:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is None:
            clients: dict[str, C] = {}
            closer = self._close_at_loop_end(clients)
            entry = self._by_loop[loop] = (clients, closer)
            await closer.__anext__()  # now the loop knows it, and closes it before the loop itself closes
        clients = entry[0]
        if key not in clients:
            clients[key] = self._make(key)
        return clients[key]

    async def aclose(self) -> None:
        """Close the running loop's clients now; later calls make new ones."""
        entry = self._by_loop.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    async def _close_at_loop_end(self, clients: dict[str, C]) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            loop = asyncio.get_running_loop()
            if self._by_loop.get(loop, ({},))[0] is clients:  # its own entry, not a newer one of the same loop
                del self._by_loop[loop]
            for key, client in clients.items():
                try:
                    await client.close()
                except Exception as exc:  # noqa: BLE001 - a connection that broke is closed as far as it can be
                    logger.debug("closing the client of %s: %s", key, exc)
            clients.clear()
