"""Every environment variable owlcap reads, in one place, with its default.

| variable | default | meaning |
| --- | --- | --- |
| ``OWLCAP_API_KEY`` | unset | API key for ``openai:`` model specs; falls back to ``OPENAI_API_KEY``; never logged |
| ``OPENAI_API_KEY`` | unset | fallback API key |
| ``OWLCAP_CACHE_DIR`` | ``~/.cache/owlcap`` | on-disk caches (judge results, reference units) |
| ``OWLCAP_LOG_LEVEL`` | ``INFO`` | log level the CLI configures |
| ``OWLCAP_SAMPLES_DIR`` | see below | sample videos and annotations (tests, demo) |
| ``OWLCAP_DISABLE_PROGRESS`` | unset | set to 1 to hide progress bars (CI logs), transformers' and datasets' too |
| ``OWLCAP_DEBUG`` | unset | set to 1 to show the Python traceback of every error (as ``owlcap --debug``) |
| ``OWLCAP_SLOW_REQUEST_S`` | ``30`` | log once when a model request has had no answer for this many seconds |
| ``RANK`` | ``0`` | set by torchrun / accelerate; only rank 0 logs start-up lines |

Without ``OWLCAP_SAMPLES_DIR`` the samples are the first ``shared/samples`` folder beside the checkout or beside
one of its parent folders (the project keeps them at ``../shared/samples``).
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
    if "OWLCAP_SAMPLES_DIR" in os.environ:
        return Path(os.environ["OWLCAP_SAMPLES_DIR"]).expanduser()
    for folder in _REPO_ROOT.parents:
        candidate = folder / "shared" / "samples"
        if candidate.is_dir():
            return candidate
    return _REPO_ROOT.parent / "shared" / "samples"


def progress_disabled() -> bool:
    return _flag("OWLCAP_DISABLE_PROGRESS")


def debug() -> bool:
    return _flag("OWLCAP_DEBUG")


def slow_request_s() -> float:
    return float(os.environ.get("OWLCAP_SLOW_REQUEST_S", "30"))


def process_rank() -> int:
    """This process's global rank under torchrun / accelerate (0 when not distributed)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")
