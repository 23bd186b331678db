"""One progress bar style for every long job: count, rate, ETA (rich), drawn on the process's one stderr console.

Bars and log lines share :func:`console`: the CLI's log handler writes through it too, so in a terminal rich prints
each log line above the live bar instead of both fighting over one line (and stdout stays free for results).
"""

from __future__ import annotations

import functools

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from owlcap import envs


class _RateColumn(TextColumn):
    def __init__(self, unit: str):
        super().__init__("")
        self.unit = unit

    def render(self, task):  # type: ignore[override]
        # Mean rate since start: rich's windowed speed jumps wildly when items finish in batches.
        speed = task.completed / task.elapsed if task.elapsed else None
        text = f"{speed:.2f} {self.unit}/s" if speed else f"- {self.unit}/s"
        return super().render(task).__class__(text, style="progress.data.speed")


@functools.cache
def console() -> Console:
    """The stderr console every progress bar and (in a terminal) every log line of this process is drawn on."""
    return Console(stderr=True)


def progress_bar(unit: str = "it", *, disable: bool | None = None) -> Progress:
    """A rich ``Progress`` with description, bar, done/total, percent, rate, elapsed and ETA columns.

    Use as ``with progress_bar("video") as bar: task = bar.add_task("caption", total=n); bar.advance(task)``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console(),
        disable=envs.progress_disabled() if disable is None else disable,
    )
