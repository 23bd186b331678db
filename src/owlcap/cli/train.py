"""``owlcap train sft|grpo CONFIG.yaml [--key value ...]``: the two OwlCap training stages."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

train_app = typer.Typer(help="Train a video captioner: SFT on HMD records, then GRPO with CSER.", no_args_is_help=True)

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


@contextlib.contextmanager
def _clear_errors():
    """A bad config, model or data file ends the run with its message (file, field, cause), not a traceback."""
    from owlcap.errors import ConfigError, DataError, ModelLoadError

    try:
        yield
    except (ConfigError, DataError, ModelLoadError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@train_app.command("sft", context_settings=_OVERRIDES)
def sft(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML run config (configs/sft/*.yaml)."),
) -> None:
    """Supervised fine-tuning of a video MLLM on HMD captions. Extra --key value pairs override the config."""
    from owlcap.train.sft import run_sft

    with _clear_errors():
        run_sft(config, list(ctx.args))


@train_app.command("grpo", context_settings=_OVERRIDES)
def grpo(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML run config (configs/grpo/*.yaml)."),
) -> None:
    """GRPO post-training with the Caption Set Equivalence Reward. Extra --key value pairs override the config."""
    from owlcap.train.grpo import run_grpo

    with _clear_errors():
        run_grpo(config, list(ctx.args))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
