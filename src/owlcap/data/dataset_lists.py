"""Dataset lists: one file naming several annotation files, each with a sampling share.

The released OwlCap GRPO run reads its data through such a list (``data_json/grpo_data_2k.json``), a JSON object
of named entries: ``{"tarsier_combine": {"annotation": "/data/GRPO_2K/*.jsonl", "repeat_time": 1, ...}}``. owlcap
reads the same object from ``.json`` or ``.yaml``/``.yml`` wherever it reads caption files (``data.train_files``):

* ``annotation``: a glob of JSONL/JSON caption files (sorted); a relative glob resolves against the list's folder.
* ``repeat_time`` (default 1): below 1, the first ``int(n * repeat_time)`` lines of each file; from 1 up, each file
  ``int(repeat_time)`` times over (1.5 counts once), as the released ``read_jsonldataset`` does.

The released entries' other keys (``root``, ``data_augment``, ``length``, ``task_weight``, ``batch_size``,
``num_workers``) are accepted and ignored, as the released GRPO code ignores them. A ``.json`` file holding a list
is an ordinary caption file, not a dataset list.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

from owlcap.errors import DataError
from owlcap.textio import read_user_text

LIST_SUFFIXES = frozenset({".yaml", ".yml"})


def expand_data_files(paths: list[Path]) -> list[tuple[Path, float]]:
    """Each caption file with its share (``repeat_time``); a dataset list is replaced by its entries' files."""
    expanded: list[tuple[Path, float]] = []
    for path in paths:
        listing = _read_list(path)
        if listing is None:
            expanded.append((path, 1.0))
            continue
        for name, entry in listing.items():
            expanded.extend(_entry_files(path, str(name), entry))
    return expanded


def take_share(items: list[Any], share: float) -> list[Any]:
    """The items a ``repeat_time`` of ``share`` selects: a leading fraction, or whole repeats."""
    if share < 1:
        return items[: int(len(items) * share)]
    return items * int(share)


def _read_list(path: Path) -> dict[str, Any] | None:
    """The list's entries, or ``None`` when ``path`` is an ordinary caption file."""
    suffix = path.suffix.lower()
    if suffix not in LIST_SUFFIXES and suffix != ".json":
        return None
    if not path.is_file():
        raise DataError(path, "no such file")
    text = read_user_text(path, what="dataset list", error=DataError)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON ({exc.msg})", exc.lineno) from exc
        if isinstance(data, list):
            return None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DataError(path, f"invalid YAML ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise DataError(
            path,
            "expected a list of caption objects (.json) or a dataset list: "
            '{"name": {"annotation": "files/*.jsonl", "repeat_time": 1}, ...}',
        )
    return data


def _entry_files(path: Path, name: str, entry: Any) -> list[tuple[Path, float]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("annotation"), str) or not entry["annotation"]:
        raise DataError(path, f"entry {name!r}: needs an 'annotation' glob string, e.g. data/*.jsonl")
    share = entry.get("repeat_time", 1)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or share <= 0:
        raise DataError(path, f"entry {name!r}: 'repeat_time' must be a number > 0, got {share!r}")
    pattern = Path(entry["annotation"]).expanduser()
    if not pattern.is_absolute():
        pattern = path.parent / pattern
    files = sorted(glob.glob(str(pattern)))
    if not files:
        raise DataError(path, f"entry {name!r}: annotation {entry['annotation']!r} matches no file ({pattern})")
    return [(Path(file), float(share)) for file in files]
