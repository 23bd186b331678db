"""Every environment variable owlcap reads, in one place, with its default.

| variable | default | meaning |
| --- | --- | --- |
| ``OWLCAP_API_KEY`` | unset | API key for ``openai:`` model specs; falls back to ``OPENAI_API_KEY``; never logged |
| ``OPENAI_API_KEY`` | unset | fallback API key |
| ``OWLCAP_CACHE_DIR`` | ``~/.cache/owlcap`` | on-disk caches (judge results, reference units) |
| ``OWLCAP_LOG_LEVEL`` | ``INFO`` | log level the CLI configures |
| ``OWLCAP_SAMPLES_DIR`` | the package's ``owlcap/samples`` | sample videos and annotations (quickstart, demos, tests) |
| ``OWLCAP_BENCHMARKS_DIR`` | unset | the full official benchmark files (``vdc/``, ``dream1k/``); tests only |
| ``OWLCAP_DISABLE_PROGRESS`` | unset | set to 1 to hide progress bars (CI logs), transformers' and datasets' too |
| ``OWLCAP_DEBUG`` | unset | set to 1 to show the Python traceback of every error (as ``owlcap --debug``) |
| ``OWLCAP_SLOW_REQUEST_S`` | ``30`` | log once when a model request has had no answer for this many seconds |
| ``RANK`` | ``0`` | set by torchrun / accelerate; only rank 0 logs start-up lines |

The sample data ships inside the package (``owlcap/samples``, credited in its ``CREDITS.md``), so a wheel installed
anywhere has it; ``OWLCAP_SAMPLES_DIR`` points owlcap at another folder of the same layout.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def api_key() -> str | None:
    return os.environ.get("OWLCAP_API_KEY") or os.environ.get("OPENAI_API_KEY")


def cache_dir() -> Path:
    return Path(os.environ.get("OWLCAP_CACHE_DIR", Path.home() / ".cache" / "owlcap")).expanduser()


def log_level() -> str:
    return os.environ.get("OWLCAP_LOG_LEVEL", "INFO").upper()


def samples_dir() -> Path:
    if os.environ.get("OWLCAP_SAMPLES_DIR"):
        return Path(os.environ["OWLCAP_SAMPLES_DIR"]).expanduser()
    return _PACKAGE_DIR / "samples"


def benchmarks_dir() -> Path | None:
    """The folder of the full official benchmark files, when ``OWLCAP_BENCHMARKS_DIR`` names one."""
    value = os.environ.get("OWLCAP_BENCHMARKS_DIR", "").strip()
    return Path(value).expanduser() if value else None


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
