"""``owlcap train sft|grpo|dpo CONFIG.yaml [--key value ...]``: the OwlCap training stages, and DPO on preference pairs.

A bad config, model or data file, a judge that does not answer the preflight, or a resume into another run's
directory ends the command with its message and exit status 2 (``owlcap.cli.main``), not a traceback. The config
(its path, every value, the training files) is checked before torch and TRL are imported, so a typo is reported in
well under a second.
"""

from __future__ import annotations

from pathlib import Path

import typer

train_app = typer.Typer(
    help="Train a video captioner: SFT on HMD records, then GRPO with CSER, or DPO on preference pairs.",
    no_args_is_help=True,
)

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


@train_app.command("sft", context_settings=_OVERRIDES)
def sft(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML run config (configs/sft/*.yaml)."),
) -> None:
    """Supervised fine-tuning of a video MLLM on HMD captions. Extra --key value pairs override the config."""
    from owlcap.train.sft_config import SFTRunConfig

    _check(SFTRunConfig, config, ctx.args)
    from owlcap.train.sft import run_sft  # torch, transformers, TRL: seconds

    run_sft(config, list(ctx.args))


@train_app.command("grpo", context_settings=_OVERRIDES)
def grpo(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML run config (configs/grpo/*.yaml)."),
) -> None:
    """GRPO post-training with the Caption Set Equivalence Reward. Extra --key value pairs override the config."""
    from owlcap.train.grpo_config import GRPORunConfig

    _check(GRPORunConfig, config, ctx.args)
    from owlcap.train.grpo import run_grpo  # torch, transformers, TRL: seconds

    run_grpo(config, list(ctx.args))


@train_app.command("dpo", context_settings=_OVERRIDES)
def dpo(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="YAML run config (configs/dpo/*.yaml)."),
) -> None:
    """DPO on video preference pairs (owlcap data pairs). Extra --key value pairs override the config."""
    from owlcap.train.dpo_config import DPORunConfig

    _check(DPORunConfig, config, ctx.args)
    from owlcap.train.dpo import run_dpo  # torch, transformers, TRL: seconds

    run_dpo(config, list(ctx.args))


def _check(model, config: Path, overrides: list[str]) -> None:
    """Load and validate the config and check its training files, with nothing heavy imported yet."""
    from owlcap.config import load_config
    from owlcap.train.run_config import check_train_files

    check_train_files(load_config(model, config, list(overrides)))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
