"""HMD records and the caption examples training reads from them.

Two things live here:

* :class:`HMDRecord`, the schema of one line of an HMD JSONL file: the final caption plus every intermediate output
  of the pipeline (motion caption, fused caption, units, per-unit verdicts, unit accuracy, which models did what).
  Only ``id``, ``video`` and ``caption`` are required, so the sample files and hand-written data load too; unknown
  fields are kept (``extra="allow"``) so a newer pipeline's records survive a round trip through older code.
* :func:`read_caption_examples`, which turns HMD records *or* SFT conversation files into uniform
  :class:`CaptionExample`\\ s (id, absolute video path, prompt, caption, system). Accepted conversation shapes, one
  object per JSONL line (or a JSON array in a ``.json`` file):

  - HF multimodal chat: ``{"messages": [{"role": "user", "content": [{"type": "video", "video": "a.mp4"},
    {"type": "text", "text": "Describe..."}]}, {"role": "assistant", "content": "..."}]}``
  - LLaMA-Factory / ShareGPT: ``{"messages": [{"role": "user", "content": "<video>Describe..."}, ...],
    "videos": ["a.mp4"]}``, or the same with ``"conversations"`` of ``{"from": "human"|"gpt"|"system", "value"}``.
  - The released OwlCap lines: a singular ``"video": "a.mp4"`` with ``"conversations"`` (the human turn
    ``"<video>\\nDescribe this video in detail."``) and optional ``"start_time"``/``"end_time"`` clip trims in
    seconds (``null`` or missing = the whole video).

  Relative video paths resolve against the data file's folder (or ``video_root``). A bad line becomes a
  ``DataError`` naming ``file:line`` and the cause; the batch goes on without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from owlcap.data.dataset_lists import expand_data_files, take_share
from owlcap.errors import DataError
from owlcap.jsonl import iter_jsonl
from owlcap.textio import read_user_text

logger = logging.getLogger(__name__)

VIDEO_TAG = "<video>"
_ROLE_ALIASES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class UnitVerdict(BaseModel):
    """Fine-Grained Examination's judgement of one caption unit against the video."""

    model_config = ConfigDict(extra="allow")

    unit: str = Field(description="The minimal caption unit, e.g. 'The boy is wearing a baseball glove.'")
    supported: bool | None = Field(None, description="True if the video supports the unit; None if the judge failed.")
    reason: str | None = Field(None, description="The verifier's short justification, when it gave one.")


