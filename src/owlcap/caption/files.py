"""Reading the captions to judge: owlcap's caption files or another tool's, with fields mapped by name.

A caption file is JSONL (or a JSON list, or ``{"logs": [...]}`` as lmms-eval writes samples); each record gives a
benchmark id and a caption through ``CaptionSource.id_field``/``caption_field`` (dotted paths reach nested fields,
numbers index lists: lmms-eval samples are ``--id-field doc.video_id --caption-field resps.0.0``). owlcap's caption
files append: a record with ``error`` is a failed caption, and a later success for the same id replaces it. A bad
line is reported and skipped; the other captions are judged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlcap.errors import DataError
from owlcap.hashing import file_digest
from owlcap.jsonl import iter_jsonl

KeyOf = Callable[[dict[str, Any], str | None], str | None]
"""One record's benchmark key (given, for a folder of files, the file's stem), or ``None`` to skip the record;
raises ``KeyError``/``ValueError`` naming what is missing."""

CaptionOf = Callable[[dict[str, Any]], str]


@dataclass
class LoadedCaptions:
    """Captions by key, failed captions by key (the cause), bad lines (file:line: cause), and provenance
    (``captioning``: the summary of the captioning run that wrote the file, when a benchmark captioned first)."""

    captions: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    bad_lines: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)
    prompts: dict[str, str] = field(default_factory=dict)
    captioning: dict[str, Any] | None = None

    def describe(self) -> dict[str, Any]:
        described = {
            "files": self.files,
            "captions": len(self.captions),
            "failed_captions": len(self.failed),
            "bad_lines": len(self.bad_lines),
            "captioners": sorted(self.models),
        }
        return described | ({"captioning": self.captioning} if self.captioning else {})


def dotted(record: Any, path: str) -> Any:
    """``record['a']['b'][0]`` for ``'a.b.0'``; ``KeyError`` when a step is missing."""
    value = record
    for step in path.split("."):
        if isinstance(value, list) and step.lstrip("-").isdigit():
            try:
                value = value[int(step)]
            except IndexError:
                raise KeyError(path) from None
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            raise KeyError(path)
    return value


def read_captions(path: str | Path, key_of: KeyOf, caption_of: CaptionOf) -> LoadedCaptions:
    """Read a caption file, or every ``*.jsonl``/``*.json`` file of a folder (the file stem is passed along)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json") and p.is_file())
        if not files:
            raise DataError(path, "no .jsonl or .json caption files in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise DataError(path, "no such caption file or folder")
    loaded = LoadedCaptions()
    for file in files:
        loaded.files[str(file)] = file_digest(file)
        stem = file.name.split(".")[0] if path.is_dir() else None
        for line, record, error in _records(file):
            if error is not None:
                loaded.bad_lines.append(str(error))
                continue
            try:
                key = key_of(record, stem)
                if key is None:
                    continue
                if record.get("error"):
                    if key not in loaded.captions:
                        loaded.failed[key] = str(record["error"])
                    continue
                loaded.captions[key] = caption_of(record)
            except (KeyError, ValueError, TypeError) as exc:
                loaded.bad_lines.append(str(DataError(file, _cause(exc), line)))
                continue
            loaded.failed.pop(key, None)
            if isinstance(record.get("model"), str):
                loaded.models.add(record["model"])
            if isinstance(record.get("prompt"), str):
                loaded.prompts[key] = record["prompt"]
    return loaded


def _cause(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


def _records(file: Path) -> Iterator[tuple[int | None, dict[str, Any] | None, DataError | None]]:
    if file.suffix == ".json":
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            yield None, None, DataError(file, f"not readable JSON ({exc})")
            return
        if isinstance(data, dict) and isinstance(data.get("logs"), list):
            data = data["logs"]
        if not isinstance(data, list):
            yield None, None, DataError(file, "expected a JSON list of records (or {'logs': [...]})")
            return
        for index, record in enumerate(data):
            if isinstance(record, dict):
                yield index, record, None
            else:
                yield index, None, DataError(file, f"record {index} is not an object")
        return
    for line in iter_jsonl(file):
        yield line.line, line.record, line.error


def text_field(record: dict[str, Any], path: str) -> str:
    value = dotted(record, path)
    if not isinstance(value, str):
        raise ValueError(f"field {path!r} is not a string")
    return value
