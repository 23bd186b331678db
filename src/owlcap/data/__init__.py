"""owlcap.data: the HMD data engine (Motion-Detail Fusion + Fine-Grained Examination) and its records.

```python
from owlcap.data import BuildConfig, build, examine, export

summary = build(BuildConfig.model_validate(yaml_dict), ["videos/"], "out/hmd")   # -> BuildSummary
summary = examine(config, ["captions.jsonl"], "out/fge")                         # FGE only
export("out/hmd", "sft")                                                          # sft | grpo | hf | parquet
```

Modules: ``config`` (BuildConfig), ``prompts`` (MDF prompts), ``schema`` (BuildRecord), ``decoding``, ``pipeline``
(one video through the stages), ``store`` (the one writer, resume, kill-safety), ``runner`` (build/examine, local
engine), ``ray_engine``, ``outputs``/``report``/``viewer`` (hmd.jsonl, stats.json, plots, HTML), ``export``;
``records`` and ``sources`` (HMD records for training, video inputs) are shared with the rest of owlcap.
Imports are lazy: ``import owlcap.data`` loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from owlcap.data.config import BuildConfig
    from owlcap.data.exports import export
    from owlcap.data.outputs import write_outputs
    from owlcap.data.runner import BuildInterrupted, BuildSummary, build, examine
    from owlcap.data.schema import BuildRecord

_LAZY = {
    "BuildConfig": "owlcap.data.config",
    "BuildRecord": "owlcap.data.schema",
    "BuildInterrupted": "owlcap.data.runner",
    "BuildSummary": "owlcap.data.runner",
    "build": "owlcap.data.runner",
    "examine": "owlcap.data.runner",
    "export": "owlcap.data.exports",
    "write_outputs": "owlcap.data.outputs",
}

__all__ = [
    "BuildConfig",
    "BuildInterrupted",
    "BuildRecord",
    "BuildSummary",
    "build",
    "examine",
    "export",
    "write_outputs",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'owlcap.data' has no attribute {name!r}")