class HMDRecord(BaseModel):
    """One HMD record: the training caption and the provenance of every pipeline stage."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, description="Stable record id (resume key of the pipeline).")
    video: str = Field(min_length=1, description="Video path, absolute or relative to the JSONL file's folder.")
    caption: str = Field(min_length=1, description="The final caption a captioner is trained to write.")
    prompt: str | None = Field(None, description="User prompt for this record; None = the trainer's default prompt.")
    start: float | None = Field(None, ge=0, description="Clip start in seconds (None: the video's start).")
    end: float | None = Field(None, gt=0, description="Clip end in seconds (None: the video's end).")
    motion_caption: str | None = Field(None, description="MDF stage 1: the motion-oriented model's caption.")
    fused_caption: str | None = Field(None, description="MDF stage 2: motion caption completed with static detail.")
    units: list[str] | None = Field(None, description="FGE: the fused caption split into minimal units.")
    unit_verdicts: list[UnitVerdict] | None = Field(None, description="FGE: the verifier's verdict on each unit.")
    unit_accuracy: float | None = Field(None, ge=0.0, le=1.0, description="FGE: share of units the video supports.")
    models: dict[str, str] | None = Field(
        None, description="Which model did each stage, e.g. {'motion': ..., 'fusion': ..., 'verify': ...}."
    )


@dataclass(frozen=True)
class CaptionExample:
    """One (video, prompt, caption) training example, whatever file format it came from.

    ``prompt`` and ``system`` are ``None`` when the source did not set them; the trainer fills in its defaults.
    ``source`` is ``file:line`` for error messages.
    """

    id: str
    video: str
    caption: str
    prompt: str | None = None
    system: str | None = None
    source: str = ""
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_caption_examples(
    paths: str | Path | Iterable[str | Path],
    *,
    video_root: str | Path | None = None,
    check_files: bool = True,
    parse: Callable[..., Any] | None = None,
) -> tuple[list[Any], list[DataError]]:
    """Read HMD records or SFT conversations from JSONL/JSON files into caption examples, in file order.

    A dataset list (``owlcap.data.dataset_lists``: the released ``{"name": {"annotation": glob, "repeat_time": r}}``
    in JSON or YAML) stands for its files, each taken at its share.

    ``check_files`` reports a missing video as a bad line up front (a cheap ``stat``) instead of at decode time.
    ``parse`` reads one object instead of :func:`parse_record` (same arguments; it returns anything with a
    ``video``, and raises ``ValueError`` for a bad line): DPO's preference pairs are read this way.
    Returns the examples and one ``DataError`` per bad line; a missing file raises ``DataError``.
    """
    parse = parse or parse_record
    if isinstance(paths, (str, Path)):
        paths = [paths]
    examples: list[CaptionExample] = []
    errors: list[DataError] = []
    for path, share in expand_data_files([Path(p) for p in paths]):
        base = Path(video_root) if video_root is not None else path.parent
        objects = list(_iter_objects(path))
        for line, record, error in objects if share == 1 else take_share(objects, share):
            if error is not None:
                errors.append(error)
                continue
            try:
                example = parse(record, base=base, source=f"{path}:{line}", default_id=f"{path.stem}:{line}")
                if check_files and not Path(example.video).is_file():
                    raise ValueError(f"video file not found: {example.video}")
            except ValueError as exc:
                errors.append(DataError(path, str(exc), line))
                continue
            examples.append(example)
    if errors:
        logger.warning("%d bad record(s) skipped; first: %s", len(errors), errors[0])
    return examples, errors


def parse_record(record: dict[str, Any], *, base: Path, source: str = "", default_id: str = "") -> CaptionExample:
    """Turn one object (HMD record or conversation) into a ``CaptionExample``; ``ValueError`` says what is wrong."""
    if "messages" in record or "conversations" in record:
        return _parse_conversation(record, base=base, source=source, default_id=default_id)
    if "caption" not in record and isinstance(record.get("reference"), str):
        record = {**record, "caption": record["reference"]}  # GRPO prompt/reference lines (owlcap data export)
    if "caption" in record:
        try:
            hmd = HMDRecord.model_validate(record)
        except ValidationError as exc:
            raise ValueError(_validation_message(exc)) from exc
        caption = hmd.caption.strip()
        start, end = clip_trims(record)
        return CaptionExample(hmd.id, _resolve(hmd.video, base), caption, hmd.prompt, None, source, start, end)
    raise ValueError("neither an HMD record (id, video, caption) nor a conversation ('messages' or 'conversations')")


def _parse_conversation(record: dict[str, Any], *, base: Path, source: str, default_id: str) -> CaptionExample:
    turns = record.get("messages", record.get("conversations"))
    if not isinstance(turns, list) or not turns:
        raise ValueError("'messages' must be a non-empty list of turns")
    by_role: dict[str, list[Any]] = {"system": [], "user": [], "assistant": []}
    for turn in turns:
        if not isinstance(turn, dict):
            raise ValueError(f"each turn must be an object, got {type(turn).__name__}")
        raw_role = turn.get("role", turn.get("from"))
        role = _ROLE_ALIASES.get(str(raw_role))
        if role is None:
            raise ValueError(f"unknown role {raw_role!r} (expected system, user/human, assistant/gpt)")
        by_role[role].append(turn.get("content", turn.get("value")))
    if len(by_role["user"]) != 1 or len(by_role["assistant"]) != 1 or len(by_role["system"]) > 1:
        raise ValueError("only single-turn caption conversations are supported (one user turn, one assistant turn)")
    prompt, inline_videos = _split_content(by_role["user"][0])
    caption, _ = _split_content(by_role["assistant"][0])
    system = _split_content(by_role["system"][0])[0] if by_role["system"] else None
    video = _one_video(record, prompt, inline_videos)
    prompt = prompt.replace(VIDEO_TAG, "").strip()
    if not caption.strip():
        raise ValueError("the assistant turn (the caption) is empty")
    record_id = str(record.get("id", default_id))
    start, end = clip_trims(record)
    return CaptionExample(
        record_id, _resolve(video, base), caption.strip(), prompt or None, system or None, source, start, end
    )


TRIM_FIELDS = (("start", "end"), ("start_time", "end_time"))
"""Clip-trim field pairs, in seconds: owlcap's (``start``/``end``) and the released OwlCap lines' (``start_time``/
``end_time``). A missing or ``null`` bound means the video's own start or end."""


