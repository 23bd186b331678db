"""Every environment variable owlcap reads, in one place, with its default.

| variable | default | meaning |
| --- | --- | --- |
| ``OWLCAP_API_KEY`` | unset | API key for ``openai:`` model specs; falls back to ``OPENAI_API_KEY``; never logged |
| ``OPENAI_API_KEY`` | unset | fallback API key |
| ``OWLCAP_CACHE_DIR`` | ``~/.cache/owlcap`` | on-disk caches (judge results, reference units) |
| ``OWLCAP_LOG_LEVEL`` | ``INFO`` | log level the CLI configures |
| ``OWLCAP_SAMPLES_DIR`` | ``<repo>/../shared/samples`` | where the sample videos and annotations live (tests, demo) |
| ``OWLCAP_DISABLE_PROGRESS`` | unset | set to 1 to hide progress bars (CI logs) |
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]


def api_key() -> str | None:
    return os.environ.get("OWLCAP_API_KEY") or os.environ.get("OPENAI_API_KEY")


def cache_dir() -> Path:
    return Path(os.environ.get("OWLCAP_CACHE_DIR", Path.home() / ".cache" / "owlcap")).expanduser()


def log_level() -> str:
    return os.environ.get("OWLCAP_LOG_LEVEL", "INFO").upper()


def samples_dir() -> Path:
    return Path(os.environ.get("OWLCAP_SAMPLES_DIR", _REPO_ROOT.parent / "shared" / "samples")).expanduser()


def progress_disabled() -> bool:
    return os.environ.get("OWLCAP_DISABLE_PROGRESS", "") not in ("", "0", "false")
