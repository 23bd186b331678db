"""The paper's length reward: a step function of the English word count."""

from __future__ import annotations

import re

from owlcap.reward.config import LengthRewardConfig

# The released code's word pattern: letters, with inner apostrophes or hyphens ("it's", "close-up" = one word).
_ENGLISH_WORD = re.compile(r"\b[a-zA-Z]+(?:['-][a-zA-Z]+)*\b")


def count_words(text: str | None) -> int:
    """English words of ``text`` (numbers and CJK characters are not counted); ``None`` counts as empty."""
    return len(_ENGLISH_WORD.findall(text or ""))


def length_reward(text: str | None, bounds: LengthRewardConfig | None = None) -> float:
    """1.0 for 100-300 words, 0.5 for 300-400, else 0.2 (paper); ``bounds`` changes the tiers."""
    config = bounds if bounds is not None else LengthRewardConfig()
    words = count_words(text)
    for tier in config.tiers:
        if tier.min_words <= words <= tier.max_words:
            return tier.value
    return config.otherwise
