"""What every pair source hands the builder: items to make pairs from, each with a resume key, and the models they
share.

An :class:`Item` is the unit of work and of resume: one HMD record, one GRPO completions file, one video of the
caption files. Its ``id`` is a digest of everything its pairs depend on (the input it reads and the settings that
shape its pairs), so a re-run skips an item already made with the same inputs and settings and remakes one whose
inputs or settings changed. ``make`` returns the item's pairs, and a note for each pair it could have made but did
not (counted in ``stats.json``: why there are fewer pairs than records).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from owlcap.data.pairs.schema import PreferencePair
from owlcap.hashing import json_digest
from owlcap.llm import LLM, LLMConfig, from_spec


@dataclass
class ItemOutcome:
    """An item's pairs, and why it made no more (one short note per pair it could not make)."""

    pairs: list[PreferencePair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Item:
    """One unit of work of a source (see the module docstring)."""

    id: str
    source: str  # the module that planned it: hmd, grpo, captions
    label: str  # what it is, for messages: a record id, a file, a video id
    make: Callable[[Models], Awaitable[ItemOutcome]]


def item_id(source: str, inputs: Any) -> str:
    """The resume key of an item of ``source`` whose pairs depend on ``inputs`` (JSON-able)."""
    return f"{source}:{json_digest(inputs, 24)}"


@dataclass
class Planned:
    """A source's items, the bad input lines it skipped (``file:line: cause``) and the records it could not use."""

    items: list[Item] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def extend(self, other: Planned) -> None:
        self.items += other.items
        self.bad_lines += other.bad_lines
        self.skipped.update(other.skipped)


class Models:
    """The models and judges the items call, one client per spec, shared by every item of a run."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self._llms: dict[str, LLM] = {}
        self._cser: dict[str, Any] = {}

    def llm(self, spec: str) -> LLM:
        if spec not in self._llms:
            self._llms[spec] = from_spec(spec, self.config)
        return self._llms[spec]

    def cser(self, judge: str, config) -> Any:
        """A ``CSER`` on ``judge`` with ``config`` (its reference units cached across the videos of a run)."""
        from owlcap.reward import CSER

        key = json_digest([judge, config.model_dump(mode="json")])
        if key not in self._cser:
            self._cser[key] = CSER(self.llm(judge), config)
        return self._cser[key]

    def stats(self) -> dict[str, Any]:
        return {llm.name: llm.stats.snapshot().to_dict() for llm in self._llms.values()}

    async def aclose(self) -> None:
        for llm in self._llms.values():
            await llm.aclose()

    def close(self) -> None:
        for llm in self._llms.values():
            llm.close()
