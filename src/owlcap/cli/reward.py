"""``owlcap reward``: score one caption against a reference with CSER and the length reward."""

from __future__ import annotations

from pathlib import Path

import typer


def _text(value: str | None, file: Path | None, name: str) -> str:
    if (value is None) == (file is None):
        raise typer.BadParameter(f"give exactly one of --{name} TEXT or --{name}-file FILE", param_hint=f"--{name}")
    if file is not None:
        if not file.is_file():
            raise typer.BadParameter(f"{file}: no such file", param_hint=f"--{name}-file")
        return file.read_text(encoding="utf-8").strip()
    return value or ""


def reward(
    pred: str | None = typer.Option(None, "--pred", help="The predicted caption."),
    pred_file: Path | None = typer.Option(None, "--pred-file", help="A text file holding the predicted caption."),
    ref: str | None = typer.Option(None, "--ref", help="The reference caption."),
    ref_file: Path | None = typer.Option(None, "--ref-file", help="A text file holding the reference caption."),
    judge: str = typer.Option(
        "rules", "--judge", help="Judge model spec: rules, openai:<model>@<base_url> or hf:<path>."
    ),
    protocol: str = typer.Option("fused", "--protocol", help="fused, separate or official (the released protocol)."),
    html: Path | None = typer.Option(None, "--html", help="Also write a standalone HTML page with every unit."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON instead of tables."),
) -> None:
    """Score --pred against --ref: correctness, completeness, CSER, length reward and every unit's verdict."""
    import json
    import logging

    from rich.console import Console

    from owlcap.errors import OwlcapError
    from owlcap.reward import CSER, CSERConfig, count_words, length_reward
    from owlcap.reward.report import score_table, units_table, write_html

    # The openai client's transport (httpx2) logs every request at INFO; owlcap counts requests itself.
    httpx2_logger = logging.getLogger("httpx2")
    httpx2_logger.setLevel(max(logging.WARNING, logging.getLogger().level))
    prediction, reference = _text(pred, pred_file, "pred"), _text(ref, ref_file, "ref")
    try:
        cser = CSER(judge, CSERConfig(protocol=protocol))
    except (OwlcapError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    result = cser.score_sync(prediction, reference)
    length = length_reward(prediction)
    console = Console()
    if as_json:
        console.print_json(json.dumps({**result.to_dict(), "length_reward": length, "judge": cser.judge.name}))
    else:
        console.print(score_table(result, length, count_words(prediction)))
        console.print(units_table(result))
    if html is not None:
        path = write_html(html, result, prediction, reference, length=length, judge=cser.judge.name)
        console.print(f"wrote {path}")
    cser.judge.close()
    if result.failed:
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the owlcap app."""
    app.command("reward")(reward)
