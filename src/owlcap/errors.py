"""The few named exceptions owlcap raises. Each message names the file or field and the cause."""

from __future__ import annotations

from pathlib import Path


class OwlcapError(Exception):
    """Base class of every error owlcap raises on purpose."""


class VideoDecodeError(OwlcapError):
    """A video could not be opened, probed or decoded (missing, not a video, truncated, limits exceeded)."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class DataError(OwlcapError):
    """A data file (JSONL manifest, HMD records, benchmark annotations) is malformed."""

    def __init__(self, path: str | Path, cause: str, line: int | None = None):
        self.path = str(path)
        self.line = line
        self.cause = cause
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {cause}")


class ConfigError(OwlcapError):
    """A config file or option is invalid; the message says which field and what to change."""


class ModelLoadError(OwlcapError):
    """A model or processor could not be loaded from a hub id or local path."""


class JudgeError(OwlcapError):
    """An LLM/MLLM call failed after its retries, or its answer could not be parsed after repair."""


class TrainingStopped(OwlcapError):
    """A training run stopped itself early (its judge failing, no learning signal); a checkpoint was saved."""


class DownloadError(OwlcapError):
    """A download failed: no network, an unknown repository, revision or file, a gated repository, a full disk."""
