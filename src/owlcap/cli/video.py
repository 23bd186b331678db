"""``owlcap probe``: print what each video is, one JSON line per file (files, folders, manifests)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

logger = logging.getLogger(__name__)


def probe(
    inputs: list[Path] = typer.Argument(..., help="Video files, folders of videos, or JSONL manifests (id, video)."),
    exact: bool = typer.Option(
        False, "--exact", help="Read every packet (no decoding) to count frames exactly and catch truncated files."
    ),
) -> None:
    """Print duration, fps, frame count, size, codec and rotation of each video as one JSON line.

    Folders are searched recursively, as by ``owlcap caption``. A file that cannot be read prints
    {"video": ..., "error": cause}; the command goes on and exits 1 at the end.
    """
    from owlcap.data.sources import collect_videos
    from owlcap.errors import VideoDecodeError
    from owlcap.video import probe as probe_video

    videos: list[str] = []
    for source in inputs:  # one input at a time: two files may share a name (an id clash matters to captioning only)
        items, errors = collect_videos([source])
        videos.extend(item.video for item in items)
        for error in errors:
            logger.error("skipped input: %s", error)
    if not videos:
        typer.echo("no videos found in the inputs", err=True)
        raise typer.Exit(code=1)
    failed = 0
    for video in videos:
        try:
            info = probe_video(video, exact=exact)
        except VideoDecodeError as exc:
            failed += 1
            logger.debug("probe failed for %s: %s", video, exc.cause)
            record = {"video": str(video), "error": exc.cause}
        else:
            fields = info.to_dict()
            fields.pop("path")
            record = {"video": str(video), **fields}
        typer.echo(json.dumps(record, ensure_ascii=False))
    if failed:
        typer.echo(f"{failed} of {len(videos)} videos could not be probed", err=True)
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the owlcap app."""
    app.command("probe")(probe)
