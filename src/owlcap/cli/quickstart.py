"""``owlcap quickstart``: the embedded default job, runnable on a fresh machine with no downloads.

Builds a tiny random Qwen2.5-VL offline and captions the sample videos with it, exercising the real code paths
(sampling, processor, generation, resumable output). Swap ``--model`` for a real checkpoint to caption for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def quickstart(
    out_dir: Path = typer.Option(Path("runs/quickstart"), help="Where the tiny model and captions are written."),
    videos: Path = typer.Option(None, help="Videos to caption (default: the HMD sample videos)."),
    model: str = typer.Option(None, help="Model to caption with (default: a tiny model built offline)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace captions made earlier with other settings."),
) -> None:
    """Build a tiny offline model and caption the sample videos with it."""
    from owlcap import envs
    from owlcap.data.sources import collect_videos
    from owlcap.eval.captioning import CaptionConfig, caption_videos
    from owlcap.models import build_tiny_model, load_mllm

    videos = videos or envs.samples_dir() / "hmd" / "videos"
    if not videos.exists():
        typer.echo(f"{videos}: no such folder; pass --videos or set OWLCAP_SAMPLES_DIR", err=True)
        raise typer.Exit(1)
    if model is None:
        model_dir = out_dir / "tiny-model"
        if not (model_dir / "config.json").exists():
            build_tiny_model(model_dir, "qwen2_5_vl")
        model = str(model_dir)
    config = CaptionConfig.model_validate(
        {"sampling": {"fps": 1.0, "max_frames": 8, "total_pixels": 8 * 224 * 224}, "generation": {"max_new_tokens": 48}}
    )
    items, errors = collect_videos([videos])
    engine = load_mllm(model, config.model_options)
    out = out_dir / "captions.jsonl"
    summary = caption_videos(items, out, engine, config, overwrite=overwrite)
    typer.echo(json.dumps({"model": model, "out": str(out), **summary.to_dict(), "bad_inputs": len(errors)}))
    if summary.failures or errors:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("quickstart")(quickstart)
