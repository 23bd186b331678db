"""owlcap.units: versioned prompts and schemas for minimal information units, shared by FGE, CSER and evaluators.

- ``decompose_task(caption)`` → ``UnitList``: (a) a caption split into minimal units, one fact each;
- ``verify_text_task(units, text)`` → ``VerdictList``: (b) each unit supported by a text, or not (``criterion=
  "conflict"``: consistent with it, only a contradiction being "no");
- ``verify_video_task(units, video)`` → ``VerdictList``: (c) each unit shown by a video, or not;
- ``verify_unit_task(unit, video, probabilities=...)`` → ``{"verdict", "p_yes"}``: (c) one unit per request, decided
  from the yes/no probabilities where the backend exposes them;
- ``judge_pair_task(prediction, reference, reference_units)`` → ``PairJudgement``: CSER's one-request form.

Run any of them with any judge: ``await from_spec("rules").run(decompose_task(text))``.
"""

from owlcap.units.prompts import CONFLICT_VERSIONS, CRITERIA, VERSIONS, data_block
from owlcap.units.schemas import PairJudgement, UnitList, Verdict, VerdictList
from owlcap.units.tasks import (
    decompose_task,
    judge_pair_task,
    parse_unit_verdict,
    verify_text_task,
    verify_unit_task,
    verify_video_task,
)

__all__ = [
    "CONFLICT_VERSIONS",
    "CRITERIA",
    "VERSIONS",
    "PairJudgement",
    "UnitList",
    "Verdict",
    "VerdictList",
    "data_block",
    "decompose_task",
    "judge_pair_task",
    "parse_unit_verdict",
    "verify_text_task",
    "verify_unit_task",
    "verify_video_task",
]
