"""``evaluate_vdc``, the VDC recipe: load -> caption -> judge -> score -> report, one call per step.

Each step lives in its own module of ``owlcap.eval.vdc`` (``data``, ``captions``, ``judge``, ``scoring``,
``report``); below them, what every benchmark shares: the judge session (``owlcap.eval.judging``), the run folder
(``owlcap.eval.runs``), the judging of planned items (``owlcap.eval.runner``) and the report files
(``owlcap.eval.report``).
"""

from __future__ import annotations

from typing import Any

from owlcap.config import validate_config
from owlcap.eval.prompt_sets import load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.vdc.captions import caption
from owlcap.eval.vdc.config import VDCEvalConfig
from owlcap.eval.vdc.data import load
from owlcap.eval.vdc.judge import judge
from owlcap.eval.vdc.prompts import REQUIRED
from owlcap.eval.vdc.report import write_report
from owlcap.eval.vdc.scoring import score


def evaluate_vdc(config: VDCEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a VDC evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged item in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(VDCEvalConfig, config, source="vdc config")

    # Load: the question files of the chosen dimensions, and the prompt texts (caption pools, the judge's calls).
    data = load(config.qa_dir, config.dimensions, duplicate_keys=config.duplicate_keys)
    prompts = load_prompt_set(config.prompts, benchmark="vdc", search_dirs=[config.qa_dir], required=REQUIRED)

    # Caption: read the caption file, or caption each (dimension, video) with a prompt drawn from its pool.
    captions = caption(config, data, prompts)

    # Judge: each question's answer from the caption, then its verdict; items.jsonl gets each video as it is done.
    judged = judge(config, data, captions, prompts)

    # Score: per video, then per dimension, under the preset's rules (owlcap eval report redoes this, no judge).
    scores = score(judged.records, config.scoring, config.report)

    # Report: run.json, report.json, report.md and the plot.
    return write_report(config, judged, scores, data=data, prompts=prompts, captions=captions)
