"""owlcap.data.pairs: preference pairs for DPO from what owlcap already computes.

```python
from owlcap.data.pairs import PairsConfig, build_pairs

config = PairsConfig.model_validate({"hmd": {"builds": ["runs/q/data"]}, "grpo": {"runs": ["runs/q/grpo/model"]}})
summary = build_pairs(config, "runs/q/pairs")          # -> PairsSummary; runs/q/pairs/pairs.jsonl
```

Sources (one module each): ``hmd`` (FGE's unsupported units removed vs the fused caption; motion vs fused caption),
``completions`` (a GRPO group's best vs worst completion), ``captions`` (the best vs worst of several caption files,
scored with CSER against references). ``items`` is what a source hands the builder, ``schema`` the pair line,
``select`` the deduplication and per-video cap, ``builder`` the resumable, locked run. ``owlcap data pairs`` is the
command; docs/dpo.md says which published recipe each source follows.
"""

from owlcap.data.pairs.builder import PairsSummary, build_pairs, plan_items
from owlcap.data.pairs.config import CaptionPairsConfig, GRPOPairsConfig, HMDPairsConfig, PairsConfig
from owlcap.data.pairs.schema import SOURCES, PreferencePair

__all__ = [
    "SOURCES",
    "CaptionPairsConfig",
    "GRPOPairsConfig",
    "HMDPairsConfig",
    "PairsConfig",
    "PairsSummary",
    "PreferencePair",
    "build_pairs",
    "plan_items",
]
