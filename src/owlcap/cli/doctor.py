"""``owlcap doctor [--config FILE] [--judge SPEC]``: versions, GPUs, data folders and servers on one screen."""

from __future__ import annotations

from pathlib import Path

import typer


def doctor(
    config: list[Path] = typer.Option(
        [], "--config", help="A pipeline or stage config: check every server it names (repeatable)."
    ),
    judge: list[str] = typer.Option([], "--judge", help="A model spec to check, openai:<model>@<url> (repeatable)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each server has to answer."),
) -> None:
    """What this installation has and lacks, to paste into an issue report: owlcap, Python and library versions
    (torch with its CUDA build), GPUs, Chromium, where the samples, the cache and the benchmark files are, and
    whether each server named by --config or --judge answers one tiny request. Exit 1 when a server is down."""
    from owlcap.doctor import render, report

    lines = report(config, judge, timeout_s=timeout)
    typer.echo(render(lines))
    if any(line.down for line in lines):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
