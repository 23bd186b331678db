"""Builders of the unit tasks shared by FGE, CSER and the evaluators. Pure: they only describe requests.

Run one with any backend: ``units = (await judge.run(decompose_task(caption))).units``. Each task carries its
offline recipe for the ``rules`` backend, and a ``check`` that rejects verdict lists of the wrong length. The rules
backend cannot tell a contradiction from an omission: under the ``conflict`` criterion it still answers by support
(word overlap), a stand-in for tests and demos, not a judge of that criterion.
"""

from __future__ import annotations

from typing import Any, Literal

from owlcap.llm.choices import parse_choice
from owlcap.llm.media import video_fingerprint
from owlcap.llm.task import Task
from owlcap.units import prompts
from owlcap.units.schemas import PairJudgement, UnitList, VerdictList

Criterion = Literal["coverage", "conflict"]


def _verdict(flag: bool) -> str:
    return "yes" if flag else "no"


def _check_count(expected: int):
    def check(answer: VerdictList) -> None:
        if len(answer.verdicts) != expected:
            raise ValueError(f"expected exactly {expected} verdicts, one per unit in order; got {len(answer.verdicts)}")

    return check


def decompose_task(caption: str) -> Task:
    """(a) Split ``caption`` into minimal units → ``UnitList``."""
    return Task(
        kind="units.decompose",
        version=prompts.VERSIONS["units.decompose"],
        messages=[
            {"role": "system", "content": prompts.DECOMPOSE_SYSTEM},
            {"role": "user", "content": prompts.decompose_user(caption)},
        ],
        schema=UnitList,
        inputs={"caption": caption},
        offline=lambda rules: {"units": rules.split(caption)},
    )


def verify_text_task(units: list[str], text: str, *, criterion: Criterion = "coverage") -> Task:
    """(b) Is each unit supported by ``text`` (as a whole)? → ``VerdictList`` parallel to ``units``. Under
    ``criterion="conflict"``: is it consistent with ``text`` (only a contradiction is "no")?"""
    units = list(units)
    return Task(
        kind="units.verify_text",
        version=prompts.version("units.verify_text", criterion),
        messages=[
            {"role": "system", "content": prompts.verify_text_system(criterion)},
            {"role": "user", "content": prompts.verify_text_user(units, text)},
        ],
        schema=VerdictList,
        inputs={"units": units, "text": text},
        check=_check_count(len(units)),
        offline=lambda rules: {"verdicts": [_verdict(rules.supports(u, text)) for u in units]},
    )


def _video_part(video: Any, path: str | None) -> dict[str, Any]:
    """The message part carrying a sampled video (and its file, for servers that take the encoded video)."""
    part: dict[str, Any] = {"type": "video", "video": video}
    if path is not None:
        part["path"] = str(path)
    return part


def verify_video_task(units: list[str], video: Any, *, video_key: str | None = None, path: str | None = None) -> Task:
    """(c) Is each unit shown by the video? ``video`` is a ``SampledVideo``; ``video_key`` (e.g. path + sampling
    settings) names it in the cache key, else a digest of its frames does. Only a video model can answer."""
    units = list(units)
    part = _video_part(video, path)
    return Task(
        kind="units.verify_video",
        version=prompts.VERSIONS["units.verify_video"],
        messages=[
            {"role": "system", "content": prompts.VERIFY_VIDEO_SYSTEM},
            {"role": "user", "content": [part, {"type": "text", "text": prompts.verify_video_user(units)}]},
        ],
        schema=VerdictList,
        inputs={"units": units, "video": video_key or video_fingerprint(video)},
        check=_check_count(len(units)),
        offline=None,
    )


UNIT_CHOICES = ("yes", "no")


def parse_unit_verdict(text: str) -> dict[str, Any]:
    """A per-unit answer as ``{"verdict": "yes"|"no", "p_yes": float | None}``; ``p_yes`` is set when the backend
    decided from the model's probabilities (``owlcap.llm.choices``). ``ValueError`` when the answer is neither."""
    verdict, probs = parse_choice(text, UNIT_CHOICES)
    return {"verdict": verdict, "p_yes": None if probs is None else float(probs.get("yes", 0.0))}


def verify_unit_task(
    unit: str, video: Any, *, video_key: str | None = None, path: str | None = None, probabilities: bool = False
) -> Task:
    """(c), one unit per request: is ``unit`` shown by the video? → ``{"verdict", "p_yes"}`` (see
    ``parse_unit_verdict``). ``probabilities`` asks the backend to decide from the next-token probabilities of
    "yes" and "no" where it can (hf logits, server logprobs), else from the text. Only a video model can answer."""
    part = _video_part(video, path)
    return Task(
        kind="units.verify_unit",
        version=prompts.VERSIONS["units.verify_unit"],
        messages=[
            {"role": "system", "content": prompts.VERIFY_UNIT_SYSTEM},
            {"role": "user", "content": [part, {"type": "text", "text": prompts.verify_unit_user(unit)}]},
        ],
        schema=None,
        parse=parse_unit_verdict,
        inputs={"unit": unit, "video": video_key or video_fingerprint(video)},
        options={"choices": list(UNIT_CHOICES)} if probabilities else {},
        on_invalid="resample",
        offline=None,
    )


def judge_pair_task(
    prediction: str, reference: str, reference_units: list[str], *, criterion: Criterion = "coverage"
) -> Task:
    """CSER in one request per prediction: split ``prediction``, judge its units against ``reference`` and each of
    the (cached) ``reference_units`` against ``prediction`` → ``PairJudgement``; ``criterion`` as in
    ``verify_text_task``."""
    reference_units = list(reference_units)
    m = len(reference_units)

    def check(answer: PairJudgement) -> None:
        if len(answer.pred_supported) != len(answer.pred_units):
            raise ValueError(
                f"pred_supported has {len(answer.pred_supported)} verdicts for {len(answer.pred_units)} predicted "
                "units; give one per predicted unit, in order"
            )
        if len(answer.ref_covered) != m:
            raise ValueError(f"ref_covered has {len(answer.ref_covered)} verdicts; give exactly {m}, one per unit")
        if any(not unit for unit in answer.pred_units):
            raise ValueError("pred_units contains an empty unit")

    def offline(rules: Any) -> dict[str, Any]:
        pred_units = rules.split(prediction)
        return {
            "pred_units": pred_units,
            "pred_supported": [_verdict(rules.supports(u, reference)) for u in pred_units],
            "ref_covered": [_verdict(rules.supports(u, prediction)) for u in reference_units],
        }

    return Task(
        kind="units.judge_pair",
        version=prompts.version("units.judge_pair", criterion),
        messages=[
            {"role": "system", "content": prompts.judge_pair_system(criterion)},
            {"role": "user", "content": prompts.judge_pair_user(prediction, reference, reference_units)},
        ],
        schema=PairJudgement,
        inputs={"prediction": prediction, "reference": reference, "reference_units": reference_units},
        check=check,
        offline=offline,
    )
