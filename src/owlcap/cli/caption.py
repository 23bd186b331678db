"""``owlcap caption``: caption videos (files, folders, JSONL manifests) with any HF video MLLM."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

logger = logging.getLogger(__name__)


def caption(
    inputs: list[str] = typer.Argument(..., help="Video files, folders of videos, or JSONL manifests (id, video)."),
    model: str = typer.Option(
        ..., "--model", "-m", help="HF hub id or local path of a video MLLM, or openai:<model>@<url> (vLLM server)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output JSONL; re-running skips the ids already in it."),
    prompt: str = typer.Option(None, help="User prompt (default: 'Describe this video in detail.')."),
    system: str = typer.Option(None, help="System prompt."),
    fps: float = typer.Option(None, help="Frames per second to sample (default 2.0; exclusive with --nframes)."),
    nframes: int = typer.Option(None, help="Exact number of frames to sample."),
    max_frames: int = typer.Option(None, help="Upper bound on sampled frames."),
    min_pixels: int = typer.Option(None, help="Per-frame pixel floor."),
    max_pixels: int = typer.Option(None, help="Per-frame pixel cap."),
    total_pixels: int = typer.Option(None, help="Pixel budget over all frames (paper: 3584*28*28)."),
    batch_size: int = typer.Option(4, help="Videos per generate call."),
    max_new_tokens: int = typer.Option(1024, help="Most tokens per caption."),
    temperature: float = typer.Option(0.0, help="0 = greedy."),
    dtype: str = typer.Option("auto", help="auto | bfloat16 | float16 | float32."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    config: Path = typer.Option(None, "--config", help="YAML CaptionConfig; flags given here override it."),
    concurrency: int = typer.Option(16, help="Server model (openai:...): caption requests in flight at once."),
) -> None:
    """Caption videos; one JSON line per video (id, video, caption, model, sampling settings, seconds)."""
    from owlcap.config import load_yaml, validate_config
    from owlcap.data.sources import collect_videos
    from owlcap.eval.captioning import CaptionConfig, caption_videos
    from owlcap.eval.engines import load_caption_engine
    from owlcap.llm import LLMConfig

    data = load_yaml(config) if config else {}
    sampling = {"fps": fps, "nframes": nframes, "max_frames": max_frames, "min_pixels": min_pixels}
    sampling |= {"max_pixels": max_pixels, "total_pixels": total_pixels}
    sampling = {k: v for k, v in sampling.items() if v is not None}
    if nframes is not None:
        sampling["fps"] = None
    data.setdefault("sampling", {}).update(sampling)
    data.setdefault("generation", {}).update({"max_new_tokens": max_new_tokens, "temperature": temperature})
    data.setdefault("model_options", {}).update({"dtype": dtype, "device": device})
    data["batch_size"] = batch_size
    for key, value in (("prompt", prompt), ("system", system)):
        if value is not None:
            data[key] = value
    run_config = validate_config(CaptionConfig, data, source=str(config) if config else "options")

    items, input_errors = collect_videos(inputs)
    for error in input_errors:
        logger.error("skipped input: %s", error)
    if not items:
        typer.echo("no videos found in the inputs", err=True)
        raise typer.Exit(1)
    server = LLMConfig(concurrency=concurrency, request_timeout_s=600.0, max_retries=3, cache=False)
    engine = load_caption_engine(model, run_config.model_options, llm=server)
    summary = caption_videos(items, out, engine, run_config)
    typer.echo(json.dumps({"out": str(out), **summary.to_dict(), "bad_inputs": len(input_errors)}))
    if summary.failures or input_errors:
        typer.echo(f"{summary.failed + len(input_errors)} input(s) failed:", err=True)
        for item_id, cause in summary.failures:
            typer.echo(f"  {item_id}: {cause}", err=True)
        for error in input_errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("caption")(caption)
