"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, OpenAI) through the async OpenAI client.

One spec may name several endpoints of one model (``openai:<model>@<url1>,<url2>``); ``owlcap.llm.endpoints``
spreads the requests over them and takes a dead one out until it answers again.

The client's own retries are switched off (``max_retries=0``) so that ``LLM`` retries every backend the same way,
counts each retry and honours Retry-After. Structured answers are requested with ``response_format`` JSON schema
(vLLM/SGLang constrain decoding with it) and are still validated, since not every server enforces it.

The body of an answer is read here, up to a bound derived from the request's ``max_tokens``, and validated before
anything reads it (``owlcap.llm.completion``): a 200 of the wrong shape or size is retried, then fails that one call.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
from pydantic import BaseModel

from owlcap import envs
from owlcap.errors import JudgeError
from owlcap.llm.base import LLM
from owlcap.llm.choices import choice_text, probabilities_from_logprobs
from owlcap.llm.clients import ClientsPerLoop
from owlcap.llm.completion import AnswerBound, Choice, Completion, InvalidAnswer, parse_completion
from owlcap.llm.config import LLMConfig
from owlcap.llm.endpoints import Endpoint, EndpointPool
from owlcap.llm.media import to_openai_messages
from owlcap.llm.parsing import response_format
from owlcap.llm.retry import RetryableError, is_retryable_status, parse_retry_after
from owlcap.llm.task import Generation, Message

logger = logging.getLogger(__name__)

_OPTION_KEYS = frozenset(
    {"temperature", "max_tokens", "top_p", "top_k", "seed", "extra_body", "thinking", "structured_output", "choices"}
)
_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_TOP_LOGPROBS = 20  # the most OpenAI accepts and vLLM's default --max-logprobs


