"""``owlcap quickstart``: the embedded default pipeline, runnable on a fresh machine with no downloads.

Runs the quickstart pipeline config shipped inside the package (``owlcap/run/quickstart.yaml``, the same file as
``configs/quickstart.yaml``) into ``runs/quickstart``: a tiny model built offline, the HMD data build, SFT, GRPO,
captioning before and after training, CSER, VDC and DREAM-1K on the sample files, and a report whose path it
prints. See docs/quickstart.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

from owlcap.cli.run import run_and_report


def quickstart(
    ctx: typer.Context,
    run_dir: Path = typer.Option(Path("runs/quickstart"), help="Where every stage and the report are written."),
    from_stage: str = typer.Option(None, "--from", help="Rerun this stage and every stage after it."),
    only: str = typer.Option(None, "--only", help="Rerun only this stage."),
) -> None:
    """Build a tiny offline model and HMD records from the samples, train it (SFT, then GRPO with CSER), caption and
    score the sample videos before and after, run VDC and DREAM-1K on the sample files, and write a report. Extra
    --key value pairs override the pipeline config."""
    from owlcap.run import quickstart_config

    run_and_report(ctx, quickstart_config(), from_stage, only, ["--run_dir", str(run_dir), *ctx.args])


def register(app: typer.Typer) -> None:
    app.command("quickstart", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(quickstart)
