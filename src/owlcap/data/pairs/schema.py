"""One preference pair, the line ``pairs.jsonl`` holds: what TRL's DPO reads, plus where it came from and why.

A line is flat and typed the same way whatever its source, so ``datasets.load_dataset("json", data_files=...)``
loads a file of them as one table::

    {"id": "3f2a...", "video_id": "hummingbird_3", "video": "/data/hummingbird_3.mp4", "start": null, "end": null,
     "prompt": "Describe this video in detail.", "system": null,
     "chosen": "...", "rejected": "...", "chosen_score": 1.0, "rejected_score": 0.75, "margin": 0.25,
     "source": "hmd_fge", "why": "FGE: 4 of 16 units unsupported, removed (plain removal)",
     "origin": "runs/q/data/records.jsonl:hummingbird_3"}

``id`` is a digest of what the pair trains (video, clip, prompt, system, chosen, rejected): two sources that
propose the same pair give the same id, and the pair is kept once. The scores are on each source's own scale
(``source`` says which; docs/dpo.md lists them), so margins compare within a source, not across sources.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from owlcap.hashing import json_digest

SOURCES = ("hmd_fge", "hmd_motion", "grpo", "captions")
"""Where a pair comes from, in the order the per-video cap takes them: FGE's unit removal, motion vs fused caption,
a GRPO group's best vs worst completion, the best vs worst of several caption files."""


@dataclass(frozen=True)
class PreferencePair:
    """A chosen and a rejected caption of one video clip under one prompt, with their scores and the reason."""

    video_id: str
    video: str
    prompt: str
    chosen: str
    rejected: str
    chosen_score: float
    rejected_score: float
    source: str
    why: str
    origin: str
    start: float | None = None
    end: float | None = None
    system: str | None = None

    @property
    def margin(self) -> float:
        return self.chosen_score - self.rejected_score

    @property
    def id(self) -> str:
        trained = [self.video, self.start, self.end, self.prompt, self.system, self.chosen, self.rejected]
        return json_digest(trained, 20)

    @property
    def clip(self) -> tuple[str, float | None, float | None]:
        """What the per-video cap counts by: the video file and its trims."""
        return self.video, self.start, self.end

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"id": self.id, **data, "margin": round(self.margin, 6)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreferencePair:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


def same_text(first: str, second: str) -> bool:
    """True when two captions differ only in whitespace (such a pair teaches nothing)."""
    return " ".join(first.split()) == " ".join(second.split())