class OpenAIBackend(LLM):
    """Chat completions against ``base_url``; the API key comes from ``OWLCAP_API_KEY``/``OPENAI_API_KEY``."""

    backend = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        config: LLMConfig | None = None,
        *,
        base_urls: list[str] | tuple[str, ...] | None = None,
    ):
        super().__init__(model, config)
        urls = [url.rstrip("/") for url in (base_urls or [base_url or _DEFAULT_BASE_URL])]
        self.base_urls = tuple(urls)
        self.base_url = urls[0]
        self.pool = EndpointPool(
            urls, cooldown_s=self.config.endpoint_cooldown_s, max_failures=self.config.endpoint_max_failures
        )
        # vLLM without --api-key accepts any key; the client insists on one, so send a placeholder.
        self._api_key = envs.api_key() or "EMPTY"
        self._clients: ClientsPerLoop[openai.AsyncOpenAI] = ClientsPerLoop(self._new_client)

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{','.join(self.base_urls)}"

    def _new_client(self, base_url: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key, base_url=base_url, max_retries=0, timeout=self.config.request_timeout_s
        )

    def endpoints(self) -> list[dict[str, object]]:
        """Per-endpoint counters: url, healthy, outstanding, requests, failures, ejections, last_error."""
        return self.pool.snapshot()

    def request_payload(
        self, messages: list[Message], schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for one request (exposed for tests and debugging)."""
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise JudgeError(f"unknown request option(s) {sorted(unknown)}; allowed: {sorted(_OPTION_KEYS)}")
        config = self.config
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages, transport=config.video_transport, quality=config.jpeg_quality),
        }
        for key in ("temperature", "max_tokens"):
            value = options.get(key, getattr(config, key))
            if value is not None:  # an option set to None: send no such field (the server's default applies)
                payload[key] = value
        if options.get("top_p") is not None:
            payload["top_p"] = options["top_p"]
        seed = options.get("seed", config.seed)
        if seed is not None:
            payload["seed"] = seed
        if schema is not None:
            fmt = response_format(schema, options.get("structured_output", config.structured_output))
            if fmt is not None:
                payload["response_format"] = fmt
        extra: dict[str, Any] = {}
        if config.server_extras:
            top_k = options.get("top_k", config.top_k)
            if top_k is not None:
                extra["top_k"] = top_k
            thinking = options.get("thinking")
            if thinking is None and config.disable_thinking:
                thinking = False
            if thinking is not None:
                extra["chat_template_kwargs"] = {"enable_thinking": bool(thinking)}
        extra.update(options.get("extra_body") or {})
        if extra:
            payload["extra_body"] = extra
        if options.get("choices"):
            payload |= {"logprobs": True, "top_logprobs": _TOP_LOGPROBS}
        return payload

    async def _generate(
        self, messages: list[Message], *, schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Generation:
        payload = self.request_payload(messages, schema, options)
        # A request that leaves max_tokens to the server is bounded by the config's (the server's limit is unknown).
        max_tokens = payload.get("max_tokens", self.config.max_tokens)
        bound = AnswerBound.for_request(
            max_tokens, self.config.answer_chars_per_token, logprobs=bool(payload.get("logprobs"))
        )
        tried: set[str] = set()
        while True:
            with self.pool.use(tried) as endpoint:
                try:
                    response = await self._send(endpoint, payload, tried, bound)
                except _FailOver:
                    tried.add(endpoint.url)
                    continue
            return _generation(response, options.get("choices"))

    async def _send(self, endpoint: Endpoint, payload: dict[str, Any], tried: set[str], bound: AnswerBound) -> Any:
        """One request to one endpoint, its outcome reported to the pool. A refused connection with another healthy
        endpoint left raises ``_FailOver`` (try that one now); other transient failures raise ``RetryableError``."""
        try:
            client = await self._clients.get(endpoint.url)  # one per loop and endpoint (``owlcap.llm.clients``)
            raw = await client.post("/chat/completions", body=_body(payload), cast_to=object, options=_STREAMED)
        except asyncio.CancelledError:
            # The attempt's deadline passed (or the caller gave up): a strike against a slow endpoint.
            self.pool.failed(endpoint, "no answer in time", hard=False)
            raise
        except openai.APITimeoutError as exc:
            self.pool.failed(endpoint, "request timed out", hard=False)
            raise RetryableError(f"request to {endpoint.url} timed out") from exc
        except openai.APIConnectionError as exc:
            cause = f"connection error ({exc.__cause__ or exc})"
            self.pool.failed(endpoint, cause, hard=True)
            if self.pool.healthy_others(endpoint, tried | {endpoint.url}):
                raise _FailOver from exc
            raise RetryableError(f"{cause} at {endpoint.url}") from exc
        except openai.APIStatusError as exc:
            message = f"HTTP {exc.status_code} from {endpoint.url}: {_short(exc.message)}"
            if exc.status_code >= 500:
                self.pool.failed(endpoint, f"HTTP {exc.status_code}", hard=False)
            else:
                self.pool.succeeded(endpoint)  # it answered: alive, whatever it thought of the request
            if is_retryable_status(exc.status_code):
                raise RetryableError(message, retry_after=parse_retry_after(exc.response.headers)) from exc
            raise JudgeError(message) from exc
        body = await self._body(endpoint, raw, bound)
        try:
            response = parse_completion(body, bound)
        except InvalidAnswer as exc:
            # A 200 that is not a usable chat completion (a proxy's HTML page, a cut body, a wrong shape or size).
            self.pool.failed(endpoint, "unreadable response", hard=False)
            raise RetryableError(f"invalid answer from {endpoint.url}: {_short(str(exc))}") from exc
        self.pool.succeeded(endpoint)
        return response

    async def _body(self, endpoint: Endpoint, raw: Any, bound: AnswerBound) -> bytes:
        """The answer's body, read up to ``bound.body_bytes``; a longer one, or one cut off, is a ``RetryableError``."""
        try:
            return await _read_bounded(raw, bound.body_bytes)
        except asyncio.CancelledError:
            self.pool.failed(endpoint, "no answer in time", hard=False)
            raise
        except InvalidAnswer as exc:  # the model ran on past any sensible answer; the server itself is fine
            self.pool.succeeded(endpoint)
            raise RetryableError(f"answer from {endpoint.url} refused: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - the HTTP library's own errors: the connection broke mid-body
            self.pool.failed(endpoint, "answer cut off", hard=False)
            raise RetryableError(f"the answer from {endpoint.url} broke off ({type(exc).__name__}: {exc})") from exc

    async def aclose(self) -> None:
        await self._clients.aclose()


_AUTH: Any = {"security": {"bearer_auth": True}}
# The client's own switch for "leave the body unread" (what ``with_streaming_response`` sends): the body is then
# read here, never past its bound.
_STREAMED: Any = {**_AUTH, "headers": {"X-Stainless-Raw-Response": "stream"}}


async def _read_bounded(response: Any, limit: int) -> bytes:
    """The body of ``response`` (an unread ``openai.AsyncAPIResponse``), or ``InvalidAnswer`` once it passes
    ``limit`` bytes; the connection is closed either way. A body that declares its length is read in one go when
    the length is within the bound (the common case, and the cheapest), else refused unread."""
    too_big = InvalidAnswer(f"a body over {limit} bytes, the bound for this request's max_tokens")
    try:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise too_big
            return await response.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        await response.close()


def _body(payload: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of ``request_payload``'s keyword arguments, ``extra_body`` merged in.

    Sent with the client's plain ``post`` rather than ``chat.completions.create``: ``create`` walks every message
    part through its typed-dict transform, which costs milliseconds per request for a video sent as dozens of image
    parts (a third of a build's CPU, measured by benchmarks/data_throughput.py); the body it would send is the same.
    """
    body = {key: value for key, value in payload.items() if key != "extra_body"}
    return body | payload.get("extra_body", {})


class _FailOver(Exception):
    """This endpoint refused the connection and another one is healthy: send the same request there now."""


def _generation(response: Completion, choices: list[str] | None = None) -> Generation:
    choice = response.choices[0]
    text = (choice.message.content if choice.message is not None else None) or ""
    if choices:
        text = _choice_answer(choice, choices) or text
    elif choice.finish_reason == "length":
        logger.info("answer hit max_tokens and is cut; it will likely fail validation")
    usage = response.usage
    return Generation(
        text=text,
        prompt_tokens=(usage.prompt_tokens if usage else None) or 0,
        completion_tokens=(usage.completion_tokens if usage else None) or 0,
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _choice_answer(choice: Choice, choices: list[str]) -> str | None:
    """The ``owlcap.llm.choices`` answer from the first generated token's ``top_logprobs``, if the server sent any."""
    content = choice.logprobs.content if choice.logprobs is not None else None
    if not content:
        return None
    first = content[0]
    top = [(candidate.token, candidate.logprob) for candidate in first.top_logprobs]
    if first.token not in {token for token, _ in top}:
        top.append((first.token, first.logprob))  # the sampled token, when the server left it out of the top list
    probs = probabilities_from_logprobs(top, choices)
    return choice_text(probs) if probs is not None else None
