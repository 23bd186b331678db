"""What made a caption file, recorded beside it (``OUT.meta.json``), and the check a resume must pass.

A re-run with other settings (model, prompt, system prompt, sampling, generation settings, dtype) refuses to resume
into the file, saying what differs: a file mixing two models' captions would be silently wrong. A sidecar rather
than a header line, because every line of the JSONL stays a record (pandas, ``datasets``, jq and owlcap's own
readers take it as is); each record also carries its model, prompt, sampling and generation settings, so a file
without its sidecar is still checked: the model and settings against its first record, and each video's prompt
against the prompt its record says it was captioned with (so a new sidecar never claims a prompt the old captions
were not made with).
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from owlcap import __version__
from owlcap.caption.config import CaptionConfig
from owlcap.errors import ConfigError, OutputError
from owlcap.jsonl import iter_jsonl, write_text_atomic
from owlcap.llm.config import parse_spec
from owlcap.locks import lock_output, unlock

if TYPE_CHECKING:
    from owlcap.data.sources import VideoItem


def meta_path(out_path: str | Path) -> Path:
    """The sidecar recording what made ``out_path``: ``captions.jsonl`` -> ``captions.jsonl.meta.json``."""
    return Path(f"{out_path}.meta.json")


def provenance(model: str, config: CaptionConfig) -> dict:
    """The settings that decide the captions; a resume must match them. (The frame-size factor comes with the
    model, so sampling is recorded without it.)"""
    return {
        "model": model,
        "prompt": config.prompt,
        "system": config.system,
        "sampling": config.sampling.model_dump(exclude_none=True, exclude={"factor"}),
        "generation": config.generation.model_dump(exclude_none=True),
        "dtype": config.model_options.dtype,
    }


def item_prompt(item: VideoItem, config: CaptionConfig) -> str:
    """The prompt a video is captioned with: its own (a benchmark draws one per video and dimension), else the
    run's. Its record says which (``prompt``)."""
    prompt = item.field("prompt")
    return prompt if isinstance(prompt, str) and prompt else config.prompt


def check_output(
    out_path: str | Path,
    model: str,
    config: CaptionConfig,
    *,
    overwrite: bool = False,
    prompts: Mapping[str, str] | None = None,
) -> None:
    """Raise ``ConfigError`` when ``out_path`` cannot be written, is being written by another run, or holds
    captions made with other settings (``prompts``: each id's prompt now, checked against its record).

    Cheap (reads the sidecar and the records): the CLI calls it before loading the model.
    """
    out = Path(out_path)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; name a file, e.g. {out / 'captions.jsonl'}")
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the folder {folder} ({exc.strerror or exc})") from exc
    try:
        unlock(lock_captions(out))  # refused now (busy, or a folder that takes no files), not after model loading
    except OutputError as exc:
        raise OutputError(out, exc.cause) from exc
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputError(out, "permission denied")
    if overwrite or is_empty(out):
        return
    previous = _recorded_provenance(out)
    differences = _differences(previous, provenance(model, config)) if previous is not None else []
    if prompts is not None and not any(field == "prompt" for field, _, _ in differences):
        differences += _prompt_differences(out, prompts)
    if differences:
        lines = "\n".join(f"  {field}: {old!r} -> {new!r}" for field, old, new in differences)
        raise ConfigError(
            f"{out} holds captions made with other settings (recorded -> now):\n{lines}\n"
            "Resuming would mix them in one file: write to another --out, or pass --overwrite to start it afresh."
        )


def lock_captions(out: Path) -> TextIO:
    """Hold ``out`` for this caption run (``owlcap.locks.lock_output``): a second run on it is refused, naming the
    holder's pid, instead of appending its own lines between this one's."""
    return lock_output(
        out, busy=f"--out {out} is being written by another caption run", advice="wait for it, or choose another --out"
    )


def _prompt_differences(out: Path, prompts: Mapping[str, str]) -> list[tuple[str, object, object]]:
    """``("prompt", recorded, now)`` once when a captioned video's record names another prompt than it gets now."""
    changed = []
    for line in iter_jsonl(out):
        record = line.record
        if record is None or record.get("error") or "caption" not in record:
            continue
        now = prompts.get(str(record.get("id")))
        if now is not None and isinstance(record.get("prompt"), str) and record["prompt"] != now:
            changed.append((str(record["id"]), record["prompt"], now))
    if not changed:
        return []
    first_id, recorded, now = min(changed)  # lines land in completion order; name the same example every time
    return [(f"prompt ({len(changed)} captioned video(s), e.g. {first_id!r})", recorded, now)]


def write_meta(out_path: Path, model: str, config: CaptionConfig) -> None:
    """Record what makes ``out_path`` (once: a resumed run has the same settings, ``check_output`` made sure)."""
    path = meta_path(out_path)
    if path.exists():
        return
    meta = {
        "format": "owlcap.captions.v1",
        "owlcap": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "settings": provenance(model, config),
    }
    write_text_atomic(path, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def is_empty(out: Path) -> bool:
    return not out.exists() or out.stat().st_size == 0


def _recorded_provenance(out: Path) -> dict | None:
    """The settings recorded in the sidecar, or read off the first record that names its model (older files; not
    the prompt, which may be the item's own)."""
    meta = meta_path(out)
    if meta.exists():
        try:
            return json.loads(meta.read_text(encoding="utf-8"))["settings"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{meta}: unreadable ({exc}); delete it, or pass --overwrite") from exc
    for line in iter_jsonl(out):
        record = line.record
        if record is not None and "model" in record:
            fields = {name: record[name] for name in ("model", "generation") if name in record}
            if isinstance(record.get("sampling"), dict):
                fields["sampling"] = {k: v for k, v in record["sampling"].items() if k != "factor"}
            return fields
    return None


def _differences(old: dict, new: dict) -> list[tuple[str, object, object]]:
    """``(dotted field, old, new)`` for every setting recorded in ``old`` that ``new`` changes."""
    found = []
    for name, before in old.items():
        after = new.get(name)
        if isinstance(before, dict) and isinstance(after, dict):
            found += [(f"{name}.{field}", a, b) for field, a, b in _differences(before, after)]
            found += [(f"{name}.{field}", None, after[field]) for field in after.keys() - before.keys()]
        elif name == "model" and _same_model(before, after):
            continue
        elif before != after:
            found.append((name, before, after))
    return found


def _same_model(a: object, b: object) -> bool:
    """The same model however it is spelled: ``runs/m``, ``./runs/m/`` and ``hf:runs/m`` (one local folder), or
    ``openai:m@http://host/v1/`` and ``openai:m@http://host/v1`` (one server spec)."""
    return _model_key(a) == _model_key(b)


def _model_key(name: object) -> str:
    text = str(name).strip()
    if text.startswith("openai:"):
        try:
            return str(parse_spec(text))
        except ConfigError:
            return text
    text = text.removeprefix("hf:")
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text
