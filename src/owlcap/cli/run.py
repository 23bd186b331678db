"""``owlcap run CONFIG.yaml [--from STAGE] [--only STAGE] [--key value ...]``: the whole pipeline, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


def run_and_report(config: Path, overrides: list[str], from_stage: str | None, only: str | None) -> None:
    """Run a pipeline config; print each stage's outcome and the report's path. Errors end with exit status 2 (a
    config or data problem) or 1 (a stage failed), never a traceback; finished stages stay finished."""
    from owlcap.errors import OwlcapError
    from owlcap.run import StageError, run_pipeline

    try:
        result = run_pipeline(config, overrides, from_stage=from_stage, only=only)
    except StageError as exc:
        typer.echo(f"error: {exc}", err=True)
        kept = ", ".join(exc.finished) or "none"
        typer.echo(f"finished stages kept: {kept}; fix the cause and run the same command to continue", err=True)
        raise typer.Exit(1) from exc
    except OwlcapError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        typer.echo("interrupted; run the same command again to continue (finished stages are kept)", err=True)
        raise typer.Exit(130) from None
    for outcome in result.outcomes:
        typer.echo(f"{outcome.name:>8}: {outcome.status:<8} {outcome.seconds:7.1f} s")
    if result.report is not None:
        typer.echo(f"report: {result.report}")


def run(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Pipeline config (YAML): configs/quickstart.yaml, ..."),
    from_stage: str = typer.Option(None, "--from", help="Rerun this stage and every stage after it."),
    only: str = typer.Option(None, "--only", help="Rerun only this stage (the stages before it must be done)."),
) -> None:
    """Run the pipeline: sft -> grpo -> caption -> eval -> report. Stages done with the same config are skipped;
    an interrupted run continues. Extra --key value pairs override the config (--sft.overrides.max_steps 10)."""
    run_and_report(config, list(ctx.args), from_stage, only)


def register(app: typer.Typer) -> None:
    app.command("run", context_settings=_OVERRIDES)(run)
