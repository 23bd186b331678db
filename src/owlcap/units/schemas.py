"""The answers of the unit tasks, as pydantic models (also sent to the server as the JSON schema to decode with).

Verdict lists are parallel to the units they judge (position i judges unit i) rather than objects that repeat each
unit's text: the judge writes a fraction of the characters, and each task's ``check`` rejects a list of the wrong
length, which triggers a repair round.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator


def _normalise_verdict(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value.strip().strip(".").lower()
    return value


Verdict = Annotated[Literal["yes", "no"], BeforeValidator(_normalise_verdict)]
"""``"yes"``: the fact is stated or clearly implied; ``"no"``: contradicted or not mentioned. Case-insensitive on
input; booleans are accepted."""


class UnitList(BaseModel):
    """(a) A caption split into minimal units, one fact each."""

    model_config = ConfigDict(extra="ignore")

    units: list[str]

    @field_validator("units")
    @classmethod
    def _clean(cls, units: list[str]) -> list[str]:
        return [" ".join(unit.split()) for unit in units if unit.strip()]


class VerdictList(BaseModel):
    """(b), (c) One verdict per unit, in the units' order."""

    model_config = ConfigDict(extra="ignore")

    verdicts: list[Verdict]


class PairJudgement(BaseModel):
    """The fused CSER request: the prediction split into units and judged against the reference, plus a verdict for
    each (already split, cached) reference unit against the prediction."""

    model_config = ConfigDict(extra="ignore")

    pred_units: list[str]
    pred_supported: list[Verdict]
    ref_covered: list[Verdict]

    @field_validator("pred_units")
    @classmethod
    def _clean(cls, units: list[str]) -> list[str]:
        # Only whitespace is normalised: dropping an empty unit would shift pred_supported out of step.
        return [" ".join(unit.split()) for unit in units]
