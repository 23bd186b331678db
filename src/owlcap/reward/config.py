"""Configs of the rewards: ``CSERConfig`` and ``LengthRewardConfig``. Defaults reproduce the paper."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from owlcap.textio import read_user_text


class CSERConfig(BaseModel):
    """How the Caption Set Equivalence Reward is computed and combined."""

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["fused", "separate", "official"] = Field(
        "fused",
        description="fused: one judge request per prediction against the cached reference units (fastest); "
        "separate: decompose and verify in three smaller requests; official: the released OwlCap request that "
        "splits both captions anew each time, run one prediction at a time (for comparison).",
    )
    criterion: Literal["coverage", "conflict"] = Field(
        "coverage",
        description="fused and separate protocols: when a unit is 'no'. coverage (the paper's 'supported' / "
        "'covered'): the other caption contradicts it or does not mention it. conflict (the released judge prompt's "
        "rule): only a contradiction, so an unmentioned unit is 'yes'. Scores under the two are not comparable. The "
        "official protocol always uses its prompt's own (conflict) rule.",
    )
    combine: Literal["sum", "f1"] = Field(
        "sum",
        description="reward = correctness_weight*correctness + completeness_weight*completeness (sum; paper with "
        "weights 1, range 0-2) or the F1 of the two (range 0-1).",
    )
    correctness_weight: float = Field(1.0, ge=0, description="Weight of correctness in the sum (paper: 1).")
    completeness_weight: float = Field(1.0, ge=0, description="Weight of completeness in the sum (paper: 1).")
    reference_cache_size: int = Field(
        4096, ge=1, description="Reference captions whose units are kept in memory (least recently used dropped)."
    )
    official_thinking: bool = Field(
        True,
        description="official protocol: let Qwen3 think first. The released code posted its chat_template_kwargs "
        "inside a literal 'extra_body' JSON field, which servers do not read, so its judge ran with thinking on.",
    )
    official_prompt_file: Path | None = Field(
        None,
        description="official protocol: a text file with another prompt template to use instead of the released "
        "one (shipped with owlcap, exact); it must contain {prediction} and {reference}.",
    )
    official_sequential: bool = Field(
        True, description="official protocol: judge a group one prediction at a time, as the released code does."
    )
    official_temperature: float = Field(
        0.7, ge=0, le=2, description="official protocol: judge sampling temperature (released: 0.7)."
    )
    official_max_tokens: int = Field(8192, ge=1, description="official protocol: most judge tokens (released: 8192).")
    official_top_k: int | None = Field(
        None,
        ge=1,
        description="official protocol: top-k sent to the judge; null = not sent, as released (vLLM >= 0.8 then takes "
        "the judge's generation_config.json value: 20 for Qwen3-32B).",
    )
    official_top_p: float | None = Field(
        None,
        gt=0,
        le=1,
        description="official protocol: top-p sent to the judge (vLLM/SGLang field); null = not sent, as released "
        "(vLLM >= 0.8 then takes the judge's generation_config.json value: 0.95 for Qwen3-32B).",
    )
    official_unparsable: Literal["unscored", "zero"] = Field(
        "unscored",
        description="official protocol: an answer that cannot be read. unscored (owlcap): a repair round, then a "
        "judge failure (no reward, no advantage). zero (released): read the answer as the released parser does, "
        "with no repair, and score what it cannot read (and, with official_thinking, an answer without </think>) "
        "as CSER 0; the completion keeps its length reward. Counted as cser/unparsable.",
    )
    official_afresh: bool = Field(
        False,
        description="official protocol: judge every completion with its own request, identical ones too, never "
        "from the result cache (released). false (owlcap): identical predictions of a group share one judgement "
        "and answers are cached.",
    )
    official_on_error: Literal["unscored", "stop"] = Field(
        "unscored",
        description="official protocol: a judge failure (a request failed after reward.llm.max_retries, or an "
        "answer still unusable after repair). unscored (owlcap): that completion gets no reward and training goes "
        "on. stop (released: requests' raise_for_status ends the run): raise JudgeError and stop training.",
    )

    @field_validator("official_prompt_file")
    @classmethod
    def _prompt_file_exists(cls, path: Path | None) -> Path | None:
        if path is None:
            return None
        if not path.is_file():
            raise ValueError(f"{path}: no such file; give the path of a prompt template or leave it unset")
        text = read_user_text(path, what="prompt template", error=ValueError)
        if "{prediction}" not in text or "{reference}" not in text:
            raise ValueError(f"{path}: the template must contain both {{prediction}} and {{reference}}")
        return path

    @model_validator(mode="after")
    def _check(self) -> CSERConfig:
        if self.combine == "sum" and self.correctness_weight == 0 and self.completeness_weight == 0:
            raise ValueError(
                "both weights are 0, so every reward would be 0; set correctness_weight or completeness_weight above 0"
            )
        return self


class LengthTier(BaseModel):
    """Captions of ``min_words``..``max_words`` English words (inclusive) get ``value``."""

    model_config = ConfigDict(extra="forbid")

    min_words: int = Field(ge=0, description="Fewest words of the tier (inclusive).")
    max_words: int = Field(ge=0, description="Most words of the tier (inclusive).")
    value: float = Field(description="Reward of a caption in this tier.")

    @model_validator(mode="after")
    def _check(self) -> LengthTier:
        if self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) is below min_words ({self.min_words}); swap them")
        return self


class LengthRewardConfig(BaseModel):
    """The paper's length reward: 100-300 words → 1.0, 300-400 → 0.5, anything else (empty text too) → 0.2.

    Tiers are tried in order and the first match wins (so 300 words scores 1.0, as in the released code).
    """

    model_config = ConfigDict(extra="forbid")

    tiers: list[LengthTier] = Field(
        default_factory=lambda: [
            LengthTier(min_words=100, max_words=300, value=1.0),
            LengthTier(min_words=300, max_words=400, value=0.5),
        ],
        description="Word-count ranges and their rewards, tried in order.",
    )
    otherwise: float = Field(0.2, description="Reward of a caption outside every tier, including an empty one.")
