"""The record an HMD build writes for every video (``records.jsonl``), versioned, extending ``HMDRecord``.

Every record has a ``status``: ``kept`` (unit accuracy >= threshold; it also goes to ``hmd.jsonl``), ``rejected``
(below the threshold, with the units that failed) or ``failed`` (a stage could not finish: a video that does not
decode, a judge that never answered or never gave a valid answer; ``failure`` says which stage and why). A judge
failure is never a "no": it fails the record, it does not reject it. Failed records carry ``error`` too, the field
``owlcap.jsonl.done_ids`` reads, so a re-run retries them.

The provenance of each stage is in ``stages``: the model spec, prompt version, request options, where the answer
came from (the model, the LLM cache, the input manifest, or a previous run's record), wall time, requests and
tokens. ``mdf_fingerprint`` / ``fge_fingerprint`` are digests of everything the stage outputs depend on; a re-run
whose settings or inputs give other fingerprints rebuilds the record (reusing the MDF captions when only FGE
settings changed).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from owlcap.data.records import HMDRecord, UnitVerdict

SCHEMA_VERSION = "owlcap.data.build/1"

Status = Literal["kept", "rejected", "failed"]
StageName = Literal["decode", "motion", "fusion", "splitter", "verifier", "worker"]
"""The stages of a record; ``worker`` is a crash outside them (a Ray actor that died, an owlcap bug)."""


class StageRun(BaseModel):
    """How one stage produced its output for one record."""

    model_config = ConfigDict(extra="allow")

    model: str | None = Field(None, description="Model spec that answered (None for decoding).")
    prompt_version: str | None = Field(None, description="Version of the stage's prompt (part of the cache key).")
    options: dict[str, Any] = Field(default_factory=dict, description="Request options: temperature, max_tokens...")
    source: Literal["model", "cache", "manifest", "previous"] | None = Field(
        None,
        description="model: answered now; cache: LLM cache; manifest: the input carried it; previous: an earlier "
        "run's record with the same MDF fingerprint. None for decoding.",
    )
    seconds: float = Field(
        0.0, ge=0, description="Time in the stage's calls for this record, queueing included (summed over requests)."
    )
    requests: int = Field(0, ge=0, description="Requests sent (retries and repair rounds included).")
    cache_hits: int = Field(0, ge=0, description="Answers served from the LLM cache.")
    prompt_tokens: int = Field(0, ge=0, description="Prompt tokens the server reported (0 when it does not).")
    completion_tokens: int = Field(0, ge=0, description="Completion tokens the server reported.")


class Failure(BaseModel):
    """Why a record failed: the stage, a short cause category (for counting) and the full message."""

    model_config = ConfigDict(extra="allow")

    stage: StageName
    kind: str = Field(
        description="Short cause, e.g. 'missing file', 'truncated', 'connection error', 'invalid answer'."
    )
    message: str = Field(description="The error as raised, naming the file or the model.")


class BuildRecord(HMDRecord):
    """One video's outcome: HMDRecord's fields (the caption is the fused caption) plus status and provenance."""

    schema_version: str = Field(SCHEMA_VERSION, description="Version of this record layout.")
    caption: str | None = Field(  # type: ignore[assignment]
        None, description="The fused caption (the training caption of a kept record); None when the record failed."
    )
    status: Status = Field(description="kept, rejected or failed.")
    kept: bool = Field(description="True when the record is in hmd.jsonl.")
    rejection_reason: str | None = Field(None, description="Why a rejected record was not kept.")
    threshold: float | None = Field(None, description="The unit-accuracy threshold this record was judged by.")
    verify_mode: str | None = Field(None, description="structured or per_unit.")
    probe: dict[str, Any] | None = Field(None, description="The video: duration, fps, frames, size, codec, rotation.")
    sampling: dict[str, Any] | None = Field(None, description="Frame-sampling settings used (trims applied).")
    frames: dict[str, Any] | None = Field(None, description="Frames sampled: count, size, timestamps, sample_fps.")
    stages: dict[str, StageRun] = Field(default_factory=dict, description="Provenance of each stage that ran.")
    failure: Failure | None = Field(None, description="Why the record failed (status 'failed').")
    error: str | None = Field(None, description="'<stage>: <message>' for failed records (read by resume).")
    seconds: float = Field(0.0, ge=0, description="Wall time of the whole record.")
    video_key: str | None = Field(None, description="The video's cache identity: path, size, mtime, trims, sampling.")
    mdf_fingerprint: str | None = Field(None, description="Digest of what the MDF outputs depend on.")
    fge_fingerprint: str | None = Field(None, description="Digest of what the FGE outcome depends on.")

    def hmd(self) -> dict[str, Any]:
        """The ``hmd.jsonl`` line: HMDRecord's fields only (what SFT and GRPO read), no provenance noise."""
        fields = set(HMDRecord.model_fields)
        data = self.model_dump(mode="json", include=fields, exclude_none=True)
        return data


def unit_verdicts(units: list[str], verdicts: list[bool | None], p_yes: list[float | None] | None = None) -> list:
    """``UnitVerdict`` objects for parallel lists of units, verdicts and (optionally) yes-probabilities."""
    out = []
    for index, (unit, supported) in enumerate(zip(units, verdicts, strict=True)):
        extra = {}
        if p_yes is not None and p_yes[index] is not None:
            extra["p_yes"] = round(float(p_yes[index]), 6)  # UnitVerdict keeps extra fields
        out.append(UnitVerdict(unit=unit, supported=supported, **extra))
    return out
