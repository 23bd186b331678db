"""Showing a CSER result: a rich table for the terminal and a standalone, coloured HTML page."""

from __future__ import annotations

import html
import os
from pathlib import Path

from rich.table import Table

from owlcap.errors import ConfigError
from owlcap.reward.result import CSERResult, UnitVerdict


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def total_reward(result: CSERResult, length: float | None) -> float | None:
    """What GRPO's reward is for this caption: the CSER reward plus the length reward (weighted 1:1, as the paper
    and ``owlcap train grpo`` sum them); ``None`` when either is missing."""
    return None if result.reward is None or length is None else result.reward + length


def score_table(result: CSERResult, length: float | None = None, words: int | None = None) -> Table:
    table = Table(title="CSER", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("correctness (prediction units supported)", _fmt(result.correctness)),
        ("completeness (reference units covered)", _fmt(result.completeness)),
        ("CSER = correctness + completeness", _fmt(result.cser)),
        ("F1", _fmt(result.f1)),
        ("CSER reward (as cser.combine says)", _fmt(result.reward)),
    ]
    if length is not None:
        rows.append((f"length reward ({words} words)", f"{length:.1f}"))
        rows.append(("reward = CSER reward + length reward (GRPO's)", _fmt(total_reward(result, length))))
    rows.append(("protocol", result.protocol))
    if result.failed:
        rows.append(("[red]FAILED[/red]", result.error or ""))
    for name, value in rows:
        table.add_row(name, value)
    return table


def units_table(result: CSERResult) -> Table:
    table = Table(title="Units", show_lines=False)
    table.add_column("side")
    table.add_column("#", justify="right")
    table.add_column("unit")
    table.add_column("verdict")
    for side, units, yes, no in (
        ("prediction", result.pred_units, "supported", "not supported"),
        ("reference", result.ref_units, "covered", "missing"),
    ):
        for index, unit in enumerate(units, start=1):
            verdict = f"[green]{yes}[/green]" if unit.supported else f"[red]{no}[/red]"
            table.add_row(side, str(index), unit.text, verdict)
    return table


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .6rem; text-align: left; vertical-align: top; }
td.num { text-align: right; color: #777; width: 2.5rem; }
tr.yes td.verdict { color: #1a7f37; font-weight: 600; }
tr.no td.verdict { color: #cf222e; font-weight: 600; }
tr.yes { background: #eef9f0; }
tr.no { background: #fdeeee; }
.caption { white-space: pre-wrap; background: #f6f8fa; padding: .8rem; border-radius: 4px; }
.failed { color: #cf222e; font-weight: 600; }
"""


def _unit_rows(units: list[UnitVerdict], yes: str, no: str) -> str:
    rows = []
    for index, unit in enumerate(units, start=1):
        cls, verdict = ("yes", yes) if unit.supported else ("no", no)
        rows.append(
            f'<tr class="{cls}"><td class="num">{index}</td><td>{html.escape(unit.text)}</td>'
            f'<td class="verdict">{verdict}</td></tr>'
        )
    return "\n".join(rows) or '<tr><td colspan="3">(no units)</td></tr>'


def render_html(
    result: CSERResult, prediction: str, reference: str, *, length: float | None = None, judge: str = ""
) -> str:
    """A standalone page: scores, both captions, and every unit with its verdict in green/red."""
    e = html.escape
    scores = "".join(
        f"<tr><th>{e(name)}</th><td>{e(value)}</td></tr>"
        for name, value in (
            ("correctness", _fmt(result.correctness)),
            ("completeness", _fmt(result.completeness)),
            ("CSER", _fmt(result.cser)),
            ("F1", _fmt(result.f1)),
            ("CSER reward", _fmt(result.reward)),
            ("length reward", "n/a" if length is None else f"{length:.1f}"),
            ("reward = CSER reward + length reward", _fmt(total_reward(result, length))),
            ("protocol", result.protocol),
            ("judge", judge),
        )
    )
    failed = f'<p class="failed">Judging failed: {e(result.error or "")}</p>' if result.failed else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>owlcap CSER report</title><style>{_STYLE}</style></head>
<body>
<h1>CSER report</h1>
{failed}
<table>{scores}</table>
<h2>Prediction</h2><div class="caption">{e(prediction)}</div>
<h2>Reference</h2><div class="caption">{e(reference)}</div>
<h2>Prediction units (supported by the reference?)</h2>
<table><tr><th>#</th><th>unit</th><th>verdict</th></tr>
{_unit_rows(result.pred_units, "supported", "not supported")}
</table>
<h2>Reference units (covered by the prediction?)</h2>
<table><tr><th>#</th><th>unit</th><th>verdict</th></tr>
{_unit_rows(result.ref_units, "covered", "missing")}
</table>
</body></html>
"""


def check_writable(path: str | Path) -> Path:
    """Raise ``ConfigError`` unless a file can be written at ``path`` (its folder is created): check before the
    scoring, so a typo in the report path does not throw the finished scores away."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; name the HTML file, e.g. {path / 'report.html'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the folder {path.parent} ({exc.strerror or exc})") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{path}: not writable (permission denied)")
    return path


def write_html(path: str | Path, *args: object, **kwargs: object) -> Path:
    """Write the page (``render_html``'s arguments); an unwritable path raises ``ConfigError``."""
    path = check_writable(path)
    try:
        path.write_text(render_html(*args, **kwargs), encoding="utf-8")  # type: ignore[arg-type]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc
    return path
