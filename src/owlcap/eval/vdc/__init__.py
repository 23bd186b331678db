"""VDC (VDCscore): five caption dimensions, each judged by questions answered from the caption alone.

``load`` (question files), ``prompts`` (captioning prompt per video and dimension, the two judge calls),
``score_item`` / ``aggregate`` (per video, then per dimension, under any preset's rules), ``VDCEvalConfig`` and
``PRESETS`` (auroracap, lmms, lmms_gpt). ``owlcap.eval.vdc.runner.evaluate_vdc`` is the recipe, one module per
step: ``data`` -> ``captions`` -> ``judge`` -> ``scoring`` -> ``report``.
"""

from owlcap.eval.vdc import prompts
from owlcap.eval.vdc.config import PRESETS, VDCEvalConfig, VDCProtocol, VDCScoring
from owlcap.eval.vdc.data import DIMENSIONS, QA, VDCData, load
from owlcap.eval.vdc.scoring import aggregate, parse_verdict, score_item

__all__ = [
    "DIMENSIONS",
    "PRESETS",
    "QA",
    "VDCData",
    "VDCEvalConfig",
    "VDCProtocol",
    "VDCScoring",
    "aggregate",
    "load",
    "parse_verdict",
    "prompts",
    "score_item",
]
