"""``evaluate_capability``, the CAPability recipe: load -> caption -> judge -> score -> report, one call per step.

Each step lives in its own module of ``owlcap.eval.capability`` (``data``, ``captions``, ``judge`` with the official
retry rounds, ``scoring``, ``report``); below them, what every benchmark shares: the judge session
(``owlcap.eval.judging``), the run folder (``owlcap.eval.runs``), the judging of planned items
(``owlcap.eval.runner``) and the report files (``owlcap.eval.report``).
"""

from __future__ import annotations

from typing import Any

from owlcap.config import validate_config
from owlcap.eval.capability.captions import caption
from owlcap.eval.capability.config import CapEvalConfig
from owlcap.eval.capability.data import load
from owlcap.eval.capability.judge import judge
from owlcap.eval.capability.prompts import REQUIRED
from owlcap.eval.capability.report import write_report
from owlcap.eval.capability.scoring import score
from owlcap.eval.prompt_sets import load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runs import claim


def evaluate_capability(config: CapEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a CAPability evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged file in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(CapEvalConfig, config, source="capability config")

    # Load: the annotation files of the chosen dimensions, and the prompt texts (captioning, the judge's calls).
    data = load(config.annotations, config.dimensions)
    prompts = load_prompt_set(
        config.prompts, benchmark="capability", search_dirs=[config.annotations], required=REQUIRED
    )

    with claim(config.out):  # one evaluation writes a run folder at a time
        # Caption: read the caption file(s), or caption each annotated video once with the official video prompt.
        captions = caption(config, data, prompts)

        # Judge: one call per file (per object for counts) in the official retry rounds; items.jsonl gets each file.
        judged = judge(config, data, captions, prompts)

        # Score: each answer read and checked as officially, then precision, recall, F1, hit rate (no judge).
        scores = score(judged.records, config.scoring, config.report)

        # Report: run.json, report.json, report.md and the plot.
        return write_report(config, judged, scores, data=data, prompts=prompts, captions=captions)
