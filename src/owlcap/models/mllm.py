"""``MLLM``: a loaded (video) MLLM with batched generation. The in-process engine behind captioning and ``hf:``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from owlcap.models.inputs import (
    VideoRequest,
    build_messages,
    processor_inputs,
    render_chat,
    vision_factor,
    vision_token_ids,
)
from owlcap.models.loading import ModelOptions, load_model_and_processor

logger = logging.getLogger(__name__)


class GenerationOptions(BaseModel):
    """Decoding settings. Greedy by default, as benchmark captioning expects; GRPO sets its own."""

    model_config = ConfigDict(extra="forbid")

    max_new_tokens: int = Field(1024, ge=1, description="Most tokens to generate per caption.")
    temperature: float = Field(0.0, ge=0.0, description="0 = greedy decoding; > 0 samples.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass (only when temperature > 0).")
    top_k: int | None = Field(None, ge=1, description="Top-k sampling (only when temperature > 0).")
    repetition_penalty: float = Field(1.0, gt=0.0, description="1.0 = none.")
    seed: int | None = Field(None, description="Seed for sampling, for reproducible captions.")

    def generate_kwargs(self) -> dict:
        kwargs: dict = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.temperature > 0:
            kwargs |= {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
            if self.top_k is not None:
                kwargs["top_k"] = self.top_k
        else:
            kwargs |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return kwargs


class MLLM:
    """A model and its processor, ready to caption videos or answer text prompts in batches."""

    def __init__(self, model, processor, *, multimodal: bool, name: str):
        self.model = model
        self.processor = processor
        self.multimodal = multimodal
        self.name = name
        self.tokenizer = getattr(processor, "tokenizer", processor)
        # Left padding: generation appends to the right end of every row.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.suppressed_token_ids = vision_token_ids(self.tokenizer)

    @classmethod
    def load(cls, name_or_path: str, options: ModelOptions | None = None) -> MLLM:
        model, processor, multimodal = load_model_and_processor(name_or_path, options)
        return cls(model, processor, multimodal=multimodal, name=str(name_or_path))

    @property
    def device(self):
        return self.model.device

    @property
    def vision_factor(self) -> int:
        """Frame sides must be multiples of this (pass it to ``owlcap.video`` sampling)."""
        return vision_factor(self.processor) if self.multimodal else 28

    def render(self, request: VideoRequest) -> str:
        if request.video is not None and not self.multimodal:
            raise ValueError(f"{self.name} is a text-only model; it cannot take a video")
        messages = build_messages(request.prompt, video=request.video is not None, system=request.system)
        return render_chat(self.processor, messages, add_generation_prompt=True)

    def generate(self, requests: Sequence[VideoRequest], options: GenerationOptions | None = None) -> list[str]:
        """Generate one answer per request, in one padded batch."""
        new_tokens = self.generate_ids(requests, options)
        return [text.strip() for text in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def _model_inputs(self, requests: Sequence[VideoRequest]):
        """The left-padded batch of rendered chats (with their videos) on the model's device and dtype."""
        texts = [self.render(request) for request in requests]
        processor = self.processor if self.multimodal else self.tokenizer
        inputs = processor_inputs(processor, texts, [request.video for request in requests])
        inputs = inputs.to(self.device)
        if "pixel_values_videos" in inputs:
            inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(self.model.dtype)
        return inputs

    def choice_probabilities(self, requests: Sequence[VideoRequest], choices: Sequence[str]) -> list[dict[str, float]]:
        """For each request, the next-token probability of each choice (its spellings summed: "yes", " Yes", ...),
        renormalised over the choices. One forward pass, no generation: a random model still gets an answer."""
        import torch

        from owlcap.llm.choices import spellings

        inputs = self._model_inputs(requests)
        token_ids = []
        for choice in choices:
            firsts = {self.tokenizer.encode(form, add_special_tokens=False)[:1][0] for form in spellings(choice)}
            token_ids.append(sorted(firsts))
        with torch.inference_mode():
            logits = self.model(**inputs).logits[:, -1, :].float()  # left padding: the last position is the next token
        logprobs = torch.log_softmax(logits, dim=-1)
        scores = torch.stack([torch.logsumexp(logprobs[:, ids], dim=-1) for ids in token_ids], dim=-1)
        probs = torch.softmax(scores, dim=-1).tolist()
        return [dict(zip(choices, row, strict=True)) for row in probs]

    def generate_ids(self, requests: Sequence[VideoRequest], options: GenerationOptions | None = None):
        """The generated token ids (batch, new tokens), vision special tokens suppressed."""
        import torch

        options = options or GenerationOptions()
        if not requests:
            return torch.empty(0, 0, dtype=torch.long)
        inputs = self._model_inputs(requests)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        kwargs = options.generate_kwargs()
        if self.suppressed_token_ids:
            kwargs["suppress_tokens"] = self.suppressed_token_ids
        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs, pad_token_id=self.tokenizer.pad_token_id)
        return output[:, inputs["input_ids"].shape[1] :]


def load_mllm(name_or_path: str, options: ModelOptions | None = None) -> MLLM:
    """Load any HF video MLLM (Qwen2.5-VL, Qwen3-VL, ...) or text LLM by hub id or local path."""
    return MLLM.load(name_or_path, options)
