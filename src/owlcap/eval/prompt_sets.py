"""Prompt sets: the texts a benchmark's captioner and judge are given, loaded from a JSON file and hashed.

A prompt set is a JSON file in the layout of the official instrument files (``official_prompts.json``): ``official``
(and ``auto``, its old name) takes such a file beside the annotation files when there is one, else the exact official
texts shipped with owlcap (``owlcap/eval/<benchmark>/official_prompts.json``); a path names any file in the same
layout, and ``owlcap`` is owlcap's own set (the same instruments with the official typos and missing separators
fixed; answers are requested in the same formats, so the same parsers apply). A file is called ``official`` only
when its texts hash to the official ones; the report always names the set and its hash, so a number can be traced
to the exact texts.

Placeholders (``{CAPTION}``...) are filled by plain text insertion in one pass: the texts contain literal braces, so
``str.format`` would fail, and a caption that itself contains ``{QUESTION}`` must not be filled twice.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from owlcap.errors import ConfigError
from owlcap.hashing import json_digest
from owlcap.textio import read_user_text

logger = logging.getLogger(__name__)

OFFICIAL_FILE = "official_prompts.json"
OFFICIAL_SHA256 = {
    "vdc": "e0533e668ed526e489c7b4c463e64c421e5b68863d433eca54b08a26243d6c9e",
    "dream1k": "c974e9364ddb1eb110ada52f948e0b4ae87a77172e004fa1d97a53e284542673",
    "carebench": "8ddd861374d4fec19a0ccd446b206cc98d821b610abc2b839f2d832d38835b9a",
    "capability": "f3ea1f759587da4036693f40832b82f2c4d58f35e73e8145c4685e4926cda86e",
}
"""Hashes of the official instrument texts (the files shipped with owlcap): a prompt set with this hash is called
``official`` wherever it was found; an ``official_prompts.json`` with another hash is reported as modified."""
_PACKAGE_DIR = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{([A-Z_]+)\}")


@dataclass(frozen=True)
class PromptSet:
    """The loaded texts of one prompt set. ``sha256`` covers every text (keys starting with ``_`` are notes)."""

    name: str
    source: str
    texts: dict[str, Any]
    sha256: str

    def get(self, *path: str) -> Any:
        value: Any = self.texts
        for key in path:
            value = value[key]
        return value

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


def fill(template: str, **values: str) -> str:
    """Replace each ``{NAME}`` of ``template`` whose NAME is given, in one pass; other braces stay as they are."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, template)


def official_file(benchmark: str) -> Path:
    """The exact official texts of ``benchmark`` as shipped with owlcap (credited in ``owlcap/samples/CREDITS.md``)."""
    return _PACKAGE_DIR / benchmark / OFFICIAL_FILE


def load_prompt_set(
    choice: str, *, benchmark: str, search_dirs: list[Path], required: dict[tuple[str, ...], tuple[str, ...]]
) -> PromptSet:
    """Load ``choice`` (``official``/``auto``, ``owlcap`` or a path) for ``benchmark`` (a folder of owlcap.eval).

    ``required`` maps each text's key path to the placeholders it must contain; a file that lacks one raises
    ``ConfigError`` naming the file and the key. ``official`` is looked up in ``search_dirs`` first, then in the
    package.
    """
    owlcap_file = _PACKAGE_DIR / benchmark / "owlcap_prompts.json"
    if choice in ("auto", "official"):
        found = next((d / OFFICIAL_FILE for d in search_dirs if (d / OFFICIAL_FILE).is_file()), None)
        return _load(found or official_file(benchmark), "official", required, benchmark)
    if choice == "owlcap":
        return _load(owlcap_file, "owlcap", required, benchmark)
    path = Path(choice).expanduser()
    if not path.is_file():
        raise ConfigError(f"prompts: {choice!r} is neither official, owlcap nor an existing file")
    return _load(path, path.name, required, benchmark)


def _load(path: Path, name: str, required: dict[tuple[str, ...], tuple[str, ...]], benchmark: str) -> PromptSet:
    try:
        data = json.loads(read_user_text(path, what="prompts file"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"prompts: {path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"prompts: {path}: the top level must be an object")
    texts = {key: value for key, value in data.items() if not key.startswith("_")}
    for keys, placeholders in required.items():
        value: Any = texts
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                raise ConfigError(f"prompts: {path}: missing {'.'.join(keys)}")
            value = value[key]
        strings = value if isinstance(value, list) else [value]
        if not strings or not all(isinstance(s, str) and s for s in strings):
            raise ConfigError(f"prompts: {path}: {'.'.join(keys)} must be a non-empty string or list of strings")
        for placeholder in placeholders:
            if any(f"{{{placeholder}}}" not in s for s in strings):
                raise ConfigError(f"prompts: {path}: {'.'.join(keys)} lacks the placeholder {{{placeholder}}}")
    digest = json_digest(texts)
    if digest == OFFICIAL_SHA256.get(benchmark):
        name = "official"
    elif name == "official":
        name = f"{path.name} (modified)"
        logger.warning("prompts: %s differs from the official texts (sha256 %s); reported as modified", path, digest)
    return PromptSet(name=name, source=str(path), texts=texts, sha256=digest)
