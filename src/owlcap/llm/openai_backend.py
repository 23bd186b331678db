"""The ``openai`` backend: any OpenAI-compatible server (vLLM, SGLang, OpenAI) through the async OpenAI client.

The client's own retries are switched off (``max_retries=0``) so that ``LLM`` retries every backend the same way,
counts each retry and honours Retry-After. Structured answers are requested with ``response_format`` JSON schema
(vLLM/SGLang constrain decoding with it) and are still validated, since not every server enforces it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import openai
from pydantic import BaseModel

from owlcap import envs
from owlcap.errors import JudgeError
from owlcap.llm.base import LLM
from owlcap.llm.config import LLMConfig
from owlcap.llm.media import to_openai_messages
from owlcap.llm.parsing import response_format
from owlcap.llm.retry import RetryableError, is_retryable_status, parse_retry_after
from owlcap.llm.task import Generation, Message

logger = logging.getLogger(__name__)

_OPTION_KEYS = frozenset(
    {"temperature", "max_tokens", "top_p", "top_k", "seed", "extra_body", "thinking", "structured_output"}
)
_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIBackend(LLM):
    """Chat completions against ``base_url``; the API key comes from ``OWLCAP_API_KEY``/``OPENAI_API_KEY``."""

    backend = "openai"

    def __init__(self, model: str, base_url: str | None = None, config: LLMConfig | None = None):
        super().__init__(model, config)
        self.base_url = (base_url or _DEFAULT_BASE_URL).rstrip("/")
        # vLLM without --api-key accepts any key; the client insists on one, so send a placeholder.
        self._api_key = envs.api_key() or "EMPTY"
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def name(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def _client(self) -> openai.AsyncOpenAI:
        # The client's connection pool belongs to the loop that opened it: one client per loop.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.config.request_timeout_s,
            )
            self._clients[loop] = client
        return client

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
            "temperature": options.get("temperature", config.temperature),
            "max_tokens": options.get("max_tokens", config.max_tokens),
        }
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
        return payload

    async def _generate(
        self, messages: list[Message], *, schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Generation:
        payload = self.request_payload(messages, schema, options)
        try:
            response = await self._client().chat.completions.create(**payload)
        except openai.APITimeoutError as exc:
            raise RetryableError("request timed out") from exc
        except openai.APIConnectionError as exc:
            raise RetryableError(f"connection error ({exc.__cause__ or exc})") from exc
        except openai.APIStatusError as exc:
            message = f"HTTP {exc.status_code} from {self.base_url}: {_short(exc.message)}"
            if is_retryable_status(exc.status_code):
                raise RetryableError(message, retry_after=parse_retry_after(exc.response.headers)) from exc
            raise JudgeError(message) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            # A 200 whose body is not a chat completion (a proxy's HTML page, a truncated body): likely transient.
            raise RetryableError(f"unreadable response from {self.base_url}: {_short(str(exc))}") from exc
        return _generation(response)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.close()


def _generation(response: Any) -> Generation:
    choices = getattr(response, "choices", None)
    if not choices:
        raise RetryableError("response has no choices")
    choice = choices[0]
    text = (choice.message.content if choice.message is not None else None) or ""
    if choice.finish_reason == "length":
        logger.info("answer hit max_tokens and is cut; it will likely fail validation")
    usage = getattr(response, "usage", None)
    return Generation(
        text=text,
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
