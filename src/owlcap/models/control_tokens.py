"""Text from data files, prompts and judge answers never becomes a control token.

A caption, prompt or judge question that holds the string ``<|video_pad|>`` (or ``<|im_end|>``, ``<|image_pad|>``,
any added token of the model's tokenizer) must reach the model as the characters it is made of. Tokenized as written
it becomes the control token itself: the processor pairs the video with the wrong placeholder (a StopIteration that
once ended an SFT epoch silently), ``<|image_pad|>`` asks for an image nobody gave, and ``<|im_end|>`` ends the turn
inside a caption. So the rule, in two steps:

1. :func:`escape_control_tokens` (called by ``owlcap.models.inputs.render_chat`` on every message, before the chat
   template runs) replaces each control-token string in the text with an inert escape: a number between two
   private-use characters. The rendered chat then holds only the template's own control tokens, and the processor
   expands only its own video placeholder.
2. :func:`plain_text_tokenizer` (used by ``owlcap.models.inputs.processor_inputs`` for any batch holding an escape)
   gives the processor a tokenizer that turns each escape back into its string and encodes it as plain text: the
   encoder of transformers' ``apply_chat_template(sanitize_control_tokens=True)``, which tokenizers offer and
   processors (video) do not.

Why plain text rather than refusing the line: the text is the user's data (a judged caption from another model may
well hold ``<|endoftext|>``), a refusal would change a benchmark's sample, and plain text is what the model would
read had the characters been typed. A control token is every added token of the tokenizer (special or not, except
whitespace), since none of them is something the model reads as plain text. Text without control-token strings is
tokenized exactly as before.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from typing import Any

# The two private-use characters transformers (pinned >=5.20,<5.21) marks a sanitized control token with; its encoder
# splits on them (encode_escaped checks they are still these). owlcap's escape is the token's index between them, so
# no token string is left in the chat for the processor to expand.
_START, _END = "\U000f0000", "\U000f0001"
_ESCAPE = re.compile(f"{_START}(\\d+){_END}")


def control_tokens(tokenizer) -> tuple[str, ...]:
    """The strings that must not reach ``tokenizer`` as written: its added tokens, longest first."""
    added = {token.content for token in tokenizer.added_tokens_decoder.values() if not token.content.isspace()}
    return tuple(sorted(added, key=lambda token: (-len(token), token)))


@lru_cache(maxsize=16)
def _pattern(tokens: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(map(re.escape, tokens)) or "(?!)")


@lru_cache(maxsize=16)
def _markers(tokens: tuple[str, ...]) -> re.Pattern:
    """A marked token (the form transformers' encoder reads) or a lone marker, as transformers builds it."""
    return re.compile(f"{_START}({_pattern(tokens).pattern}){_END}|[{_START}{_END}]")


def escape_control_tokens(value: Any, tokenizer) -> Any:
    """``value`` (a string, or messages: lists and dicts of them) with every control-token string of ``tokenizer``
    replaced by an escape that :func:`plain_text_tokenizer` encodes as the string's plain text. Dict keys are left
    as they are (the chat format's ``role``/``type`` fields); stray marker characters in the text are dropped, so
    text cannot forge an escape."""
    tokens = control_tokens(tokenizer)
    index = {token: i for i, token in enumerate(tokens)}
    pattern = _pattern(tokens)

    def escape(item: Any) -> Any:
        if isinstance(item, str):
            item = item.replace(_START, "").replace(_END, "")
            return pattern.sub(lambda match: f"{_START}{index[match.group()]}{_END}", item)
        if isinstance(item, dict):
            return {key: escape(inner) for key, inner in item.items()}
        if isinstance(item, (list, tuple)):
            return [escape(inner) for inner in item]
        return item

    return escape(value)


def has_escapes(text: str) -> bool:
    return _START in text


def encode_escaped(tokenizer, text: str) -> list[int]:
    """Token ids of a rendered chat: its escapes as plain text, everything else (the template's control tokens
    included) as the tokenizer encodes it."""
    from transformers.utils import chat_template_utils

    if (chat_template_utils._CONTROL_TOKEN_START, chat_template_utils._CONTROL_TOKEN_END) != (_START, _END):
        raise RuntimeError("transformers changed its control-token markers; owlcap pins transformers<5.21")
    tokens = control_tokens(tokenizer)
    marked = _ESCAPE.sub(lambda match: f"{_START}{tokens[int(match.group(1))]}{_END}", text)
    return chat_template_utils.encode_marked_chat(tokenizer, marked, _markers(tokens))


class _PlainTextTokenizer:
    """The tokenizer a processor calls on the expanded chats of one batch: escaped chats through
    :func:`encode_escaped`, the others exactly as the tokenizer itself would; then padded as asked."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    def __call__(self, text, **kwargs: Any):
        if kwargs.get("truncation") or kwargs.get("max_length") is not None:
            raise ValueError("owlcap never truncates a chat (a cut video placeholder breaks the model's inputs)")
        texts = [text] if isinstance(text, str) else list(text)
        add_special = kwargs.get("add_special_tokens", True)
        ids = [
            encode_escaped(self._tokenizer, item)
            if has_escapes(item)
            else self._tokenizer(item, add_special_tokens=add_special)["input_ids"]
            for item in texts
        ]
        return self._tokenizer.pad(
            {"input_ids": ids},
            padding=kwargs.get("padding", True),
            padding_side=kwargs.get("padding_side"),
            return_attention_mask=True,
            return_tensors=kwargs.get("return_tensors"),
        )


def plain_text_tokenizer(processor):
    """``processor`` (a multimodal processor or a bare tokenizer) whose tokenization encodes escaped text as plain
    text. A shallow copy: the processor itself is left as it is (it may be shared by threads)."""
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None:
        return _PlainTextTokenizer(processor)
    wrapped = copy.copy(processor)
    wrapped.tokenizer = _PlainTextTokenizer(tokenizer)
    return wrapped
