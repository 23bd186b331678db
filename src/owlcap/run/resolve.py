"""From the pipeline YAML to each stage's validated config, with errors that say stage, file and field.

The pipeline file is loaded with ``owlcap.config`` (YAML + ``--key value`` overrides), ``${samples}`` and
``${run_dir}`` are expanded, and it is validated as a :class:`~owlcap.run.config.PipelineConfig`. Each stage's own
config is then loaded (a path or an inline mapping), its ``overrides`` merged in, the fields the pipeline owns set,
and the result validated with the stage's own pydantic model. A validation error names the stage and, for every
bad field, where its value came from: the command line, the stage's ``overrides``, or the stage's config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from owlcap.config import (
    config_variables,
    deep_merge,
    describe_error,
    expand_placeholders,
    load_yaml,
    parse_overrides,
    validate_config,
    wrap_scalars_for_lists,
)
from owlcap.errors import ConfigError
from owlcap.run.config import PipelineConfig, StageSection

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass
class PipelineSource:
    """A validated pipeline config and where it came from (for messages and fingerprints)."""

    config: PipelineConfig
    path: str
    cli_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    def origin(self, dotted: str) -> str:
        """Where a pipeline field (``caption.videos[0]``) was set: the command line or the pipeline file."""
        path = dotted.replace("[", ".").replace("]", "").split(".")
        for depth in range(len(path), 0, -1):
            if _lookup(self.cli_overrides, path[:depth]) is not _MISSING:
                return f"command line --{'.'.join(path[:depth])}"
        return self.path


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineSource:
    """Load, override, expand and validate a pipeline config file; any problem is a ``ConfigError``."""
    data = load_yaml(path, expand=False)  # ${run_dir} is known once the command line has had its say
    cli = parse_overrides(overrides or [])
    data = deep_merge(data, cli)
    run_dir = data.get("run_dir")
    if isinstance(run_dir, str):
        data["run_dir"] = expand_placeholders(run_dir, config_variables(), where=f"{path}: run_dir")
    data = expand_placeholders(data, config_variables(run_dir=str(data.get("run_dir", ""))), where=str(path))
    config = validate_config(PipelineConfig, data, source=str(path), overrides=cli)
    return PipelineSource(config, str(path), cli)


@dataclass
class StageConfigSource:
    """A stage's config as a dict, before the pipeline's own fields are set, and where each part came from."""

    stage: str
    data: dict[str, Any]
    file: str | None  # the stage config file, None when inline
    overrides: dict[str, Any]
    cli: dict[str, Any]  # the command line's part of this stage's section: {"config": {...}, "overrides": {...}}
    pipeline_path: str

    def describe(self) -> str:
        inline = f"{self.pipeline_path} ({self.stage}.config)"
        return f"stage config {self.file}" if self.file else inline

    def origin(self, dotted: str) -> str:
        """Where the field ``dotted`` (``data.train_files.0``) was set."""
        return _origin(dotted.replace("[", ".").replace("]", "").split("."), self)


def stage_source(source: PipelineSource, stage: str, section: StageSection, run_dir: Path) -> StageConfigSource:
    """Load ``section.config`` (path or inline) and merge ``section.overrides`` into it. ``stage`` is the section's
    dotted place in the pipeline config (``sft``, ``eval.vdc``)."""
    file = None
    if isinstance(section.config, str):
        file = section.config
        try:
            base = load_yaml(file, variables={"run_dir": str(run_dir)})
        except ConfigError as exc:
            raise ConfigError(f"stage {stage}: {stage}.config in {source.path}: {exc}") from exc
    else:
        base = dict(section.config)
    cli = _lookup(source.cli_overrides, stage.split("."))
    cli = cli if isinstance(cli, dict) else {}
    return StageConfigSource(stage, deep_merge(base, section.overrides), file, section.overrides, cli, source.path)


def own_fields(config: StageConfigSource, owned: dict[str, Any]) -> dict[str, Any]:
    """Set the dotted fields the pipeline owns (``output_dir``, ``model.name_or_path`` ...) on the stage's dict.

    The stage's config file may set them (it is also used on its own); its ``overrides`` may not.
    """
    data = config.data
    for dotted, value in owned.items():
        if _lookup(config.overrides, dotted.split(".")) is not _MISSING:
            where = _origin(dotted.split("."), config)
            raise ConfigError(
                f"stage {config.stage}: {config.stage}.overrides.{dotted} ({where}): the pipeline sets this field "
                f"({value}); remove it"
            )
        *parents, leaf = dotted.split(".")
        target = data
        for part in parents:
            nested = target.get(part)
            target[part] = dict(nested) if isinstance(nested, dict) else {}
            target = target[part]
        target[leaf] = value
    return data


def validate_stage(model: type[ModelT], config: StageConfigSource) -> ModelT:
    """Validate a stage's dict; every error line names the field and where its value came from.

    A scalar given where the field takes a list is a one-item list, as on the training commands' command line."""
    try:
        return model.model_validate(wrap_scalars_for_lists(model, config.data))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            name = ".".join(loc) or "(top level)"
            problems.append(f"  {name}: {describe_error(model, tuple(loc), error)} [{_origin(loc, config)}]")
        raise ConfigError(f"stage {config.stage}: invalid config\n" + "\n".join(problems)) from exc


def _origin(loc: list[str], config: StageConfigSource) -> str:
    """Where the value at ``loc`` was set: the command line, the stage's overrides, or its config."""
    for depth in range(len(loc), 0, -1):
        prefix = loc[:depth]
        for part in ("overrides", "config"):
            if _lookup(config.cli, [part, *prefix]) is not _MISSING:
                return f"command line --{config.stage}.{part}.{'.'.join(prefix)}"
        if _lookup(config.overrides, prefix) is not _MISSING:
            return f"{config.stage}.overrides in {config.pipeline_path}"
    return config.describe()


_MISSING = object()


def _lookup(data: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data
