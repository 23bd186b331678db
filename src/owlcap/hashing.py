"""Stable digests: of JSON-able values (cache keys, fingerprints, input hashes) and of files (streamed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def json_digest(value: Any, length: int | None = None) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys; non-JSON values by ``str``); the first ``length`` hex
    characters, or all 64."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def file_digest(path: str | Path, length: int | None = None) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks; the first ``length`` hex characters, or all 64."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
