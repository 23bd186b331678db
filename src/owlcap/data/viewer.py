"""The build viewer: one self-contained HTML page, one card per record (thumbnail strip inlined as base64 JPEG,
motion caption, fused caption, units coloured by verdict, why kept, rejected or failed), filter buttons by status
and a search box. No external assets and no server: open the file. ``#kept``, ``#rejected`` or ``#failed`` in the
URL opens it filtered. The page stays small whatever the models wrote: at most ``report.max_cards`` cards, and any
text past ``MAX_TEXT_CHARS`` cut with a link to the full record in ``records.jsonl``.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from owlcap.data.schema import BuildRecord
from owlcap.data.store import RECORDS, strip_path
from owlcap.jsonl import write_text_atomic

_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #d0d7de; padding: .7rem 1.2rem;
  display: flex; gap: .6rem; align-items: center; flex-wrap: wrap; z-index: 1; }
header h1 { font-size: 1.1rem; margin: 0 1rem 0 0; }
button.filter { border: 1px solid #d0d7de; background: #f6f8fa; border-radius: 2rem; padding: .25rem .8rem;
  cursor: pointer; font-size: .9rem; }
button.filter.active { background: #0969da; color: #fff; border-color: #0969da; }
input#search { padding: .3rem .6rem; border: 1px solid #d0d7de; border-radius: .4rem; min-width: 14rem; }
main { padding: 1rem 1.2rem; display: grid; gap: 1rem; }
.card { background: #fff; border: 1px solid #d0d7de; border-left: 6px solid #8c959f; border-radius: .4rem;
  padding: .8rem 1rem; }
.card.kept { border-left-color: #2da44e; } .card.rejected { border-left-color: #d4a72c; }
.card.failed { border-left-color: #cf222e; }
.card h2 { font-size: 1rem; margin: 0 0 .4rem; display: flex; gap: .6rem; align-items: baseline; flex-wrap: wrap; }
.badge { font-size: .75rem; padding: .1rem .5rem; border-radius: 1rem; color: #fff; text-transform: uppercase; }
.badge.kept { background: #2da44e; } .badge.rejected { background: #bf8700; } .badge.failed { background: #cf222e; }
.meta { color: #656d76; font-size: .8rem; font-weight: normal; }
.strip { max-width: 100%; height: auto; border-radius: .2rem; display: block; margin: .3rem 0; }
.nostrip { color: #656d76; font-style: italic; font-size: .85rem; }
.label { font-size: .75rem; font-weight: 600; color: #656d76; text-transform: uppercase; margin-top: .5rem; }
p.caption { margin: .2rem 0; line-height: 1.45; }
ol.units { margin: .2rem 0; padding-left: 1.6rem; line-height: 1.5; }
li.yes { color: #1a7f37; } li.no { color: #cf222e; font-weight: 600; } li.unknown { color: #656d76; }
.why { margin-top: .5rem; padding: .4rem .6rem; background: #f6f8fa; border-radius: .3rem; font-size: .9rem; }
.hidden { display: none; }
"""

_SCRIPT = """
const buttons = document.querySelectorAll('button.filter');
const cards = document.querySelectorAll('article.card');
const search = document.getElementById('search');
let current = 'all';
function apply() {
  const query = search.value.trim().toLowerCase();
  let shown = 0;
  cards.forEach(card => {
    const visible = (current === 'all' || card.dataset.status === current) &&
      (!query || card.dataset.id.toLowerCase().includes(query) || card.textContent.toLowerCase().includes(query));
    card.classList.toggle('hidden', !visible);
    if (visible) shown += 1;
  });
  buttons.forEach(b => b.classList.toggle('active', b.dataset.filter === current));
  document.getElementById('shown').textContent = shown;
}
buttons.forEach(b => b.addEventListener('click', () => { current = b.dataset.filter; history.replaceState(null, '',
  current === 'all' ? '#' : '#' + current); apply(); }));
search.addEventListener('input', apply);
const wanted = location.hash.slice(1);
if (['kept', 'rejected', 'failed'].includes(wanted)) current = wanted;
apply();
"""


MAX_TEXT_CHARS = 4000
"""A card shows this much of any one text (a caption, a unit, a failure message); the rest stays in the record."""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cut(text: Any, records_link: str) -> str:
    """``text`` escaped, cut at ``MAX_TEXT_CHARS`` with a link to the full record: one runaway answer must not make
    the page too big to open."""
    text = str(text)
    if len(text) <= MAX_TEXT_CHARS:
        return _esc(text)
    more = len(text) - MAX_TEXT_CHARS
    link = f'<a class="meta" href="{_esc(records_link)}">\u2026 {more} more characters: the full record</a>'
    return f"{_esc(text[:MAX_TEXT_CHARS])} {link}"


