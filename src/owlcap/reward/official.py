"""The released OwlCap CSER protocol, kept for side-by-side comparison with owlcap's and for replaying the run.

What the released reward (``correctness_reward_vllm`` in clzhongg/OwlCap ``src/open_r1/grpo_caption.py``) does, per
prediction and one prediction at a time: one user message (no system prompt) asks the judge to split *both*
captions into units and mark each unit "Yes"/"No" against the other caption ("consistent" = does not conflict with
it), answering ``{"Pred_units": [{"units": ..., "response": "Yes"}, ...], "Gt_units": [...]}``. Its parser
(``extract_and_analyze_json``) takes the text after the first ``</think>`` (no ``</think>``: 0), the JSON from the
first ``{`` to the last ``}`` (none, or invalid: 0), and the share of items that are objects whose ``response`` is
exactly "Yes" in each list, rounded to two decimals (an empty list: 0); the reward is their sum. Sampling:
temperature 0.7, max_tokens 8192, sent as a raw ``requests.post`` with ``raise_for_status`` (an HTTP error ends the
run) and no retry or timeout. Its ``extra_body`` (top_k 20, thinking off) is a literal JSON field that vLLM ignores,
so the judge thought (Qwen3's default) and sampled with the server's defaults: vLLM >= 0.8 reads them from the
model's ``generation_config.json``.

owlcap's options (``CSERConfig.official_*``): by default an unparsable answer gets a repair round and then counts as
a *failure* (unscored), identical predictions are judged once and answers are cached; ``official_unparsable: zero``,
``official_afresh`` and ``official_on_error: stop`` replay the released behaviour (:func:`read_released_answer` is its
parser). The prompt is the released text, exactly (``released_cser_prompt.txt`` beside this module, credited in
``owlcap/samples/CREDITS.md``); ``official_prompt_file`` takes another template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from owlcap.hashing import file_digest
from owlcap.llm.task import Task
from owlcap.reward.config import CSERConfig
from owlcap.reward.result import UnitVerdict

OFFICIAL_VERSION = "official-v2"  # v2: the released prompt text, exact (v1: a paraphrase)

RELEASED_PROMPT_FILE = Path(__file__).with_name("released_cser_prompt.txt")
"""The released prompt, byte for byte, with ``{prediction}`` and ``{reference}`` where the f-string had ``{content}``
and ``{sol}`` (and ``{``/``}`` where it had ``{{``/``}}``)."""


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


@dataclass(frozen=True)
class ReleasedReading:
    """A judge answer read as the released parser reads it. ``problem`` says why it scored 0 (``None``: it was
    read; a readable answer with no units scores 0 too, as released)."""

    correctness: float
    completeness: float
    pred_units: list[UnitVerdict]
    gt_units: list[UnitVerdict]
    problem: str | None = None


def read_released_answer(raw: str, *, require_think: bool = True) -> ReleasedReading:
    """Scores of one raw judge answer by the released ``extract_and_analyze_json`` rules (see the module docstring).

    ``require_think``: an answer without ``</think>`` scores 0 and only the text after the first one is read (the
    released rule, right for a judge that thinks; with thinking off the released parser scores every answer 0).
    """
    text = raw
    if require_think:
        cut = raw.find("</think>")
        if cut < 0:
            return _unread("no </think> in the answer")
        text = raw[cut + len("</think>") :]
    text = text.strip()
    start, end = text.find("{"), text.rfind("}") + 1
    if start < 0 or end <= start:
        return _unread("no JSON object in the answer")
    try:
        data = json.loads(text[start:end])
        pred, gt = data.get("Pred_units", []), data.get("Gt_units", [])
        correctness, completeness = _released_share(pred), _released_share(gt)
    except json.JSONDecodeError as exc:
        return _unread(f"invalid JSON ({exc.msg})")
    except TypeError as exc:  # e.g. "Pred_units": null, whose len() the released parser cannot take
        return _unread(f"unit lists of the wrong type ({exc})")
    return ReleasedReading(correctness, completeness, _verdicts(pred), _verdicts(gt))


def _released_share(units: Any) -> float:
    """Items that are objects with ``response == "Yes"`` over ``len(units)`` (any item counts), to 2 decimals."""
    total = len(units)
    yes = sum(1 for item in units if isinstance(item, dict) and item.get("response") == "Yes")
    return round(yes / total, 2) if total > 0 else 0.0


def _verdicts(units: Any) -> list[UnitVerdict]:
    return [UnitVerdict(str(u.get("units", "")), u.get("response") == "Yes") for u in units if isinstance(u, dict)]


def _unread(problem: str) -> ReleasedReading:
    return ReleasedReading(0.0, 0.0, [], [], problem)


def official_prompt(prediction: str, reference: str, template_file: Path | None = None) -> str:
    template = (template_file or RELEASED_PROMPT_FILE).read_text(encoding="utf-8")
    # str.replace, not str.format: the template is full of JSON braces.
    return template.replace("{prediction}", prediction).replace("{reference}", reference)


def official_task(prediction: str, reference: str, config: CSERConfig) -> Task:
    """One released-protocol request for ``prediction`` against ``reference``: an ``OfficialJudgement`` (repaired
    when unreadable), or with ``official_unparsable: zero`` the raw answer for :func:`read_released_answer`."""
    prompt = official_prompt(prediction, reference, config.official_prompt_file)
    template = "released" if config.official_prompt_file is None else _digest(config.official_prompt_file)
    raw = config.official_unparsable == "zero"

    def offline(rules: Any) -> dict[str, Any]:
        def judged(units: list[str], other: str) -> list[dict[str, str]]:
            return [{"units": u, "response": "Yes" if rules.supports(u, other) else "No"} for u in units]

        return {
            "Pred_units": judged(rules.split(prediction), reference),
            "Gt_units": judged(rules.split(reference), prediction),
        }

    # As released: no response_format; thinking as the server defaults (on); top-k/top-p only when configured.
    options: dict[str, Any] = {
        "temperature": config.official_temperature,
        "max_tokens": config.official_max_tokens,
        "top_k": config.official_top_k,
        "thinking": config.official_thinking,
        "structured_output": "off",
    }
    if config.official_top_p is not None:
        options["extra_body"] = {"top_p": config.official_top_p}
    return Task(
        kind="reward.official_cser",
        version=OFFICIAL_VERSION,
        messages=[{"role": "user", "content": prompt}],
        schema=None if raw else OfficialJudgement,
        inputs={"prediction": prediction, "reference": reference, "template": template},
        options=options,
        offline=offline,
        max_attempts=1 if raw else None,  # the released parser scores what it cannot read; nothing to repair
        cache=not config.official_afresh,
    )


def _digest(path: Path) -> str:
    return file_digest(path, 16)
