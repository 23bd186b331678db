"""CaReBench (CapST): events and objects extracted from a caption and judged both ways, F1 for each.

``load`` (annotations), ``prompts`` (the extraction and entailment calls and their official parsers),
``score_item`` / ``aggregate`` (per sample, then per aspect and category), ``CareEvalConfig`` and ``PRESETS``
(care); ``owlcap.eval.carebench.runner.evaluate_carebench`` runs it all.
"""

from owlcap.eval.carebench import prompts
from owlcap.eval.carebench.config import PRESETS, CareEvalConfig, CareProtocol, CareScoring
from owlcap.eval.carebench.data import CareData, CareItem, load
from owlcap.eval.carebench.scoring import aggregate, score_item

__all__ = [
    "PRESETS",
    "CareData",
    "CareEvalConfig",
    "CareItem",
    "CareProtocol",
    "CareScoring",
    "aggregate",
    "load",
    "prompts",
    "score_item",
]
