"""Closed-choice answers ("yes" or "no") decided from the model's next-token probabilities where a backend has them.

A task asks for it with the request option ``choices`` (e.g. ``{"choices": ["yes", "no"]}``; the option is part
of the cache key). A backend that can read probabilities (``hf``: the next-token logits; ``openai``: ``logprobs``
with ``top_logprobs``, which vLLM and OpenAI return) answers with the JSON text
``{"choice": "yes", "probs": {"yes": 0.91, "no": 0.09}}``, the probabilities renormalised over the choices. Where it
cannot (no logprobs in the response, no choice among the top tokens) the model's own text comes back instead, and
:func:`parse_choice` reads the first choice word in it. Either way the caller parses the answer with
:func:`parse_choice`.

The first token decides: the prompt must ask for the bare word first ("Answer with one word: yes or no."). A
choice's probability sums its spellings among the candidate tokens ("yes", "Yes", " yes", "YES").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence

CHOICE_FORMAT_KEY = "choice"


def spellings(choice: str) -> list[str]:
    """The first-token spellings counted for ``choice``."""
    base = choice.strip()
    forms = {base, base.lower(), base.capitalize(), base.upper()}
    return sorted(forms | {" " + form for form in forms})


def _normalise(token: str) -> str:
    return token.strip().strip(".,:;!\"'*").lower()


def probabilities_from_logprobs(top: Iterable[tuple[str, float]], choices: Sequence[str]) -> dict[str, float] | None:
    """Renormalised probabilities of ``choices`` from ``(token, logprob)`` candidates; ``None`` if none appears."""
    mass = dict.fromkeys(choices, 0.0)
    wanted = {choice.lower(): choice for choice in choices}
    for token, logprob in top:
        choice = wanted.get(_normalise(token))
        if choice is not None and logprob is not None and math.isfinite(logprob):
            mass[choice] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0:
        return None
    return {choice: value / total for choice, value in mass.items()}


def choice_text(probs: dict[str, float]) -> str:
    """The answer text a backend returns for probabilities: the most likely choice and every probability."""
    best = max(probs, key=lambda choice: probs[choice])
    return json.dumps({CHOICE_FORMAT_KEY: best, "probs": {k: round(v, 6) for k, v in probs.items()}})


def parse_choice(text: str, choices: Sequence[str]) -> tuple[str, dict[str, float] | None]:
    """``(choice, probabilities or None)`` from a backend's answer; ``ValueError`` when it names no choice."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and data.get(CHOICE_FORMAT_KEY) in choices:
            probs = data.get("probs")
            return data[CHOICE_FORMAT_KEY], probs if isinstance(probs, dict) else None
    pattern = r"\b(" + "|".join(re.escape(choice) for choice in choices) + r")\b"
    match = re.search(pattern, stripped, flags=re.IGNORECASE)
    if match is None:
        listed = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"the answer names none of {listed}: {stripped[:80]!r}")
    return match.group(1).lower(), None
