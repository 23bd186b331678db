"""CAPability: each annotated visual element (an event, an action, objects and their number or colour, a scene, a
camera movement...) judged against a caption: 1 correct, -1 wrong, 0 not mentioned; precision, recall, F1 and hit
rate per dimension.

``load`` (annotations), ``prompts`` (one judge call per file, the offline recipes), ``answers`` (the official
reading of the judge's answers), ``score_item`` / ``aggregate`` (per file, then per dimension and on average),
``CapEvalConfig`` and ``PRESETS`` (capability, lmms); ``owlcap.eval.capability.runner.evaluate_capability`` runs it
all.
"""

from owlcap.eval.capability import prompts
from owlcap.eval.capability.config import PRESETS, TASKS, CapEvalConfig, CapProtocol, CapRetry, CapScoring
from owlcap.eval.capability.data import CapData, CapRecord, load
from owlcap.eval.capability.scoring import aggregate, score_item

__all__ = [
    "PRESETS",
    "TASKS",
    "CapData",
    "CapEvalConfig",
    "CapProtocol",
    "CapRecord",
    "CapRetry",
    "CapScoring",
    "aggregate",
    "load",
    "prompts",
    "score_item",
]
