"""Run configs: YAML files validated by pydantic, overridable from the command line.

``owlcap train sft configs/sft/tiny.yaml --learning_rate 1e-5 --model.name_or_path ./m`` loads the YAML, applies the
overrides (dotted keys reach nested sections; values are parsed as YAML scalars, so ``true``, ``3`` and ``[1, 2]``
mean what they look like; a single value for a list field is a one-item list) and validates the result. Any problem
raises ``ConfigError`` naming the field, what to change, and whether the bad value came from the file or from the
command line.

Strings may use ``${samples}``: the sample data shipped with owlcap (``owlcap.envs.samples_dir()``, which
``OWLCAP_SAMPLES_DIR`` overrides), so a config that trains or evaluates on the samples runs from any folder, in a
clone or from an installed wheel. ``load_yaml`` expands it in every config owlcap reads (the training commands,
``owlcap data build --config``, ``owlcap caption --config``, ``owlcap eval``, and each stage of ``owlcap run``, which
adds ``${run_dir}``); other relative paths resolve against the working directory.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from owlcap import envs
from owlcap.errors import ConfigError

ConfigT = TypeVar("ConfigT", bound=BaseModel)
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


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


def config_variables(**extra: str) -> dict[str, str]:
    """The ``${name}`` placeholders every config may use (``samples``), plus ``extra`` (``run_dir`` in a pipeline)."""
    return {"samples": str(envs.samples_dir()), **extra}


def expand_placeholders(value: Any, variables: dict[str, str], *, where: str) -> Any:
    """Replace ``${name}`` in every string of ``value`` (mappings and lists walked); an unknown name, or a
    ``${samples}`` that is not a folder, is a ``ConfigError`` naming where it was."""
    if isinstance(value, dict):
        return {key: expand_placeholders(item, variables, where=f"{where}: {key}") for key, item in value.items()}
    if isinstance(value, list):
        return [expand_placeholders(item, variables, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    def _substitute(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            known = ", ".join(f"${{{n}}}" for n in variables)
            raise ConfigError(f"{where}: unknown placeholder ${{{name}}} (known: {known})")
        if name == "samples" and not Path(variables[name]).is_dir():
            raise ConfigError(
                f"{where}: ${{samples}} is {variables[name]}, which does not exist: unset OWLCAP_SAMPLES_DIR to use "
                "the sample data shipped with owlcap, or point it at a folder of the same layout (hmd/, vdc/, dream1k/)"
            )
        return variables[name]

    return _PLACEHOLDER.sub(_substitute, value)


def iter_strings(value: Any) -> Iterator[str]:
    """Every string in a loaded config (mappings and lists walked): the paths and model specs it names."""
    if isinstance(value, dict):
        for item in value.values():
            yield from iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_strings(item)
    elif isinstance(value, str):
        yield value


def load_yaml(path: str | Path, *, variables: dict[str, str] | None = None, expand: bool = True) -> dict[str, Any]:
    """The mapping in the YAML file ``path``, with ``${samples}`` (and any ``variables``) expanded; ``expand=False``
    leaves the placeholders for a caller that knows more of them later (``owlcap run`` and ``${run_dir}``)."""
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
    return expand_placeholders(data, config_variables(**(variables or {})), where=str(path)) if expand else data


def validate_config(
    model: type[ConfigT], data: dict[str, Any], *, source: str = "config", overrides: dict[str, Any] | None = None
) -> ConfigT:
    """Validate ``data`` against ``model``; errors name each field, the problem and the given value.

    A scalar given where the field takes a list becomes a one-item list (``--data.train_files x.jsonl``).
    ``overrides`` (the parsed command-line overrides already merged into ``data``) lets an error in a value that
    came from the command line say so, instead of blaming ``source``.
    """
    data = wrap_scalars_for_lists(model, data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        given_keys = _dotted_keys(overrides or {})
        problems, from_command_line = [], 0
        for error in exc.errors():
            loc = tuple(str(part) for part in error["loc"])
            field = ".".join(loc) or "(top level)"
            culprits = [key for key in given_keys if _overlaps(key, loc)]
            if culprits:
                from_command_line += 1
                field += " (command line: " + ", ".join(f"--{key}" for key in culprits) + ")"
            problems.append(f"  {field}: {describe_error(model, loc, error)}")
        if from_command_line == len(problems):
            header = f"invalid command-line override(s) (config: {source})"
        elif given_keys:
            header = f"{source}: invalid config (command-line overrides: {' '.join('--' + k for k in given_keys)})"
        else:
            header = f"{source}: invalid config"
        raise ConfigError(header + "\n" + "\n".join(problems)) from exc


def describe_error(model: type[BaseModel], loc: tuple[str, ...], error: dict[str, Any]) -> str:
    """One pydantic error of ``model`` at ``loc`` in words: an unknown field gets the closest known name."""
    if error["type"] == "extra_forbidden":
        names = _field_names(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], names, n=1) if loc else []
        hint = f"; did you mean {close[0]}?" if close else f"; known fields: {', '.join(names)}"
        return "unknown field" + hint
    message = error["msg"].removeprefix("Value error, ")
    shown = repr(error.get("input"))
    if error["type"] == "missing" or "input" not in error or len(shown) > 80:  # a whole section says nothing more
        return message
    return f"{message} (got {shown})"


def _field_names(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """The field names of the (nested) section at ``path`` of ``model``; empty when the path leaves the models."""
    section: Any = model
    for part in path:
        fields = getattr(section, "model_fields", {})
        if part not in fields:
            return []
        section = _model_in(fields[part].annotation)
    return sorted(getattr(section, "model_fields", {}))


def _dotted_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        keys.extend(_dotted_keys(value, dotted + ".") if isinstance(value, dict) and value else [dotted])
    return keys


def _overlaps(dotted: str, loc: tuple[str, ...]) -> bool:
    """True when the override ``dotted`` set the field at ``loc``, a section holding it, or a field inside it.
    A check of the whole config (empty ``loc``) is not blamed on any one override."""
    parts = tuple(dotted.split("."))
    shorter = min(len(parts), len(loc))
    return bool(loc) and parts[:shorter] == loc[:shorter]


def wrap_scalars_for_lists(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every scalar given for a list field (at any depth of nested sections) as a one-item list."""
    fields = getattr(model, "model_fields", {})
    wrapped = dict(data)
    for key, value in data.items():
        if key not in fields:
            continue
        annotation = fields[key].annotation
        if isinstance(value, (str, int, float, bool)) and _is_list_type(annotation):
            wrapped[key] = [value]
        elif isinstance(value, dict) and (section := _model_in(annotation)) is not None:
            wrapped[key] = wrap_scalars_for_lists(section, value)
    return wrapped


def _is_list_type(annotation: Any) -> bool:
    """A list (``list[str]``, ``list[str] | None``), and nothing a scalar could be as it is (``list[str] | str``)."""
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    if typing.get_origin(annotation) in _UNIONS:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return bool(options) and all(_is_list_type(arg) for arg in options)
    return False


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation names (``Section`` or ``Section | None``), else ``None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in _UNIONS:
        for arg in typing.get_args(annotation):
            if (found := _model_in(arg)) is not None:
                return found
    return None


_UNIONS = (typing.Union, types.UnionType)


def load_config(model: type[ConfigT], path: str | Path | None, overrides: list[str] | None = None) -> ConfigT:
    """Load ``path`` (or start from defaults when ``None``), apply CLI ``overrides`` and validate."""
    data = load_yaml(path) if path is not None else {}
    parsed = expand_placeholders(parse_overrides(overrides or []), config_variables(), where="command line")
    source = str(path) if path is not None else "defaults"
    return validate_config(model, deep_merge(data, parsed), source=source, overrides=parsed)
