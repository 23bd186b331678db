"""Entry point of the ``owlcap`` command.

Each sub-module registers its commands on the one Typer app and imports heavy libraries (torch, transformers)
inside the command bodies, so ``owlcap --help`` stays fast.

Errors: an ``OwlcapError`` (bad path, bad value, bad config, unreachable server, unwritable output) ends the command
with ``error: <message>`` and exit status 2, no traceback, and so does an ``OSError`` the system raised about a path
(a full disk, a read-only folder, a file where a folder should be) that no module turned into one; any other
exception is a bug and keeps its traceback. ``--debug`` (or ``OWLCAP_DEBUG=1``) shows the traceback of every error.

Ctrl-C ends with exit status 130 within seconds, in every command: the command stops and writes what finished; if
a worker thread still holds the process ``INTERRUPT_GRACE_S`` after that (a decode inside FFmpeg, a request in
flight), it is ended anyway, with status 130. What was written is whole either way: every output is appended record
by record or replaced atomically.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading

import typer
from typer.core import TyperGroup

from owlcap import __version__, envs
from owlcap.cli import caption, data, doctor, models, quickstart, reward, run, train, video
from owlcap.cli import eval as evaluation
from owlcap.errors import OwlcapError, os_cause

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130
INTERRUPT_GRACE_S = 10.0

# What the system says about a path the user chose (an output folder, a cache, an input): not a bug in owlcap.
_PATH_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.ENAMETOOLONG,
        errno.EEXIST,
        errno.ENOENT,
    }  # fmt: skip
)


class OwlcapGroup(TyperGroup):
    """The top-level command group: turns owlcap's own errors into one line on stderr (see the module docstring)."""

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except OwlcapError as exc:
            if _debug(ctx):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(USER_ERROR_EXIT) from exc
        except OSError as exc:
            if _debug(ctx) or exc.errno not in _PATH_ERRNOS or not exc.filename:
                raise
            typer.echo(f"error: {exc.filename}: {os_cause(exc)}", err=True)
            raise typer.Exit(USER_ERROR_EXIT) from exc
        except KeyboardInterrupt:
            if _debug(ctx):
                raise
            typer.echo("interrupted: run the same command again to resume (training: from its checkpoint)", err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.params.get("debug")) or envs.debug()


app = typer.Typer(
    name="owlcap",
    cls=OwlcapGroup,
    help="Caption videos with any HF video MLLM or server, score captions with CSER, train video captioners (SFT, "
    "then GRPO with the Caption Set Equivalence Reward) and evaluate them on VDC and DREAM-1K.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"owlcap {__version__}")
        raise typer.Exit()


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging (overrides OWLCAP_LOG_LEVEL)."),
    debug: bool = typer.Option(False, "--debug", help="Show the Python traceback of every error (or OWLCAP_DEBUG=1)."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the owlcap version and exit."
    ),
) -> None:
    level = logging.DEBUG if verbose else logging.getLevelName(envs.log_level())
    if not isinstance(level, int):
        level = logging.INFO
    if envs.process_rank() > 0:
        level = max(level, logging.WARNING)  # under DDP rank 0 speaks for everyone; warnings still show
    # Logs go to stderr so that JSON written to stdout stays machine-readable.
    logging.basicConfig(level=level, format="%(message)s", handlers=[_log_handler()], force=True)
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, level))
    if envs.progress_disabled():
        _disable_library_progress_bars()


def _log_handler() -> logging.Handler:
    """Rich, coloured lines in a terminal, on the console the progress bars use (so a log line lands above a live
    bar, not on it); plain unwrapped lines otherwise (a log file keeps paths and URLs whole)."""
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        from owlcap.progress import console

        return RichHandler(console=console(), show_path=False, rich_tracebacks=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    return handler


def _disable_library_progress_bars() -> None:
    """OWLCAP_DISABLE_PROGRESS also hides the loading/saving bars of huggingface_hub, transformers and datasets, and
    the bare tqdm bars of TRL (DPO's reference log-prob pass)."""
    # Read by those libraries when they are imported (the command bodies import them later)...
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TQDM_DISABLE"] = "1"
    # ...and switched off directly where they are already loaded (tests, `python -m`).
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


for _module in (video, models, caption, quickstart, run, train, reward, evaluation, data, doctor):
    _module.register(app)


def main() -> None:
    """The ``owlcap`` program: the app, with the end of an interrupted command bounded (see the module docstring)."""
    try:
        app()
    except SystemExit as end:
        if end.code == INTERRUPTED_EXIT:
            _end_within(INTERRUPT_GRACE_S)
        raise
    except KeyboardInterrupt:  # --debug lets it through
        _end_within(INTERRUPT_GRACE_S)
        raise


def _end_within(seconds: float) -> None:
    """End the process with status 130 after ``seconds`` if it is still alive then: Python's exit waits for every
    worker thread, and one inside FFmpeg or a blocking call cannot be interrupted."""
    timer = threading.Timer(seconds, _exit_now)
    timer.daemon = True
    timer.start()


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(INTERRUPTED_EXIT)


if __name__ == "__main__":
    main()
