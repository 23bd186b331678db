"""What a chat-completion answer must look like before anything reads it, and how big it may be.

A server is untrusted input: a proxy, a patched vLLM or a hostile endpoint can answer 200 with ``content`` an int,
``choices`` a string, ``usage`` holding words, or ten megabytes of text. The openai backend reads the body itself,
never past ``AnswerBound.body_bytes``, and validates it here, so every such answer becomes one ``InvalidAnswer``
with its cause (retried, then that item's failure, counted like any other) and never a ``TypeError`` somewhere in
a caller, nor a record the size of a film.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

MIN_ANSWER_CHARS = 1024
"""The bound never goes below this: a request for a token or two ("yes") may still get a long token or a server that
ignores ``max_tokens`` by a little."""


class InvalidAnswer(ValueError):
    """The server answered 200 with a body that is not a usable chat completion (shape or size)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class TopLogprob(_Lenient):
    token: StrictStr
    logprob: float


class TokenLogprob(_Lenient):
    token: StrictStr
    logprob: float
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class Logprobs(_Lenient):
    content: list[TokenLogprob] | None = None


class Message(_Lenient):
    content: StrictStr | None = None


class Choice(_Lenient):
    message: Message | None = None
    finish_reason: StrictStr | None = None
    logprobs: Logprobs | None = None


class Usage(_Lenient):
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)


class Completion(_Lenient):
    choices: list[Choice] = Field(min_length=1)
    usage: Usage | None = None


@dataclass(frozen=True)
class AnswerBound:
    """How big one answer may be, derived from the request's ``max_tokens`` (``LLMConfig.answer_chars_per_token``):
    ``chars`` of answer text (at least ``MIN_ANSWER_CHARS``), and ``body_bytes`` of HTTP body (UTF-8 and JSON
    escapes take up to 6 bytes a character; logprobs add their candidates; 64 KiB for the rest of the envelope)."""

    chars: int
    body_bytes: int

    @classmethod
    def for_request(cls, max_tokens: int, chars_per_token: float, *, logprobs: bool = False) -> AnswerBound:
        chars = max(int(max_tokens * chars_per_token), MIN_ANSWER_CHARS)
        body = 6 * chars + (max_tokens * 4096 if logprobs else 0) + 65536
        return cls(chars, body)


def parse_completion(body: bytes, bound: AnswerBound) -> Completion:
    """The validated completion in ``body``; ``InvalidAnswer`` names what is wrong (the first few problems)."""
    try:
        completion = Completion.model_validate_json(body)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            start = body[:80].decode("utf-8", "replace")
            raise InvalidAnswer(f"the body is not JSON ({exc.errors()[0]['msg']}): {start!r}") from None
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(body)'}: {error['msg']}" for error in exc.errors()[:3]
        )
        raise InvalidAnswer(f"not a chat completion ({problems})") from None
    message = completion.choices[0].message
    text = message.content if message is not None else None
    if text is not None and len(text) > bound.chars:
        raise InvalidAnswer(f"an answer of {len(text)} characters, over the bound of {bound.chars} for this request")
    return completion
