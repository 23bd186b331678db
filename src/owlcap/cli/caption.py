"""``owlcap caption``: caption videos (files, folders, JSONL manifests) with any HF video MLLM or a model server."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

logger = logging.getLogger(__name__)


def caption(
    inputs: list[str] = typer.Argument(..., help="Video files, folders of videos, or JSONL manifests (id, video)."),
    model: str = typer.Option(
        ..., "--model", "-m", help="HF hub id or local path of a video MLLM, or openai:<model>@<url> (vLLM server)."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output JSONL; a re-run with the same settings skips the ids already in it."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Start --out afresh, even if it holds captions made with other settings."
    ),
    prompt: str = typer.Option(None, help="User prompt (default: 'Describe this video in detail.')."),
    system: str = typer.Option(None, help="System prompt."),
    fps: float = typer.Option(None, help="Frames per second to sample (default 2.0; exclusive with --nframes)."),
    nframes: int = typer.Option(None, help="Exact number of frames to sample (exclusive with --fps)."),
    max_frames: int = typer.Option(None, help="Upper bound on sampled frames."),
    min_pixels: int = typer.Option(None, help="Per-frame pixel floor."),
    max_pixels: int = typer.Option(None, help="Per-frame pixel cap."),
    total_pixels: int = typer.Option(None, help="Pixel budget over all frames (paper: 3584*28*28)."),
    batch_size: int = typer.Option(None, help="Videos per generate call (default 4)."),
    max_new_tokens: int = typer.Option(None, help="Most tokens per caption (default 1024)."),
    temperature: float = typer.Option(None, help="0 = greedy (default)."),
    dtype: str = typer.Option(None, help="auto (default) | bfloat16 | float16 | float32."),
    device: str = typer.Option(None, help="auto (default) | cpu | cuda | cuda:N."),
    config: Path = typer.Option(None, "--config", help="YAML CaptionConfig; only the flags given here override it."),
    concurrency: int = typer.Option(16, help="Server model (openai:...): caption requests in flight at once."),
) -> None:
    """Caption videos; one JSON line per video (id, video, caption, model, sampling settings, seconds).

    The settings are recorded in OUT.meta.json; a re-run with other settings refuses to add to OUT (use another
    --out, or --overwrite). Exit status: 0 all captioned, 1 some videos failed (listed), 2 a usage or setup error.
    """
    from owlcap.caption.config import CaptionConfig
    from owlcap.caption.engines import load_caption_engine
    from owlcap.caption.provenance import check_output, item_prompt
    from owlcap.caption.runner import caption_videos
    from owlcap.config import load_yaml, validate_config
    from owlcap.data.sources import check_inputs, collect_videos, no_videos
    from owlcap.llm import LLMConfig, parse_spec

    if fps is not None and nframes is not None:
        raise typer.BadParameter("give --fps or --nframes, not both (they are exclusive)", param_hint="--fps")
    flags = {
        "prompt": prompt,
        "system": system,
        "batch_size": batch_size,
        "sampling": {"fps": fps, "nframes": nframes, "max_frames": max_frames, "min_pixels": min_pixels}
        | {"max_pixels": max_pixels, "total_pixels": total_pixels},
        "generation": {"max_new_tokens": max_new_tokens, "temperature": temperature},
        "model_options": {"dtype": dtype, "device": device},
    }
    data = _apply_flags(load_yaml(config) if config else {}, flags)
    run_config = validate_config(CaptionConfig, data, source=str(config) if config else "command-line options")
    if model.strip().startswith("openai:"):
        parse_spec(model)  # a malformed server spec is a usage error, before anything else
    # Everything a user can get wrong is checked before minutes of model loading, and before anything is written.
    check_inputs(inputs)
    items, input_errors = collect_videos(inputs)
    if not items:
        raise no_videos(inputs, input_errors)
    check_output(out, model, run_config, overwrite=overwrite, prompts={i.id: item_prompt(i, run_config) for i in items})
    for error in input_errors:
        logger.error("skipped input: %s", error)
    server = LLMConfig(concurrency=concurrency, request_timeout_s=600.0, max_retries=3, cache=False)
    engine = load_caption_engine(model, run_config.model_options, llm=server)
    try:
        summary = caption_videos(items, out, engine, run_config, overwrite=overwrite)
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    typer.echo(json.dumps({"out": str(out), **summary.to_dict(), "bad_inputs": len(input_errors)}))
    if summary.failures or input_errors:
        typer.echo(f"{summary.failed + len(input_errors)} input(s) failed:", err=True)
        for item_id, cause in summary.failures:
            typer.echo(f"  {item_id}: {cause}", err=True)
        for error in input_errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)


def _apply_flags(data: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The config file's values with the flags actually given (not ``None``) on top; fps and nframes replace each
    other, so ``--nframes 8`` over a file's ``fps: 1`` samples 8 frames."""
    merged = dict(data)
    for key, value in flags.items():
        if isinstance(value, dict):
            given = {name: v for name, v in value.items() if v is not None}
            if key == "sampling":
                if "nframes" in given:
                    given["fps"] = None
                elif "fps" in given:
                    given["nframes"] = None
            if given:
                merged[key] = {**(merged.get(key) or {}), **given}
        elif value is not None:
            merged[key] = value
    return merged


def register(app: typer.Typer) -> None:
    app.command("caption")(caption)
