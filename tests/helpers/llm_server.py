"""A scripted OpenAI-compatible chat server on loopback, for tests and benchmarks (no mocks: real HTTP over TCP).

```python
from helpers.llm_server import LoopbackLLMServer, Reply

with LoopbackLLMServer() as server:              # or the ``llm_server`` fixture
    server.push(Reply.error(500), Reply.ok('{"units": ["A dog runs."]}'))
    judge = from_spec(server.spec())             # "openai:judge@http://127.0.0.1:PORT/v1"
    ...
    server.requests[0].body["messages"]          # every request is recorded
```

Replies come first from the script queue (``push``), then from the ``responder`` (a function of the request that
returns a ``Reply``, a string or a dict), else a 500 saying nothing was scripted. Faults: ``Reply.error`` (any
status), ``Reply.rate_limited`` (429 + Retry-After), ``Reply.malformed`` (invalid JSON content), ``Reply.garbled``
(an HTTP body that is not JSON), ``delay_s`` (slow), ``Reply.hang`` (never answers: client timeout),
``Reply.disconnect`` (connection dropped), ``kill_after(n)`` (the server dies when request n arrives, mid-batch)
and ``slots``/``delay_s`` on the server (a fixed delay with N parallel slots, like a busy vLLM).

The HTTP/1.1 handling is deliberately minimal (Content-Length bodies, keep-alive) and written on asyncio streams,
so the server can kill connections abruptly (``transport.abort()``), which uvicorn/aiohttp do not expose.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Reply:
    """One scripted answer. ``content`` becomes the assistant message of a chat.completion body."""

    status: int = 200
    content: str | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False
    disconnect: bool = False
    usage: tuple[int, int] | None = None

    @classmethod
    def ok(cls, content: str | dict, *, delay_s: float = 0.0) -> Reply:
        text = content if isinstance(content, str) else json.dumps(content)
        return cls(content=text, delay_s=delay_s)

    @classmethod
    def error(cls, status: int = 500, message: str = "scripted failure", **headers: str) -> Reply:
        body = json.dumps({"error": {"message": message, "type": "server_error", "code": status}})
        return cls(status=status, body=body, headers=dict(headers))

    @classmethod
    def rate_limited(cls, retry_after_s: float = 1.0) -> Reply:
        return cls.error(429, "rate limited", **{"retry-after": f"{retry_after_s:g}"})

    @classmethod
    def malformed(cls, text: str = '{"units": ["unterminated') -> Reply:
        """A 200 whose assistant content is not valid JSON (the client must ask for a repair)."""
        return cls(content=text)

    @classmethod
    def garbled(cls) -> Reply:
        """A 200 whose HTTP body itself is not JSON."""
        return cls(body="<html>proxy error</html>")

    @classmethod
    def slow(cls, content: str | dict, delay_s: float) -> Reply:
        return cls.ok(content, delay_s=delay_s)

    @classmethod
    def never(cls) -> Reply:
        """Never answer: the client's timeout must fire."""
        return cls(hang=True)

    @classmethod
    def drop(cls) -> Reply:
        """Close the connection without answering."""
        return cls(disconnect=True)


