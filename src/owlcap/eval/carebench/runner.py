"""``evaluate_carebench``, the CaReBench recipe: load -> caption -> judge -> score -> report, one call per step.

Each step lives in its own module of ``owlcap.eval.carebench`` (``data``, ``captions``, ``judge``, ``scoring``,
``report``); below them, what every benchmark shares: the judge session (``owlcap.eval.judging``), the run folder
(``owlcap.eval.runs``), the judging of planned items (``owlcap.eval.runner``) and the report files
(``owlcap.eval.report``).
"""

from __future__ import annotations

from typing import Any

from owlcap.config import validate_config
from owlcap.eval.carebench.captions import caption
from owlcap.eval.carebench.config import CareEvalConfig
from owlcap.eval.carebench.data import load
from owlcap.eval.carebench.judge import judge
from owlcap.eval.carebench.prompts import REQUIRED
from owlcap.eval.carebench.report import write_report
from owlcap.eval.carebench.scoring import score
from owlcap.eval.prompt_sets import load_prompt_set
from owlcap.eval.report import EvalResult
from owlcap.eval.runs import claim


def evaluate_carebench(config: CareEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a CaReBench evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged sample in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(CareEvalConfig, config, source="carebench config")

    # Load: the annotation list (numbered by position, keyed by video stem), and the prompt texts.
    data = load(config.annotations)
    prompts = load_prompt_set(
        config.prompts, benchmark="carebench", search_dirs=[config.annotations.parent], required=REQUIRED
    )

    with claim(config.out):  # one evaluation writes a run folder at a time
        # Caption: read the caption file (or the official description.json), or caption each video first.
        captions = caption(config, data, prompts)

        # Judge: events and objects extracted and judged both ways; items.jsonl gets each sample as it is done.
        judged = judge(config, data, captions, prompts)

        # Score: per sample and kind, then action and object recall, precision and F1 (no judge).
        scores = score(judged.records, config.scoring, config.report)

        # Report: run.json, report.json, report.md (with the breakdown by category) and the plot.
        return write_report(config, judged, scores, data=data, prompts=prompts, captions=captions)
