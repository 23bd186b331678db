"""A training run's directory: what made it, whether it is finished, and what a re-run of the command does to it.

``output_dir`` of an SFT or GRPO run holds::

    owlcap_config.yaml      the resolved run config (every field, defaults included), itself a runnable config:
                            ``owlcap train <recipe> OUTPUT_DIR/owlcap_config.yaml`` runs the same run again
    metrics.jsonl           one JSON line per logged step (owlcap.train.callbacks.MetricsFileCallback)
    checkpoint-N/           resumable checkpoints (save_steps)
    <recipe>_result.json    the run's summary (sft_result.json, grpo_result.json), written last: the run finished
    model + processor, README.md (the model card), runs/ (TensorBoard)

:func:`plan_run` decides, before any model is loaded, what running the command again means:

* the result file is there and the config asks for the same run: it is **finished**; nothing is trained or written;
* a checkpoint is there: **resume** it, unless the model, tuning or data differ from the recorded config, which is
  refused with the differences (resuming full-tuning weights into a LoRA run, or another model's, cannot work);
  other fields may change (``max_steps`` to train further, a judge URL, logging);
* otherwise a **fresh** run: a stale ``metrics.jsonl`` and result file of an earlier run are removed.

:func:`start_run` then writes the config (rank 0) and trims ``metrics.jsonl`` to the resumed step, so a step logged
before a crash is not listed twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from owlcap import __version__
from owlcap.errors import ConfigError
from owlcap.jsonl import write_text_atomic
from owlcap.train.checkpoints import resolve_resume
from owlcap.train.run_config import TrainRunConfig

logger = logging.getLogger(__name__)

CONFIG_FILE = "owlcap_config.yaml"
_RECIPE_LINE = "# owlcap recipe: "
METRICS_FILE = "metrics.jsonl"

# What a checkpoint was trained on: a resume that changes one of these is refused. Other fields may change.
_MODEL_IDENTITY = ("name_or_path", "tuning", "freeze_vision_tower", "freeze_projector")
_DATA_RUNTIME = frozenset({"num_workers", "decode_workers", "check_files"})  # how, not what, the data is read
# ...and, with those, the fields that fix where training ends: the same values and a result file mean "finished".
_LENGTH = ("max_steps", "num_train_epochs", "per_device_train_batch_size", "gradient_accumulation_steps")


def result_path(output_dir: str | Path, recipe: str) -> Path:
    return Path(output_dir) / f"{recipe}_result.json"


@dataclass(frozen=True)
class RunPlan:
    """What a run will do: ``finished`` holds the recorded result (train nothing), else resume from ``resume``
    (a checkpoint folder) or start fresh (``None``)."""

    recipe: str
    output_dir: Path
    resume: str | None
    finished: dict[str, Any] | None = None


def plan_run(config: TrainRunConfig, recipe: str) -> RunPlan:
    """Decide, from ``output_dir`` alone, whether this run is finished, resumes, or starts fresh (see the module
    docstring). Raises ``ConfigError`` for a resume into a run with another model, tuning or data."""
    output = Path(config.output_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output_dir {output}: is a file; name a folder")
    record = read_run_record(output)
    current = config.model_dump(mode="json")
    done = result_path(output, recipe)
    if config.resume_from_checkpoint is not None and done.is_file() and record is not None:
        recorded = record["config"]
        if not _differences(recorded, current, _identity_fields(recorded) + list(_LENGTH)):
            return RunPlan(recipe, output, None, finished=_read_result(done))
    resume = resolve_resume(config)
    if resume is not None:
        owner = read_run_record(Path(resume).parent)
        if owner is not None:
            if owner["recipe"] != recipe:
                raise ConfigError(
                    f"{resume} is a checkpoint of a {owner['recipe']} run, not of {recipe}: use another output_dir "
                    f"(and {owner['recipe']}'s output_dir as model.name_or_path)"
                )
            recorded = owner["config"]
            differences = _differences(recorded, current, _identity_fields(recorded) + _identity_fields(current))
            if differences:
                lines = "\n".join(f"  {field}: {old!r} -> {new!r}" for field, old, new in differences)
                raise ConfigError(
                    f"{resume} was trained with another model, tuning or data (recorded -> now):\n{lines}\n"
                    "Resuming it cannot work: use another output_dir, or resume_from_checkpoint: null to start over "
                    "in this one."
                )
    if resume is not None:
        logger.info("resuming from %s", resume)
    return RunPlan(recipe, output, resume)


def start_run(plan: RunPlan, config: TrainRunConfig, *, main_process: bool) -> None:
    """Record the resolved config and tidy the run files for the run about to start (main process only)."""
    if not main_process or plan.finished is not None:
        return
    plan.output_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"{_RECIPE_LINE}{plan.recipe}\n# owlcap {__version__}: the resolved config of this run (defaults included); "
        f"owlcap train {plan.recipe} {plan.output_dir / CONFIG_FILE} runs it again\n"
    )
    body = yaml.safe_dump(runnable_dump(config), sort_keys=False, allow_unicode=True)
    write_text_atomic(plan.output_dir / CONFIG_FILE, header + body)
    metrics = plan.output_dir / METRICS_FILE
    if plan.resume is None:
        result_path(plan.output_dir, plan.recipe).unlink(missing_ok=True)
        metrics.unlink(missing_ok=True)
    elif metrics.is_file():
        _trim_metrics(metrics, checkpoint_step(plan.resume))


def finish_run(plan: RunPlan, result: dict[str, Any], *, main_process: bool) -> None:
    """Write the result file: the run is finished."""
    if main_process:
        text = json.dumps(result, indent=2) + "\n"
        write_text_atomic(result_path(plan.output_dir, plan.recipe), text)


def describe_finished(plan: RunPlan) -> str:
    step = (plan.finished or {}).get("global_step", "?")
    return (
        f"{plan.output_dir} holds a finished {plan.recipe} run of this config (step {step}, "
        f"{result_path(plan.output_dir, plan.recipe).name}); nothing to do. To train further raise max_steps or "
        "num_train_epochs; to start over use another output_dir or resume_from_checkpoint: null."
    )


def runnable_dump(config: TrainRunConfig) -> dict[str, Any]:
    """Every field of ``config`` as plain data that validates back to the same config."""
    data = config.model_dump(mode="json")
    if data["model"].get("tuning") == "full":
        data["model"].pop("lora", None)  # LoRA settings next to full tuning are refused as a likely mistake
    return data


def read_run_record(folder: Path) -> dict[str, Any] | None:
    """``{"recipe", "config"}`` recorded in ``folder`` (``None`` when there is none: a run of an older owlcap)."""
    path = folder / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        recipe = text.split(_RECIPE_LINE, 1)[1].split("\n", 1)[0].strip() if text.startswith(_RECIPE_LINE) else ""
        config = yaml.safe_load(text)
        if not recipe or not isinstance(config, dict):
            raise ValueError(f"expected a first line {_RECIPE_LINE}<recipe> and a mapping")
        return {"recipe": recipe, "config": config}
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); delete it to run without the resume check") from exc


def checkpoint_step(checkpoint: str | Path) -> int:
    """The global step a checkpoint was saved at (from its folder name ``checkpoint-N``)."""
    try:
        return int(Path(checkpoint).name.rsplit("-", 1)[-1])
    except ValueError:
        state = Path(checkpoint) / "trainer_state.json"
        return int(json.loads(state.read_text())["global_step"]) if state.is_file() else 0


def _identity_fields(config: dict[str, Any]) -> list[str]:
    fields = [f"model.{name}" for name in _MODEL_IDENTITY]
    if config.get("model", {}).get("tuning") == "lora":
        fields.append("model.lora")
    fields += [f"data.{name}" for name in config.get("data", {}) if name not in _DATA_RUNTIME]
    return fields


def _differences(old: dict[str, Any], new: dict[str, Any], fields: list[str]) -> list[tuple[str, Any, Any]]:
    found = []
    for field in dict.fromkeys(fields):
        before, after = _get(old, field), _get(new, field)
        if before != after:
            found.append((field, before, after))
    return found


def _get(tree: dict[str, Any], dotted: str) -> Any:
    value: Any = tree
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: unreadable ({exc}); delete it to run again") from exc


def _trim_metrics(path: Path, last_step: int) -> None:
    """Drop the lines of steps after ``last_step``: they are trained again after the resume."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if _step_of(line) is None or _step_of(line) <= last_step]
    if len(kept) != len(lines):
        write_text_atomic(path, "".join(kept))
        logger.info("%s: dropped %d line(s) after step %d (trained again)", path, len(lines) - len(kept), last_step)


def _step_of(line: str) -> int | None:
    try:
        step = json.loads(line).get("step")
    except (json.JSONDecodeError, AttributeError):
        return None
    return step if isinstance(step, int) else None
