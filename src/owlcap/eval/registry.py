"""The benchmarks owlcap evaluates, by name: where each one's modules live, its entry point and default preset.

Re-scoring (``owlcap eval report``), comparison and ``owlcap run``'s eval stage look a run's benchmark up here
instead of branching on its name. Modules load on first use, so nothing heavy is imported with this file.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from owlcap.errors import ConfigError


@dataclass(frozen=True)
class Benchmark:
    """One benchmark folder of ``owlcap.eval``: ``<package>.config`` (``PRESETS``, ``scoring_for``, the run
    config), ``<package>.report`` (``build_report``, ``markdown``, ``plot``) and ``<package>.runner``."""

    name: str
    title: str
    package: str
    config_class: str
    entry_point: str
    default_preset: str

    def module(self, part: str) -> ModuleType:
        return importlib.import_module(f"{self.package}.{part}")

    def config_model(self) -> type:
        return getattr(self.module("config"), self.config_class)

    def evaluate(self, config: Any) -> Any:
        return getattr(self.module("runner"), self.entry_point)(config)


BENCHMARKS = {
    "vdc": Benchmark("vdc", "VDC", "owlcap.eval.vdc", "VDCEvalConfig", "evaluate_vdc", "auroracap"),
    "dream1k": Benchmark(
        "dream1k", "DREAM-1K", "owlcap.eval.dream1k", "DreamEvalConfig", "evaluate_dream1k", "tarsier"
    ),
    "carebench": Benchmark(
        "carebench", "CaReBench", "owlcap.eval.carebench", "CareEvalConfig", "evaluate_carebench", "care"
    ),
    "capability": Benchmark(
        "capability", "CAPability", "owlcap.eval.capability", "CapEvalConfig", "evaluate_capability", "capability"
    ),
}


def benchmark(name: str) -> Benchmark:
    """The benchmark named ``name``; ``ConfigError`` naming the known ones otherwise."""
    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; owlcap evaluates {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
