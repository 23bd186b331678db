"""owlcap.caption: caption any set of videos with any model, in process or through a server, resumably.

```python
from owlcap.caption import CaptionConfig, caption_videos, load_caption_engine
from owlcap.data.sources import collect_videos

items, bad = collect_videos(["videos/"])
engine = load_caption_engine("Qwen/Qwen2.5-VL-7B-Instruct")    # or "openai:<model>@http://host:8000/v1"
summary = caption_videos(items, "captions.jsonl", engine, CaptionConfig())
```

``engines`` (in-process HF model or OpenAI-compatible server), ``runner`` (batched, decode ahead, one durable line
per video, resume), ``provenance`` (what made a caption file; a resume must match it), ``files`` (reading caption
files, owlcap's or another tool's, for judging), ``jobs`` (a benchmark's captioning step). Used by ``owlcap
caption``, ``owlcap run``'s caption stage, the data engine's previews and every benchmark. Nothing runs at import;
the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CaptionConfig": "owlcap.caption.config",
    "CaptioningConfig": "owlcap.caption.config",
    "CaptionEngine": "owlcap.caption.engines",
    "RemoteCaptionEngine": "owlcap.caption.engines",
    "load_caption_engine": "owlcap.caption.engines",
    "CaptionSummary": "owlcap.caption.runner",
    "caption_videos": "owlcap.caption.runner",
    "check_output": "owlcap.caption.provenance",
    "read_captions": "owlcap.caption.files",
    "CaptionJob": "owlcap.caption.jobs",
    "caption_jobs": "owlcap.caption.jobs",
    "caption_into_run": "owlcap.caption.jobs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'owlcap.caption' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
