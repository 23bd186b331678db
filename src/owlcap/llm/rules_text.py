"""Deterministic text heuristics behind the ``rules`` backend. Weak by design; read this before trusting a score.

What it reduces to:

- **Units**: sentences (also where a caption glues them, "explanation.As she"), cut again at ``;``, at
  ", and" / ", while" / ", as" style clause joints and before a participle (", indicating ..."); a fragment with
  fewer than ``min_unit_words`` content words is glued back to its neighbour.
- **Support**: a unit is supported by a text when at least ``threshold`` of the unit's content words occur in one
  window of ``window`` consecutive sentences of the text. Words are compared after lower-casing, a small irregular
  form table, a crude suffix stemmer and a small synonym table ("lady" = "woman", "grasp" = "hold").

It has no notion of negation, numbers, word order, who does what to whom, or paraphrase beyond the synonym table:
"the dog chases the cat" supports "the cat chases the dog". It is the embedded default and the test judge because
it is offline and repeatable, not because it judges well. Use an LLM judge for real rewards and evaluations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_STOPWORDS = frozenset(
    """a an the this that these those there here it its it's they them their theirs he him his she her hers we us our
    you your i me my mine of in on at to from by with without for into onto over under about above below between
    through during before after while as than then so such and or but nor if because although though also too very
    just only even still yet again once both each every any all some few more most other another same own not no
    be am is are was were been being have has had having do does did doing can could will would shall should may
    might must which who whom whose what where when why how one ones something someone somewhat up down out off
    around throughout across along toward towards near beside within upon whether either neither thus overall
    video clip footage scene seem seems appear appears appearing visible visibly continue continues continuing
    begin begins beginning show shows showing capture captures captured possibly likely perhaps""".split()
)

# Irregular forms mapped to a base form before stemming (the stemmer only knows regular suffixes).
_IRREGULAR = {
    "men": "man",
    "women": "woman",
    "children": "child",
    "people": "person",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
    "leaves": "leaf",
    "knives": "knife",
    "shelves": "shelf",
    "wolves": "wolf",
    "held": "hold",
    "sat": "sit",
    "stood": "stand",
    "ran": "run",
    "began": "begin",
    "begun": "begin",
    "wore": "wear",
    "worn": "wear",
    "took": "take",
    "taken": "take",
    "saw": "see",
    "seen": "see",
    "went": "go",
    "gone": "go",
    "came": "come",
    "made": "make",
    "gave": "give",
    "given": "give",
    "got": "get",
    "put": "put",
    "threw": "throw",
    "thrown": "throw",
    "flew": "fly",
    "flown": "fly",
    "drove": "drive",
    "driven": "drive",
    "rode": "ride",
    "ridden": "ride",
    "ate": "eat",
    "eaten": "eat",
    "drank": "drink",
    "fell": "fall",
    "fallen": "fall",
    "spoke": "speak",
    "spoken": "speak",
    "wrote": "write",
    "written": "write",
    "lay": "lie",
    "laid": "lay",
    "led": "lead",
    "left": "leave",
    "lit": "light",
    "caught": "catch",
    "brought": "bring",
    "bought": "buy",
    "thought": "think",
    "taught": "teach",
    "found": "find",
    "stuck": "stick",
    "hung": "hang",
    "swam": "swim",
    "sang": "sing",
    "rang": "ring",
    "shook": "shake",
    "woke": "wake",
    "dug": "dig",
}

# Small synonym table: every word of a group is read as the group's first word.
_SYNONYM_GROUPS = (
    ("man", "guy", "gentleman", "male"),
    ("woman", "lady", "female"),
    ("person", "individual", "figure"),
    ("child", "kid"),
    ("boy", "lad"),
    ("look", "gaze", "glance", "watch", "observe", "stare", "view"),
    ("hold", "grip", "grasp", "clutch"),
    ("walk", "stroll", "stride"),
    ("talk", "speak", "converse", "chat"),
    ("big", "large", "huge", "enormous"),
    ("small", "little", "tiny"),
    ("start", "begin", "commence"),
    ("smile", "grin"),
    ("picture", "image", "photo", "photograph"),
    ("car", "vehicle", "automobile"),
    ("road", "street"),
    ("quick", "fast", "rapid", "swift"),
    ("move", "movement", "motion"),
    ("room", "area", "space"),
    ("point", "gesture", "indicate"),
    ("stone", "rock", "boulder"),
    ("peck", "pick"),
)
_SYNONYMS = {word: group[0] for group in _SYNONYM_GROUPS for word in group}

_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")
_GLUED_SENTENCE = re.compile(r"([a-z0-9][.!?])([A-Z])")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9])")
_LEADING_JOINER = re.compile(r"^(?:and|but|then)\s+", re.IGNORECASE)
_CLAUSE_JOINT = re.compile(r";\s+|,\s+(?=(?:and|while|as|but|whereas|then|[a-z]+ing)\s)", re.IGNORECASE)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Base form of one lower-case word: irregular table, synonym table, then regular suffixes."""
    word = word.replace("'s", "").replace("'", "")
    word = _IRREGULAR.get(word, word)
    word = _SYNONYMS.get(word, word)
    if len(word) > 4:
        for suffix, replacement in (("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ing", ""), ("ed", "")):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)] + replacement
                break
        else:
            if word.endswith(("ches", "shes", "xes", "zes")):
                word = word[:-2]
            elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
                word = word[:-1]
        if word.endswith("ly") and len(word) > 5:
            word = word[:-2]
    elif word.endswith("s") and len(word) > 3 and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return _SYNONYMS.get(word, word)


