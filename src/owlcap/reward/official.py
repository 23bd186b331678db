"""The released OwlCap CSER protocol, kept for side-by-side comparison with owlcap's.

What the released reward (``correctness_reward_vllm`` in clzhongg/OwlCap ``src/open_r1/grpo_caption.py``) does, per
prediction and one prediction at a time: one user message (no system prompt) asks the judge to split *both*
captions into units and mark each unit "Yes"/"No" against the other caption, answering
``{"Pred_units": [{"units": ..., "response": "Yes"}, ...], "Gt_units": [...]}``; correctness and completeness are
the shares of "Yes" (exact string) in each list, rounded to two decimals (an empty list scores 0); the reward is
their sum. Sampling: temperature 0.7, max_tokens 8192. The request is a raw POST whose ``extra_body`` (top_k 20,
thinking off) is a literal JSON field that servers do not read, so the judge ran with the server's default top-k and
Qwen3's default thinking on: ``official_thinking`` (default on) reproduces that.

Deliberate differences: the prompt below is owlcap's paraphrase of the released one (pass ``official_prompt_file``
for the exact text); an unparsable answer gets owlcap's repair round and then counts as a *failure*, where the
released code scores 0 silently (it also returns 0 whenever the answer lacks a ``</think>`` tag).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from owlcap.llm.task import Task
from owlcap.reward.config import CSERConfig

OFFICIAL_VERSION = "official-v1"

OFFICIAL_PROMPT = """
    You are a professional language analysis expert. Analyse how far two captions, pred_caption and gt_caption, \
overlap, in these steps:
    First, split into original information units: split pred_caption and gt_caption separately into original \
information units. An original information unit is a simple statement whose fact is the smallest piece of \
information that would lose its meaning if split further. Where possible, reduce abstract concepts or broad \
interpretations to basic observations that make them up. Each unit holds only one main element.
    Second, match the units: compare each unit of pred_caption with gt_caption and decide whether its content is \
consistent with gt_caption. A unit is consistent when its content does not conflict with gt_caption; a different \
description of the same information also counts as correct. Judge from your overall understanding of the captions. \
In the same way, compare each unit of gt_caption with pred_caption. Mark each match "Yes" (consistent) or "No" \
(inconsistent).
    Third, output format: give the result strictly in this JSON format:
    {
    "Pred_units": [{"units": "First Unit", "response": "Yes"}, {"units": "Second unit", "response": "No"}, ...],
    "Gt_units": [{"units": "First Unit", "response": "Yes"}, {"units": "Second unit", "response": "No"}, ...]
    }
    This is the pred_caption: {prediction}.
    This is the gt_caption: {reference}
"""


class OfficialUnit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    units: str = ""
    response: str = ""


class OfficialJudgement(BaseModel):
    """The released answer format. Missing lists count as empty, as in the released parser."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    pred_units: list[OfficialUnit] = Field(default_factory=list, alias="Pred_units")
    gt_units: list[OfficialUnit] = Field(default_factory=list, alias="Gt_units")


def yes_ratio(units: list[OfficialUnit]) -> float:
    """Share of units whose response is exactly "Yes", rounded to 2 decimals; 0.0 for none (released rule)."""
    if not units:
        return 0.0
    return round(sum(unit.response == "Yes" for unit in units) / len(units), 2)


def official_prompt(prediction: str, reference: str, template_file: Path | None = None) -> str:
    template = template_file.read_text(encoding="utf-8") if template_file is not None else OFFICIAL_PROMPT
    # str.replace, not str.format: the template is full of JSON braces.
    return template.replace("{prediction}", prediction).replace("{reference}", reference)


def official_task(prediction: str, reference: str, config: CSERConfig) -> Task:
    """One released-protocol request for ``prediction`` against ``reference`` → ``OfficialJudgement``."""
    prompt = official_prompt(prediction, reference, config.official_prompt_file)
    template = "owlcap" if config.official_prompt_file is None else _digest(config.official_prompt_file)

    def offline(rules: Any) -> dict[str, Any]:
        def judged(units: list[str], other: str) -> list[dict[str, str]]:
            return [{"units": u, "response": "Yes" if rules.supports(u, other) else "No"} for u in units]

        return {
            "Pred_units": judged(rules.split(prediction), reference),
            "Gt_units": judged(rules.split(reference), prediction),
        }

    return Task(
        kind="reward.official_cser",
        version=OFFICIAL_VERSION,
        messages=[{"role": "user", "content": prompt}],
        schema=OfficialJudgement,
        inputs={"prediction": prediction, "reference": reference, "template": template},
        # As released: no response_format, temperature 0.7, 8192 tokens, server-default top-k, thinking as sent.
        options={
            "temperature": 0.7,
            "max_tokens": 8192,
            "top_k": None,
            "thinking": config.official_thinking,
            "structured_output": "off",
        },
        offline=offline,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
