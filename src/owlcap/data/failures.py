"""Why a record failed, in a few words that can be counted: the cause categories of stats, plots and summaries.

The full message (file, model, attempts) stays in the record; ``kind`` is a short label derived from it, so
"failures by cause and stage" groups 10,000 connection errors as one line rather than 10,000 distinct messages.
"""

from __future__ import annotations

import re

from owlcap.data.schema import Failure

_DECODE_KINDS = (
    (r"no such file", "missing file"),
    (r"is a directory|not a readable video|no video stream|cannot open|no decoder", "not a video"),
    (r"truncated|corrupt", "truncated or corrupt"),
    (r"limits exceeded", "over limits"),
    (r"start .*(beyond|before)|clip trims|start \(", "bad clip trims"),
    (r"no frames|no decodable", "no frames"),
)

_MODEL_KINDS = (
    (r"connection error|connect|disconnected", "connection error"),
    (r"timed out|no answer within|no answer in time", "timeout"),
    (r"HTTP 5\d\d|HTTP 429", "server error"),
    (r"HTTP 4\d\d", "request rejected"),
    (r"invalid answer|names none|does not match the schema|expected exactly|empty", "invalid answer"),
    (r"cannot answer|needs a model|text-only|takes one video", "model cannot do this"),
    (r"generation failed|out of memory", "generation failed"),
)


class StageFailed(Exception):
    """A stage of one record could not finish; carries the ``Failure`` the record will hold."""

    def __init__(self, stage: str, message: str):
        self.failure = Failure(stage=stage, kind=classify(stage, message), message=message)
        super().__init__(f"{stage}: {message}")


def classify(stage: str, message: str) -> str:
    """The short cause category of a failure message."""
    table = _DECODE_KINDS if stage == "decode" else _MODEL_KINDS
    for pattern, kind in table:
        if re.search(pattern, message, flags=re.IGNORECASE):
            return kind
    return "undecodable" if stage == "decode" else "model error"
