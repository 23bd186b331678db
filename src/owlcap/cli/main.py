"""Entry point of the ``owlcap`` command.

Each sub-module registers its commands on the one Typer app and imports heavy libraries (torch, transformers)
inside the command bodies, so ``owlcap --help`` stays fast.
"""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler

from owlcap import envs
from owlcap.cli import caption, data, models, quickstart, reward, train, video
from owlcap.cli import eval as evaluation

app = typer.Typer(
    name="owlcap",
    help="Train and judge video captioners: HMD data, SFT, CSER-rewarded GRPO, VDC and DREAM-1K.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging (overrides OWLCAP_LOG_LEVEL)."),
) -> None:
    level = "DEBUG" if verbose else envs.log_level()
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)],
        force=True,
    )
    # Logs go to stderr so that JSON written to stdout stays machine-readable.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


for _module in (video, models, caption, quickstart, train, reward, evaluation, data):
    _module.register(app)


if __name__ == "__main__":
    app()
