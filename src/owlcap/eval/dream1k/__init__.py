"""DREAM-1K (AutoDQ): events extracted from a caption, entailment judged both ways, F1 per category.

``load`` (annotations), ``prompts`` (the three judge calls and their official parsers), ``score_item`` /
``aggregate`` (per sample, then per category, OVERALL and buckets), ``DreamEvalConfig`` and ``PRESETS``
(tarsier). ``owlcap.eval.dream1k.runner.evaluate_dream1k`` is the recipe, one module per step: ``data`` ->
``captions`` -> ``judge`` -> ``scoring`` -> ``report``.
"""

from owlcap.eval.dream1k import prompts
from owlcap.eval.dream1k.config import PRESETS, DreamEvalConfig, DreamProtocol, DreamScoring
from owlcap.eval.dream1k.data import DreamData, DreamItem, load
from owlcap.eval.dream1k.scoring import aggregate, score_item

__all__ = [
    "PRESETS",
    "DreamData",
    "DreamEvalConfig",
    "DreamItem",
    "DreamProtocol",
    "DreamScoring",
    "aggregate",
    "load",
    "prompts",
    "score_item",
]
