"""owlcap.eval: caption benchmark videos and score captions on VDC (VDCscore), DREAM-1K (AutoDQ), CaReBench (CapST)
and CAPability.

```python
from owlcap.eval import evaluate_vdc, evaluate_dream1k, reaggregate, compare_runs

result = evaluate_dream1k({"annotations": "DREAM-1k.jsonl", "captions": {"path": "captions.jsonl"},
                           "judge": {"model": "openai:gpt-3.5-turbo-0125"}, "out": "runs/dream"})
result.report["results"]["overall"]["f1"], result.complete, result.problems
reaggregate("runs/vdc", "lmms")            # the same judge answers, scored under another preset's rules
compare_runs(["runs/a", "runs/b"], out="runs/compare")
```

Each benchmark is a folder (``vdc``, ``dream1k``, ``carebench``, ``capability``): its config and presets, and one
module per step of its recipe (``runner``: load -> caption -> judge -> score -> report; ``data``, ``captions``,
``judge``, ``scoring``, ``report``), with its prompts and pure functions (``load``, ``score_item``, ``aggregate``).
Below them, what every benchmark shares: the judge session (``judging``), the run folder (``runs``), the judging of
planned items (``runner``), the score and report steps' common parts (``report``), re-scoring and comparison
(``registry`` names the benchmarks). Nothing runs at import; the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "evaluate_vdc": "owlcap.eval.vdc.runner",
    "VDCEvalConfig": "owlcap.eval.vdc.config",
    "evaluate_dream1k": "owlcap.eval.dream1k.runner",
    "DreamEvalConfig": "owlcap.eval.dream1k.config",
    "evaluate_carebench": "owlcap.eval.carebench.runner",
    "CareEvalConfig": "owlcap.eval.carebench.config",
    "evaluate_capability": "owlcap.eval.capability.runner",
    "CapEvalConfig": "owlcap.eval.capability.config",
    "reaggregate": "owlcap.eval.rescore",
    "compare_runs": "owlcap.eval.compare",
    "EvalResult": "owlcap.eval.report",
    "JudgeConfig": "owlcap.eval.judging",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'owlcap.eval' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
