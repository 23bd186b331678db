"""``evaluate_dream1k``, the DREAM-1K recipe: load -> caption -> judge -> score -> report, one call per step.

Each step lives in its own module of ``owlcap.eval.dream1k`` (``data``, ``captions``, ``judge``, ``scoring``,
``report``); below them, what every benchmark shares: the judge session (``owlcap.eval.judging``), the run folder
(``owlcap.eval.runs``), the judging of planned items (``owlcap.eval.runner``) and the report files
(``owlcap.eval.report``).
"""

from __future__ import annotations

from typing import Any

from owlcap.config import validate_config
from owlcap.eval.dream1k.captions import caption
from owlcap.eval.dream1k.config import DreamEvalConfig
from owlcap.eval.dream1k.data import load
from owlcap.eval.dream1k.judge import judge
from owlcap.eval.dream1k.prompts import REQUIRED
from owlcap.eval.dream1k.report import write_report
from owlcap.eval.dream1k.scoring import score
from owlcap.eval.prompt_sets import load_prompt_set
from owlcap.eval.report import EvalResult


def evaluate_dream1k(config: DreamEvalConfig | dict[str, Any]) -> EvalResult:
    """Run a DREAM-1K evaluation end to end; returns the report (also written to ``config.out``). Raises
    ``ConfigError``/``DataError`` for bad input and ``JudgeError`` when the judge fails its preflight;
    ``KeyboardInterrupt`` leaves every judged sample in ``items.jsonl`` for a re-run."""
    if isinstance(config, dict):
        config = validate_config(DreamEvalConfig, config, source="dream1k config")

    # Load: the annotations (Tarsier's read_dataset rules), and the prompt texts (captioning, the judge's calls).
    data = load(config.annotations, dataset_prefix=config.dataset_prefix, duplicate_ids=config.duplicate_ids)
    prompts = load_prompt_set(
        config.prompts, benchmark="dream1k", search_dirs=[config.annotations.parent], required=REQUIRED
    )

    # Caption: read the caption file, or caption each sample's video with the annotation's prompt.
    captions = caption(config, data, prompts)

    # Judge: events extracted from the caption, entailment judged both ways; items.jsonl gets each sample as it is done.
    judged = judge(config, data, captions, prompts)

    # Score: recall and precision per sample, F1 per category and OVERALL under the preset's rules (no judge).
    scores = score(judged.records, config.scoring, config.report)

    # Report: run.json, report.json, report.md (with the buckets) and the plot.
    return write_report(config, judged, scores, data=data, prompts=prompts, captions=captions)
