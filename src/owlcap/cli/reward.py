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
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.001, help="Seconds one judge request may take before it is retried (default 120)."
    ),
    retries: int | None = typer.Option(
        None, "--retries", min=0, max=20, help="Retries of a failed or timed-out judge request (default 4)."
    ),
) -> None:
    """Score --pred against --ref: correctness, completeness, CSER, length reward and every unit's verdict. "reward"
    is what GRPO trains on: the CSER reward plus the length reward.

    Exit status: 0 scored, 2 the judge failed (after its retries) or a usage error.
    """
    import json
    import logging

    from rich.console import Console

    from owlcap.errors import OwlcapError
    from owlcap.llm import LLMConfig
    from owlcap.reward import CSER, CSERConfig, count_words, length_reward
    from owlcap.reward.report import check_writable, score_table, total_reward, units_table, write_html

    # The openai client's transport (httpx2) logs every request at INFO; owlcap counts requests itself.
    httpx2_logger = logging.getLogger("httpx2")
    httpx2_logger.setLevel(max(logging.WARNING, logging.getLogger().level))
    prediction, reference = _text(pred, pred_file, "pred"), _text(ref, ref_file, "ref")
    if html is not None:
        check_writable(html)  # before the judge is asked anything
    limits = {"request_timeout_s": timeout, "max_retries": retries}
    try:
        llm_config = LLMConfig(**{key: value for key, value in limits.items() if value is not None})
        cser = CSER(judge, CSERConfig(protocol=protocol), llm_config)
    except (OwlcapError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        result = cser.score_sync(prediction, reference)
    finally:
        cser.judge.close()
    length = length_reward(prediction)
    console = Console()
    if as_json:
        scores = result.to_dict()
        scores["cser_reward"] = scores.pop("reward")
        scores |= {"length_reward": length, "reward": total_reward(result, length), "judge": cser.judge.name}
        console.print_json(json.dumps(scores))
    else:
        console.print(score_table(result, length, count_words(prediction)))
        console.print(units_table(result))
    if html is not None:  # after the scores are printed: a failed write costs the page only
        path = write_html(html, result, prediction, reference, length=length, judge=cser.judge.name)
        typer.echo(f"wrote {path}", err=True)
    if result.failed:
        raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the owlcap app."""
    app.command("reward")(reward)
