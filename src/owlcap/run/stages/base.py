"""What every stage of the pipeline provides, and where each stage's outputs live in the run directory.

A stage is two functions: ``resolve`` turns the pipeline config into the stage's own validated config (plus the
files it reads and the upstream stages whose outputs it uses: both go into its fingerprint), and ``run`` does the
work through the stage's public entry point and returns a JSON-able summary (kept in ``stage.json`` and shown in
the report). Adding a stage is one module with these two functions plus a section in
:class:`~owlcap.run.config.PipelineConfig`. A stage whose own entry point reconciles its outputs with changed
settings (the HMD build: records carry their own fingerprints) may say so with ``keep_outputs``, so a changed
config does not throw its finished work away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from owlcap.run.resolve import PipelineSource


@dataclass(frozen=True)
class Layout:
    """Fixed places of each stage's outputs, so a stage finds its upstream's without asking it."""

    run_dir: Path

    def stage_dir(self, stage: str) -> Path:
        return self.run_dir / stage

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def hmd_records(self) -> Path:
        """The data stage's kept records: what SFT and GRPO train on."""
        return self.run_dir / "data" / "hmd.jsonl"

    @property
    def data_preview(self) -> Path:
        return self.run_dir / "data" / "preview"

    @property
    def sft_model(self) -> Path:
        return self.run_dir / "sft" / "model"

    @property
    def dpo_pairs(self) -> Path:
        """The preference pairs the DPO stage builds (``owlcap data pairs``' output folder) and trains on."""
        return self.run_dir / "dpo" / "pairs"

    @property
    def dpo_model(self) -> Path:
        return self.run_dir / "dpo" / "model"

    @property
    def grpo_model(self) -> Path:
        return self.run_dir / "grpo" / "model"

    def captions(self, model: str) -> Path:
        return self.run_dir / "caption" / f"{model}.jsonl"

    @property
    def eval_dir(self) -> Path:
        return self.run_dir / "eval"

    def benchmark_run(self, benchmark: str, source: str) -> Path:
        """One benchmark evaluation's folder: RUN_DIR/eval/<benchmark>/<caption source>."""
        return self.run_dir / "eval" / benchmark / source

    @property
    def report_dir(self) -> Path:
        return self.run_dir / "report"


@dataclass
class ResolvedStage:
    """A stage ready to run: its validated config, what it reads, and which stages it follows."""

    name: str
    config: BaseModel
    source: str  # where the config came from, for messages ("stage config configs/sft/x.yaml", ...)
    inputs: dict[str, str] = field(default_factory=dict)  # field -> file/folder the config names (fingerprinted)
    upstream: list[str] = field(default_factory=list)  # stages whose outputs it reads
    extra: dict[str, Any] = field(default_factory=dict)  # other fingerprinted facts (e.g. the base model)
    origin: Callable[[str], str] | None = None  # where a config field was set (for messages)
    dump: Callable[[Any], dict[str, Any]] | None = None  # config -> data for RUN_DIR/<stage>/config.yaml

    def where(self, name: str) -> str:
        return self.origin(name) if self.origin else self.source


@dataclass
class RunContext:
    """What a stage's ``run`` gets besides its own config."""

    pipeline: PipelineSource
    layout: Layout
    base_model: str  # hub id or local path of the base model (built first when it is a tiny model)
    resuming: bool  # True when this stage was interrupted before and continues in place
    records: dict[str, Any]  # finished upstream stages' StageRecords, by name


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its name, how it resolves its config, and how it runs."""

    name: str
    resolve: Callable[[PipelineSource, Layout], ResolvedStage]
    run: Callable[[ResolvedStage, RunContext], dict[str, Any]]
    describe: str  # one line for logs and the report
    keep_outputs: Callable[[ResolvedStage, PipelineSource, Layout], bool] | None = None
    """Asked when the stage reruns with a changed fingerprint (not ``--from``/``--only``): True keeps its folder,
    for an entry point that redoes only what the change touches. None: the folder is emptied."""
