"""Loading the VDC (VDCscore) question files: ``{camera,short,background,main_object,detailed}.jsonl``.

Each line is ``{"<video_id>": [{"question", "answer", "category"}, ...]}``. The official scorer merges lines with
``dict.update``, so the last line wins when a video repeats (main_object repeats 4 videos, 2 with different
questions); a video without questions is skipped (main_object lacks 2 of the 1,027 videos). Both are reported in
``VDCData.notes``. A malformed line raises ``DataError`` naming the file and line: a benchmark file that does not
parse is not the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from owlcap.errors import DataError
from owlcap.jsonl import iter_jsonl

DIMENSIONS = ("camera", "short", "background", "main_object", "detailed")


@dataclass(frozen=True)
class QA:
    """One benchmark question: the question, its ground-truth answer and the (unused, noisy) category."""

    question: str
    answer: str
    category: str = ""


@dataclass
class DimensionData:
    """One dimension's questions per video, in file order (a repeated video keeps its first position)."""

    name: str
    path: str
    videos: dict[str, list[QA]]
    duplicates: list[dict] = field(default_factory=list)
    without_questions: list[str] = field(default_factory=list)

    @property
    def questions(self) -> int:
        return sum(len(qas) for qas in self.videos.values())


@dataclass
class VDCData:
    dimensions: dict[str, DimensionData]

    def video_ids(self) -> list[str]:
        """Every video of every dimension, in first-seen order."""
        seen: dict[str, None] = {}
        for data in self.dimensions.values():
            seen.update(dict.fromkeys(data.videos))
        return list(seen)

    def pairs(self, limit: int | None = None) -> list[tuple[str, str]]:
        """The (dimension, video) pairs to evaluate: every video with questions, or those of the first ``limit``
        videos (in first-seen order), dimension by dimension."""
        chosen = set(self.video_ids()[:limit]) if limit else None
        return [
            (dimension, video_id)
            for dimension, data in self.dimensions.items()
            for video_id in data.videos
            if chosen is None or video_id in chosen
        ]

    def notes(self) -> dict:
        """What loading did beyond reading: repeated videos, videos without questions, videos absent from a file."""
        everywhere = self.video_ids()
        summary = {}
        for name, data in self.dimensions.items():
            absent = [v for v in everywhere if v not in data.videos and v not in data.without_questions]
            summary[name] = {
                "file": data.path,
                "videos": len(data.videos),
                "questions": data.questions,
                "duplicate_keys": data.duplicates,
                "skipped_without_questions": data.without_questions,
                "absent_from_file": absent,
            }
        return summary


def qa_file(qa_dir: Path, dimension: str) -> Path:
    """``<dimension>.jsonl`` in ``qa_dir``, else the one ``<dimension>.*.jsonl`` there (e.g. the samples)."""
    exact = qa_dir / f"{dimension}.jsonl"
    if exact.is_file():
        return exact
    others = sorted(qa_dir.glob(f"{dimension}.*.jsonl"))
    if len(others) == 1:
        return others[0]
    if not qa_dir.is_dir():
        raise DataError(qa_dir, "no such folder (expected the VDC question files camera.jsonl ... detailed.jsonl)")
    found = ", ".join(p.name for p in others) or "none"
    raise DataError(
        qa_dir, f"expected one question file {dimension}.jsonl for dimension {dimension!r} (found: {found})"
    )


def load_dimension(
    path: Path, dimension: str, *, duplicate_keys: Literal["last", "first", "error"] = "last"
) -> DimensionData:
    """Read one dimension's question file (see the module docstring for the rules)."""
    videos: dict[str, list[QA]] = {}
    first_line: dict[str, int] = {}
    duplicates: list[dict] = []
    without: list[str] = []
    for line in iter_jsonl(path):
        if line.error is not None:
            raise line.error
        for video_id, qas in line.record.items():
            parsed = _questions(path, line.line, video_id, qas)
            if video_id in first_line:
                previous = videos.get(video_id, [])
                duplicates.append(
                    {"video_id": video_id, "lines": [first_line[video_id], line.line], "same": previous == parsed}
                )
                if duplicate_keys == "error":
                    raise DataError(
                        path, f"video {video_id!r} repeats the one on line {first_line[video_id]}", line.line
                    )
                if duplicate_keys == "first":
                    continue
            else:
                first_line[video_id] = line.line
            videos[video_id] = parsed
    for video_id in [v for v, qas in videos.items() if not qas]:
        del videos[video_id]
        without.append(video_id)
    return DimensionData(dimension, str(path), videos, duplicates, without)


def _questions(path: Path, line: int, video_id: str, qas: object) -> list[QA]:
    if not isinstance(qas, list):
        raise DataError(path, f"video {video_id!r}: expected a list of questions, got {type(qas).__name__}", line)
    parsed = []
    for index, qa in enumerate(qas):
        if not isinstance(qa, dict):
            raise DataError(path, f"video {video_id!r}, question {index}: expected an object", line)
        question, answer = qa.get("question"), qa.get("answer")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise DataError(path, f"video {video_id!r}, question {index}: needs string 'question' and 'answer'", line)
        category = qa.get("category")
        parsed.append(QA(question, answer, category if isinstance(category, str) else ""))
    return parsed


def load(
    qa_dir: str | Path,
    dimensions: tuple[str, ...] | list[str] = DIMENSIONS,
    *,
    duplicate_keys: Literal["last", "first", "error"] = "last",
) -> VDCData:
    """Load the question files of ``dimensions`` from ``qa_dir``."""
    qa_dir = Path(qa_dir)
    loaded = {}
    for dimension in dimensions:
        if dimension not in DIMENSIONS:
            raise DataError(qa_dir, f"unknown VDC dimension {dimension!r} (choose from {', '.join(DIMENSIONS)})")
        loaded[dimension] = load_dimension(qa_file(qa_dir, dimension), dimension, duplicate_keys=duplicate_keys)
    return VDCData(loaded)
