"""The ``hf`` backend: an in-process transformers model (text LLM or video MLLM) from ``owlcap.models``.

Concurrent requests are gathered into batches (up to ``hf_batch_size``, waiting at most ``hf_batch_wait_ms`` for
company) and generated together in a worker thread, one batch at a time, so the event loop stays free. No
schema-constrained decoding library is a dependency, so structured answers rely on the prompt, then validation and
``LLM``'s repair rounds. A task with the ``choices`` option (``owlcap.llm.choices``) is scored instead of generated:
one forward pass reads the next-token probabilities of the choices. The model loads on first use. The ``thinking``
option cannot reach the chat template through ``owlcap.models`` (it renders without template kwargs), so a Qwen3
model may think: its ``<think>`` block is stripped like any other, at the cost of the tokens.

Message mapping onto ``owlcap.models.VideoRequest``: system messages become the system prompt; the user text is
the prompt; at most one ``{"type": "video", "video": SampledVideo}`` part is the video. A repair conversation
(user, assistant, user) is flattened into one prompt that quotes the earlier answer.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

from pydantic import BaseModel

from owlcap.errors import JudgeError
from owlcap.llm.base import LLM
from owlcap.llm.choices import choice_text
from owlcap.llm.config import LLMConfig
from owlcap.llm.task import Generation, Message

logger = logging.getLogger(__name__)

_OPTION_KEYS = frozenset(
    {"temperature", "max_tokens", "top_p", "top_k", "seed", "thinking", "structured_output", "choices"}
)


def _texts(content: Any) -> tuple[str, list[Any]]:
    """The text and the videos of one message's content."""
    if isinstance(content, str):
        return content, []
    text, videos = [], []
    for part in content or []:
        kind = part.get("type")
        if kind == "text":
            text.append(part.get("text", ""))
        elif kind == "video":
            videos.append(part.get("video"))
        else:
            raise JudgeError(f"the hf backend takes text and owlcap video parts, not {kind!r} parts")
    return "\n".join(text), videos


def to_video_request(messages: list[Message]) -> Any:
    """One ``VideoRequest`` from chat ``messages`` (see the module docstring for the mapping)."""
    from owlcap.models import VideoRequest

    system = "\n\n".join(_texts(m["content"])[0] for m in messages if m.get("role") == "system") or None
    turns = [m for m in messages if m.get("role") != "system"]
    prompt_parts: list[str] = []
    videos: list[Any] = []
    for message in turns:
        text, found = _texts(message.get("content"))
        videos += found
        if message.get("role") == "assistant":
            prompt_parts.append(f"Your previous answer was:\n{text}")
        else:
            prompt_parts.append(text)
    if len(videos) > 1:
        raise JudgeError(f"the hf backend takes one video per request, got {len(videos)}")
    return VideoRequest(prompt="\n\n".join(prompt_parts), video=videos[0] if videos else None, system=system)


class _Batcher:
    """Collects requests on one event loop and runs them through the model in batches."""

    def __init__(self, backend: HFBackend):
        self.backend = backend
        self.queue: list[tuple[Any, Any, asyncio.Future]] = []
        self.flush_scheduled = False

    async def submit(self, request: Any, options: Any) -> str:
        future = asyncio.get_running_loop().create_future()
        self.queue.append((request, options, future))
        config = self.backend.config
        if len(self.queue) >= config.hf_batch_size:
            self._flush()
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_later(config.hf_batch_wait_ms / 1000, self._flush)
        return await future

    def _flush(self) -> None:
        self.flush_scheduled = False
        items, self.queue = self.queue, []
        groups: dict[str, list[tuple[Any, Any, asyncio.Future]]] = {}
        for item in items:
            if not item[2].cancelled():  # a request that timed out while waiting is not generated
                groups.setdefault(item[1].model_dump_json(), []).append(item)
        for group in groups.values():
            for start in range(0, len(group), self.backend.config.hf_batch_size):
                asyncio.ensure_future(self._run(group[start : start + self.backend.config.hf_batch_size]))

    async def _run(self, batch: list[tuple[Any, Any, asyncio.Future]]) -> None:
        requests, options = [item[0] for item in batch], batch[0][1]
        try:
            texts = await asyncio.to_thread(self.backend.generate_batch, requests, options)
        except JudgeError as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), text in zip(batch, texts, strict=True):
            if not future.done():
                future.set_result(text)


class _ChoiceOptions(BaseModel):
    """A batch that is scored, not generated: the next-token probabilities of ``choices`` (``owlcap.llm.choices``)."""

    choices: tuple[str, ...]


class HFBackend(LLM):
    """Batched generation with a local transformers model (``hf:<path-or-hub-id>``)."""

    backend = "hf"

    def __init__(self, model: str, config: LLMConfig | None = None, mllm: Any = None):
        super().__init__(model, config)
        self._mllm = mllm
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()  # one model, one batch at a time, whichever loop asks
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = weakref.WeakKeyDictionary()

    @property
    def mllm(self) -> Any:
        """The loaded ``owlcap.models.MLLM`` (loaded on first use; ``ModelLoadError`` names the cause)."""
        with self._load_lock:
            if self._mllm is None:
                from owlcap.models import load_mllm

                logger.info("hf backend: loading %s", self.model)
                self._mllm = load_mllm(self.model)
            return self._mllm

    def generation_options(self, options: dict[str, Any]) -> Any:
        from owlcap.models import GenerationOptions

        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise JudgeError(f"the hf backend does not take request option(s) {sorted(unknown)}")
        if options.get("choices"):
            return _ChoiceOptions(choices=tuple(options["choices"]))
        return GenerationOptions(
            max_new_tokens=_set_or(options.get("max_tokens"), self.config.max_tokens),
            temperature=_set_or(options.get("temperature"), self.config.temperature),
            top_p=options.get("top_p") or 1.0,
            top_k=options.get("top_k", self.config.top_k),
            seed=options.get("seed", self.config.seed),
        )

    def generate_batch(self, requests: list[Any], options: Any) -> list[str]:
        """Generate one answer per request (runs in a worker thread)."""
        mllm = self.mllm
        with self._generate_lock:
            try:
                if isinstance(options, _ChoiceOptions):
                    return [choice_text(p) for p in mllm.choice_probabilities(requests, list(options.choices))]
                return mllm.generate(requests, options)
            except (RuntimeError, ValueError) as exc:
                # Out of memory, a video the model cannot take, a text-only model given a video: fail the batch.
                raise JudgeError(f"{self.name}: generation failed ({exc})") from exc

    async def _generate(
        self, messages: list[Message], *, schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Generation:
        request = to_video_request(messages)
        generation = self.generation_options(options)
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            batcher = self._batchers[loop] = _Batcher(self)
        text = await batcher.submit(request, generation)
        return Generation(text=text)


def _set_or(value: Any, default: Any) -> Any:
    """An option's value, or the config's when it is unset (``None``: a server would use its own default)."""
    return default if value is None else value
