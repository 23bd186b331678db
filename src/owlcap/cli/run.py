"""``owlcap run CONFIG.yaml [--from STAGE] [--only STAGE] [--key value ...]``: the whole pipeline, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def run_and_report(
    ctx: typer.Context, config: Path, from_stage: str | None, only: str | None, overrides: list[str]
) -> None:
    """Run a pipeline config; print each stage's outcome and the report's path.

    A failed stage ends with exit status 1, its message and the stages kept; a config or data problem (exit 2) and
    Ctrl-C (exit 130) are reported by the ``owlcap`` command group. Finished stages always stay finished.
    """
    from owlcap.run import StageError, run_pipeline

    try:
        result = run_pipeline(config, overrides, from_stage=from_stage, only=only)
    except StageError as exc:
        if _debug(ctx):
            raise
        typer.echo(f"error: {exc}", err=True)
        kept = ", ".join(exc.finished) or "none"
        typer.echo(f"finished stages kept: {kept}; fix the cause and run the same command to continue", err=True)
        raise typer.Exit(1) from exc
    for outcome in result.outcomes:
        typer.echo(f"{outcome.name:>8}: {outcome.status:<8} {outcome.seconds:7.1f} s")
    if result.report is not None:
        typer.echo(f"report: {result.report}")


def _debug(ctx: typer.Context) -> bool:
    """--debug (on the owlcap command) or OWLCAP_DEBUG=1: show the traceback instead of the one-line error."""
    from owlcap import envs

    return envs.debug() or bool(ctx.find_root().params.get("debug"))


def run(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Pipeline config (YAML): configs/quickstart.yaml, ..."),
    from_stage: str = typer.Option(None, "--from", help="Rerun this stage and every stage after it."),
    only: str = typer.Option(None, "--only", help="Rerun only this stage (the stages before it must be done)."),
) -> None:
    """Run the pipeline: data -> sft -> grpo -> caption -> eval -> report. Stages done with the same config are
    skipped; an interrupted run continues. Extra --key value pairs override the config (--sft.overrides.max_steps
    10)."""
    run_and_report(ctx, config, from_stage, only, list(ctx.args))


def register(app: typer.Typer) -> None:
    app.command("run", context_settings=_OVERRIDES)(run)
