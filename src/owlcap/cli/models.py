"""``owlcap tiny-model``: build a tiny random Qwen-VL model offline (tests, demos)."""

from __future__ import annotations

from pathlib import Path

import typer


def tiny_model(
    out_dir: Path = typer.Argument(..., help="Directory to write the model, tokenizer and processor to."),
    family: str = typer.Option("qwen2_5_vl", "--family", help="qwen2_5_vl or qwen3_vl."),
    seed: int = typer.Option(0, help="Seed for the random weights."),
) -> None:
    """Build a tiny random video MLLM that loads with from_pretrained(OUT_DIR) and no network."""
    from owlcap.errors import ConfigError
    from owlcap.models import FAMILIES, build_tiny_model

    if family not in FAMILIES:
        raise typer.BadParameter(f"{family!r}: expected one of {', '.join(FAMILIES)}", param_hint="--family")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out_dir}: cannot create the folder ({exc.strerror or exc})") from exc
    path = build_tiny_model(out_dir, family, seed=seed)
    typer.echo(str(path))


def register(app: typer.Typer) -> None:
    app.command("tiny-model")(tiny_model)