def _strip_img(out_dir: Path, record: BuildRecord) -> str:
    path = strip_path(out_dir, record.id)
    if not path.exists():
        return '<div class="nostrip">no frames (the video did not decode)</div>'
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="strip" alt="frames of {_esc(record.id)}" src="data:image/jpeg;base64,{data}">'


def _units(record: BuildRecord, records_link: str) -> str:
    if not record.units:
        return ""
    verdicts = record.unit_verdicts or []
    items = []
    for index, unit in enumerate(record.units):
        verdict = verdicts[index] if index < len(verdicts) else None
        supported = verdict.supported if verdict is not None else None
        css = "unknown" if supported is None else ("yes" if supported else "no")
        mark = "?" if supported is None else ("\u2713" if supported else "\u2717")
        p_yes = getattr(verdict, "p_yes", None) if verdict is not None else None
        extra = f' <span class="meta">p(yes) {p_yes:.2f}</span>' if isinstance(p_yes, (int, float)) else ""
        items.append(f'<li class="{css}">{mark} {_cut(unit, records_link)}{extra}</li>')
    return '<div class="label">units</div><ol class="units">' + "".join(items) + "</ol>"


def _why(record: BuildRecord) -> str:
    if record.status == "kept":
        return f"kept: unit accuracy {record.unit_accuracy:.3f} \u2265 threshold {record.threshold:g}"
    if record.status == "rejected":
        return f"rejected: {record.rejection_reason}"
    failure = record.failure
    return f"failed at {failure.stage} ({failure.kind}): {failure.message}" if failure else f"failed: {record.error}"


def card(out_dir: Path, record: BuildRecord, records_link: str = "../records.jsonl") -> str:
    """One record's card; texts longer than ``MAX_TEXT_CHARS`` are cut, with a link to ``records_link``."""
    accuracy = f"unit accuracy {record.unit_accuracy:.3f}" if record.unit_accuracy is not None else ""
    trims = ""
    if record.start is not None or record.end is not None:
        trims = f" clip {record.start or 0:g}-{record.end if record.end is not None else 'end'} s"
    parts = [
        f'<article class="card {record.status}" data-status="{record.status}" data-id="{_esc(record.id)}">',
        f'<h2><span class="badge {record.status}">{record.status}</span>{_esc(record.id)}'
        f'<span class="meta">{_esc(accuracy)}{_esc(trims)} \u00b7 {_esc(record.video)}</span></h2>',
        _strip_img(out_dir, record),
    ]
    for label, text in (("motion caption", record.motion_caption), ("fused caption", record.fused_caption)):
        if text:
            parts.append(f'<div class="label">{label}</div><p class="caption">{_cut(text, records_link)}</p>')
    parts.append(_units(record, records_link))
    parts.append(f'<div class="why">{_cut(_why(record), records_link)}</div></article>')
    return "\n".join(parts)


def write_viewer(path: Path, out_dir: Path, records: list[BuildRecord], stats: dict[str, Any], max_cards: int) -> Path:
    """Write the viewer page for ``records`` (the first ``max_cards``) to ``path``."""
    counts = stats["counts"]
    shown = records[:max_cards]
    buttons = [f'<button class="filter" data-filter="all">all ({counts["records"]})</button>']
    buttons += [
        f'<button class="filter" data-filter="{status}">{status} ({counts[status]})</button>'
        for status in ("kept", "rejected", "failed")
    ]
    note = "" if len(shown) == len(records) else f" (first {len(shown)} of {len(records)} records)"
    records_link = Path(os.path.relpath(out_dir / RECORDS, path.parent)).as_posix()
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>HMD build: {_esc(out_dir.name)}</title><style>{_STYLE}</style></head>
<body><header><h1>HMD build \u00b7 {_esc(out_dir.name)}</h1>{"".join(buttons)}
<input id="search" type="search" placeholder="search id or text">
<span class="meta">showing <span id="shown">{len(shown)}</span>{_esc(note)}</span></header>
<main>
{"".join(card(out_dir, record, records_link) for record in shown)}
</main><script>{_SCRIPT}</script></body></html>
"""
    write_text_atomic(path, page)
    return path