def content_words(text: str) -> list[str]:
    """Stems of the words of ``text`` that carry content (stopwords dropped), in order."""
    words = _WORD.findall(text.lower())
    return [stem(w) for w in words if w not in _STOPWORDS and len(w) > 1]


def sentences(text: str) -> list[str]:
    text = _GLUED_SENTENCE.sub(r"\1 \2", " ".join(text.split()))
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True)
class TextRules:
    """The heuristics with their knobs. ``split`` makes units; ``supports`` decides one unit against a text."""

    threshold: float = 0.7
    """Share of a unit's content words that must occur in one window of the text."""
    window: int = 2
    """Consecutive sentences of the text searched together (facts often span two sentences)."""
    min_unit_words: int = 3
    """A clause with fewer content words is glued back to its neighbour."""

    def split(self, caption: str) -> list[str]:
        units: list[str] = []
        for sentence in sentences(caption):
            pieces = [p.strip(" ,;") for p in _CLAUSE_JOINT.split(sentence) if p.strip(" ,;")]
            merged: list[str] = []
            for piece in pieces:
                too_short = min(len(content_words(piece)), len(content_words(merged[-1])) if merged else 0)
                if merged and too_short < self.min_unit_words:
                    merged[-1] = f"{merged[-1]}, {piece}"
                else:
                    merged.append(piece)
            units.extend(_as_sentence(m) for m in merged if content_words(m))
        return units

    def supports(self, unit: str, text: str) -> bool:
        return self.support_score(unit, text) >= self.threshold

    def support_score(self, unit: str, text: str) -> float:
        """Best share of the unit's content words found together in one window of ``text``."""
        wanted = set(content_words(unit))
        if not wanted:
            return 1.0  # nothing to check: a unit without content words asserts nothing
        windows = _windows(text, self.window)
        return max((len(wanted & window) / len(wanted) for window in windows), default=0.0)


@lru_cache(maxsize=4096)
def _windows(text: str, size: int) -> tuple[frozenset[str], ...]:
    bags = [frozenset(content_words(s)) for s in sentences(text)]
    if len(bags) <= size:
        return (frozenset().union(*bags),) if bags else ()
    return tuple(frozenset().union(*bags[i : i + size]) for i in range(len(bags) - size + 1))


def _as_sentence(text: str) -> str:
    text = _LEADING_JOINER.sub("", text.strip())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
