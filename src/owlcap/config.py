"""Run configs: YAML files validated by pydantic, overridable from the command line.

``owlcap train sft configs/sft/tiny.yaml --learning_rate 1e-5 --model.name_or_path ./m`` loads the YAML, applies the
overrides (dotted keys reach nested sections; values are parsed as YAML scalars, so ``true``, ``3`` and ``[1, 2]``
mean what they look like) and validates the result. Any problem raises ``ConfigError`` naming the file, the field
and what to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from owlcap.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """Turn ``["--a.b", "1", "--flag=true"]`` into ``{"a": {"b": 1}, "flag": True}``."""
    overrides: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"override {arg!r}: expected --key value or --key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if index + 1 >= len(args) or args[index + 1].startswith("--"):
                raise ConfigError(f"override --{key}: missing value (write --{key} VALUE)")
            value = args[index + 1]
            index += 1
        index += 1
        key = key.replace("-", "_")
        try:
            parsed = yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override --{key}: value {value!r} is not valid YAML ({exc})") from exc
        _set_dotted(overrides, key, parsed)
    return overrides


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {dotted}: {part} is not a section")
    target[leaf] = value


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of field: value")
    return data


def validate_config(model: type[ConfigT], data: dict[str, Any], *, source: str = "config") -> ConfigT:
    """Validate ``data`` against ``model``; errors name each field, the problem and the given value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(top level)"
            given = f" (got {error['input']!r})" if error["type"] != "missing" and "input" in error else ""
            problems.append(f"  {field}: {error['msg']}{given}")
        raise ConfigError(f"{source}: invalid config\n" + "\n".join(problems)) from exc


def load_config(model: type[ConfigT], path: str | Path | None, overrides: list[str] | None = None) -> ConfigT:
    """Load ``path`` (or start from defaults when ``None``), apply CLI ``overrides`` and validate."""
    data = load_yaml(path) if path is not None else {}
    data = deep_merge(data, parse_overrides(overrides or []))
    return validate_config(model, data, source=str(path) if path is not None else "defaults")
