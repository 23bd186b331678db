"""What CSER returns for one prediction: the scores and every unit with its verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from owlcap.reward.config import CSERConfig


@dataclass(frozen=True)
class UnitVerdict:
    """One unit and its verdict: for a prediction unit, supported by the reference; for a reference unit, covered
    by the prediction."""

    text: str
    supported: bool


@dataclass
class CSERResult:
    """Scores of one prediction. When ``failed`` every score is ``None`` and ``error`` says why: a judge failure is
    never a score of 0."""

    correctness: float | None
    """Share of the prediction's units supported by the whole reference."""
    completeness: float | None
    """Share of the reference's units covered by the whole prediction."""
    cser: float | None
    """correctness + completeness (paper, 0-2)."""
    f1: float | None
    """Harmonic mean of correctness and completeness (0-1)."""
    reward: float | None
    """The configured combination (``CSERConfig.combine``); what the TRL reward function returns."""
    pred_units: list[UnitVerdict] = field(default_factory=list)
    ref_units: list[UnitVerdict] = field(default_factory=list)
    protocol: str = "fused"
    failed: bool = False
    error: str | None = None
    latency_s: float = 0.0
    unparsable: str | None = None
    """Why the judge's answer could not be read, when ``official_unparsable: zero`` scored it 0 (as released)."""

    @classmethod
    def scored(
        cls,
        pred_units: list[UnitVerdict],
        ref_units: list[UnitVerdict],
        config: CSERConfig,
        *,
        correctness: float | None = None,
        completeness: float | None = None,
    ) -> CSERResult:
        """Scores from the verdicts (or given ratios, for the official protocol's rounding). No units: 0.0."""
        if correctness is None:
            correctness = _share(pred_units)
        if completeness is None:
            completeness = _share(ref_units)
        total = correctness + completeness
        f1 = 2 * correctness * completeness / total if total > 0 else 0.0
        if config.combine == "f1":
            reward = f1
        else:
            reward = config.correctness_weight * correctness + config.completeness_weight * completeness
        return cls(correctness, completeness, total, f1, reward, pred_units, ref_units, protocol=config.protocol)

    @classmethod
    def failure(cls, error: str, protocol: str) -> CSERResult:
        return cls(None, None, None, None, None, protocol=protocol, failed=True, error=error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(units: list[UnitVerdict]) -> float:
    return sum(unit.supported for unit in units) / len(units) if units else 0.0