@dataclass
class RecordedRequest:
    """One request as received: method, path, lower-cased headers, JSON body (``None`` if unparsable)."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    answered_at: float | None = None
    status: int | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return (self.body or {}).get("messages", [])

    def text_of(self, role: str) -> str:
        """All text of the messages with ``role``, joined (image parts skipped)."""
        texts = []
        for message in self.messages:
            if message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts += [p.get("text", "") for p in content if p.get("type") == "text"]
        return "\n".join(texts)

    @property
    def schema_name(self) -> str | None:
        fmt = (self.body or {}).get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("name")


Responder = Callable[[RecordedRequest], "Reply | str | dict"]


class LoopbackLLMServer:
    """The server; ``start()`` runs it on a daemon thread, ``stop()`` shuts it down, ``kill()`` crashes it."""

    def __init__(
        self, responder: Responder | None = None, *, slots: int | None = None, delay_s: float = 0.0, port: int = 0
    ):
        self.responder = responder
        self.slots = slots
        self.delay_s = delay_s
        self.requests: list[RecordedRequest] = []
        self.max_in_flight = 0
        self._script: collections.deque[Reply] = collections.deque()
        self._kill_at: int | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._stopping: asyncio.Event | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self.port = port  # 0: any free port, chosen on start
        self.killed = False

    # ----------------------------------------------------------------------------------------- control API

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def spec(self, model: str = "judge") -> str:
        return f"openai:{model}@{self.base_url}"

    def push(self, *replies: Reply | str | dict) -> None:
        """Queue replies, answered in order before the responder is asked."""
        with self._lock:
            self._script.extend(_as_reply(r) for r in replies)

    def kill_after(self, n: int) -> None:
        """Crash the server when request number ``n`` (1-based, counting from now) arrives: that request and every
        one in flight lose their connection; later ones are refused."""
        with self._lock:
            self._kill_at = len(self.requests) + n

    def start(self) -> LoopbackLLMServer:
        ready = threading.Event()

        def _run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._open())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=_run, name="loopback-llm-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback LLM server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None or not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(abort=False), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def kill(self) -> None:
        """Crash now: stop listening and abort every open connection."""
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(abort=True), self._loop).result(10)

    def __enter__(self) -> LoopbackLLMServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --------------------------------------------------------------------------------------------- serving

    async def _open(self) -> None:
        self._stopping = asyncio.Event()
        self._semaphore = asyncio.Semaphore(self.slots) if self.slots else None
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self, *, abort: bool) -> None:
        self.killed = self.killed or abort
        if self._server is not None:
            self._server.close()
        assert self._stopping is not None
        self._stopping.set()
        for transport in list(self._transports):
            transport.abort() if abort else transport.close()
        self._transports.clear()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        self._transports.add(transport)
        try:
            while not self._stopping.is_set():
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self._handle(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._transports.discard(transport)
            if not transport.is_closing():
                transport.close()

    async def _handle(self, raw: tuple[str, str, dict[str, str], bytes], writer: asyncio.StreamWriter) -> bool:
        method, path, headers, payload = raw
        try:
            body = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            body = None
        with self._lock:
            record = RecordedRequest(len(self.requests), method, path, headers, body, time.monotonic())
            self.requests.append(record)
            kill_now = self._kill_at is not None and len(self.requests) >= self._kill_at
            reply = self._script.popleft() if self._script else None
        if kill_now:
            self._kill_at = None
            await self._shutdown(abort=True)
            return False
        if self._semaphore is not None:
            async with self._semaphore:
                return await self._answer(record, reply, writer)
        return await self._answer(record, reply, writer)

    def _respond(self, record: RecordedRequest) -> Reply:
        if record.path.rstrip("/").endswith("/models"):
            return Reply(body=json.dumps({"object": "list", "data": [{"id": "judge", "object": "model"}]}))
        if self.responder is None:
            return Reply.error(500, "no scripted reply left")
        return _as_reply(self.responder(record))

    async def _answer(self, record: RecordedRequest, reply: Reply | None, writer: asyncio.StreamWriter) -> bool:
        """Serve one request in its slot. The responder's own work counts as part of the delay, so a server with
        ``delay_s`` answers exactly that long after the slot was taken (like a model with a fixed service time)."""
        started = time.monotonic()
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if reply is None:
                reply = self._respond(record)
            if reply.disconnect:
                writer.transport.abort()
                return False
            delay = max(0.0, reply.delay_s + self.delay_s - (time.monotonic() - started))
            if reply.hang:
                await self._stopping.wait()
                return False
            if delay:
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                    return False  # the server went down while this answer was being "generated"
                except TimeoutError:
                    pass
            if writer.transport.is_closing():
                return False
            writer.write(_http_response(record, reply))
            await writer.drain()
            record.answered_at, record.status = time.monotonic(), reply.status
            return True
        finally:
            with self._lock:
                self._in_flight -= 1


def _as_reply(value: Reply | str | dict) -> Reply:
    if isinstance(value, Reply):
        return value
    return Reply.ok(value)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    payload = await reader.readexactly(length) if length else b""
    return method, path, headers, payload


def _http_response(record: RecordedRequest, reply: Reply) -> bytes:
    if reply.body is not None:
        body = reply.body.encode()
    else:
        content = reply.content or ""
        prompt_chars = sum(len(record.text_of(role)) for role in ("system", "user", "assistant"))
        prompt_tokens, completion_tokens = reply.usage or (prompt_chars // 4, len(content) // 4)
        model = (record.body or {}).get("model", "judge")
        body = json.dumps(
            {
                "id": f"chatcmpl-{record.index}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        ).encode()
    reason = _REASONS.get(reply.status, "Status")
    headers = {"content-type": "application/json", "content-length": str(len(body)), **reply.headers}
    head = f"HTTP/1.1 {reply.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body
