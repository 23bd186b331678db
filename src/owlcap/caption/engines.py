"""Caption engines: an in-process HF model (``owlcap.models.MLLM``) or any OpenAI-compatible video server.

``load_caption_engine("openai:Qwen/Qwen2.5-VL-7B-Instruct@http://127.0.0.1:8000/v1")`` returns a
``RemoteCaptionEngine``; a hub id or path (optionally ``hf:``-prefixed) loads the model in process. Both implement
``CaptionEngine``. The remote engine sends each video through ``owlcap.llm`` (owlcap's
sampled frames as images with their timestamps, or the file as vLLM's ``video_url``) and declares
``max_concurrent_batches``, so the caption runner keeps that many requests in flight: a server batches concurrent
requests itself, which is what makes it fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from owlcap.errors import ConfigError, JudgeError, ModelLoadError, OwlcapError
from owlcap.llm import LLMConfig, Message, from_spec, parse_spec
from owlcap.models.inputs import VideoRequest
from owlcap.models.loading import ModelOptions
from owlcap.models.mllm import GenerationOptions

QWEN_VISION_FACTOR = 28


class CaptionEngine(Protocol):
    """What the runner needs from a model: a name, the frame-size multiple, and batched generation.

    An engine that serves many requests at once (a server: ``owlcap.caption.engines.RemoteCaptionEngine``) also has
    ``max_concurrent_batches``: the runner then sends videos one per call from that many threads, so the server
    always has work; an in-process model has none and gets one batch at a time.
    """

    name: str
    vision_factor: int

    def generate(self, requests: Sequence[VideoRequest], options: GenerationOptions) -> list[str]: ...


class RemoteCaptionEngine:
    """Captions videos with a model behind an OpenAI-compatible server (vLLM, SGLang), one request per video."""

    def __init__(self, spec: str, config: LLMConfig | None = None, *, vision_factor: int = QWEN_VISION_FACTOR):
        parsed = parse_spec(spec)
        if parsed.backend != "openai":
            raise ConfigError(f"model {spec!r}: a server model is written openai:<model>@<base_url>")
        self.llm = from_spec(parsed, config or LLMConfig(request_timeout_s=600.0, max_retries=3, cache=False))
        self.name = str(parsed)
        self.vision_factor = vision_factor
        self.max_concurrent_batches = self.llm.config.concurrency

    def messages(self, request: VideoRequest) -> list[Message]:
        content: list[dict[str, Any]] = []
        if request.video is not None:
            content.append({"type": "video", "video": request.video, "path": request.video.path})
        content.append({"type": "text", "text": request.prompt})
        system = [{"role": "system", "content": request.system}] if request.system else []
        return [*system, {"role": "user", "content": content}]

    @staticmethod
    def options(generation: GenerationOptions) -> dict[str, Any]:
        options: dict[str, Any] = {"max_tokens": generation.max_new_tokens, "temperature": generation.temperature}
        options["top_k"] = generation.top_k if generation.temperature > 0 else None
        if generation.temperature > 0:
            options["top_p"] = generation.top_p
        if generation.seed is not None:
            options["seed"] = generation.seed
        if generation.repetition_penalty != 1.0:
            options["extra_body"] = {"repetition_penalty": generation.repetition_penalty}
        return options

    def generate(self, requests: Sequence[VideoRequest], options: GenerationOptions) -> list[str]:
        """One caption per request, all requests concurrently; any failure fails the call (``RuntimeError``), as
        the runner expects (it retries a failed batch one video at a time). An empty answer is asked again, then
        fails its video."""
        sampling = self.options(options)

        async def _all() -> list[Any]:
            calls = [
                self.llm.chat(self.messages(request), parse=non_empty_caption, on_invalid="resample", **sampling)
                for request in requests
            ]
            return await asyncio.gather(*calls, return_exceptions=True)

        results = self.llm.run_in_background(_all())
        for result in results:
            if isinstance(result, OwlcapError):
                raise RuntimeError(str(result)) from result
            if isinstance(result, BaseException):
                raise result
        return list(results)

    def check(self) -> None:
        """One tiny text request before any video is sent: a dead or wrong server fails here, in one line, instead
        of failing every video after its retries (``ModelLoadError``)."""
        try:
            self.llm.run_in_background(self.llm.ping(max_tokens=1, temperature=0.0))
        except JudgeError as exc:
            raise ModelLoadError(
                f"the caption server {self.name} did not answer a test request ({exc}); start it or fix --model"
            ) from exc

    def close(self) -> None:
        self.llm.close()


def non_empty_caption(text: str) -> str:
    """A server's caption, or ``ValueError`` for an empty one (a null or blank message, or reasoning alone): asked
    again, then a failed video, never a successful ``"caption": ""``."""
    if not text.strip():
        raise ValueError("an empty caption")
    return text


def load_caption_engine(
    model: str,
    options: ModelOptions | None = None,
    *,
    llm: LLMConfig | None = None,
    vision_factor: int = QWEN_VISION_FACTOR,
    check: bool = True,
) -> Any:
    """The caption engine for ``model``: ``openai:<model>@<url>`` (a server; ``llm`` sets its concurrency,
    timeouts and video transport; ``check`` sends it one test request first) or an HF hub id / local path,
    optionally ``hf:``-prefixed (``options``)."""
    spec = model.strip()
    if spec.startswith("openai:"):
        engine = RemoteCaptionEngine(spec, llm, vision_factor=vision_factor)
        if check:
            engine.check()
        return engine
    if spec == "rules":
        raise ConfigError("model 'rules' cannot see videos; give an HF model or openai:<model>@<url>")
    from owlcap.models import load_mllm

    return load_mllm(spec.removeprefix("hf:"), options)