def clip_trims(record: dict[str, Any]) -> tuple[float | None, float | None]:
    """The ``(start, end)`` clip trims of a record, in seconds; ``ValueError`` names the field and the problem."""
    found: dict[str, float | None] = {"start": None, "end": None}
    given_as: dict[str, str] = {}  # bound -> the field that set it first
    for pair in TRIM_FIELDS:
        for bound, name in zip(("start", "end"), pair, strict=True):
            value = record.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name!r} must be a number of seconds >= 0 or null, got {value!r}")
            if found[bound] is not None and found[bound] != float(value):
                raise ValueError(
                    f"{name!r} ({value:g}) contradicts {given_as[bound]!r} ({found[bound]:g}); give one of them"
                )
            found[bound] = float(value)
            given_as.setdefault(bound, name)
    start, end = found["start"], found["end"]
    if start is not None and end is not None and start >= end:
        raise ValueError(f"clip start ({start} s) must be before its end ({end} s)")
    return start, end


def _split_content(content: Any) -> tuple[str, list[str]]:
    """Text and video paths of one turn's content (a string, or a list of typed parts)."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ValueError(f"turn content must be a string or a list of parts, got {type(content).__name__}")
    texts, videos = [], []
    for part in content:
        if not isinstance(part, dict):
            raise ValueError(f"content parts must be objects, got {type(part).__name__}")
        kind = part.get("type")
        if kind == "video" or (kind is None and "video" in part):
            path = part.get("video", part.get("path"))
            if not isinstance(path, str) or not path:
                raise ValueError("a video part needs a 'video' (or 'path') string")
            videos.append(path)
        elif kind == "text" or (kind is None and "text" in part):
            texts.append(str(part.get("text", "")))
        else:
            raise ValueError(f"unsupported content part type {kind!r} (expected text or video)")
    return "".join(texts), videos


def _one_video(record: dict[str, Any], prompt: str, inline: list[str]) -> str:
    """The example's one video: a content part, a ``videos`` list (LLaMA-Factory) or a singular ``video`` string
    (the released OwlCap lines). A ``videos`` list needs its ``<video>`` tag in the user turn; with a singular
    ``video`` the tag is optional (the released GRPO code strips it, its SFT lines carry it)."""
    if "video" in record and "videos" in record:
        raise ValueError("give either 'video' (one path) or 'videos' (a list), not both")
    singular = "video" in record
    listed = record.get("video" if singular else "videos", [])
    if isinstance(listed, str):
        listed = [listed]
    field = "video" if singular else "videos"
    if not isinstance(listed, list) or not all(isinstance(v, str) and v for v in listed):
        raise ValueError(f"{field!r} must be a path string or a list of path strings")
    found = inline + listed
    if len(found) != 1:
        raise ValueError(f"expected exactly one video per example, found {len(found)}")
    tags = prompt.count(VIDEO_TAG)
    if listed and not singular and tags != 1:
        raise ValueError(f"a 'videos' list needs exactly one {VIDEO_TAG} tag in the user turn")
    if tags > 1:
        raise ValueError(f"the user turn has {tags} {VIDEO_TAG} tags for one video")
    return found[0]


def _resolve(video: str, base: Path) -> str:
    path = Path(video).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _iter_objects(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, DataError | None]]:
    """``(line, object, error)`` for a JSONL file, or ``(item index + 1, ...)`` for a ``.json`` array."""
    if path.suffix.lower() != ".json":
        for line in iter_jsonl(path):
            yield line.line, line.record, line.error
        return
    if not path.is_file():
        raise DataError(path, "no such file")
    try:
        items = json.loads(read_user_text(path, what="data file", error=DataError))
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON ({exc.msg})", exc.lineno) from exc
    if not isinstance(items, list):
        raise DataError(path, "a .json data file must hold a list of objects (use .jsonl for one object per line)")
    for index, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield index, item, None
        else:
            yield index, None, DataError(path, f"item {index}: expected an object, got {type(item).__name__}", index)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(record)"
        parts.append(f"{field}: {error['msg']}")
    return "; ".join(parts)
