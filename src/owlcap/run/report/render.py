"""The report's two readable forms: ``report.md`` (images beside it) and ``index.html`` (one self-contained page,
images inline as base64). Both are built from the same sections, so they always say the same thing."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from owlcap.run.stages.evaluate import SCORES

WEIGHT_PARTS = ("vision tower", "projector", "language model")


@dataclass
class Section:
    """One part of the report: an id (the HTML anchor), a title, paragraphs, tables and images."""

    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{value:.{digits}f}"
    return str(value)


def sections(report: dict[str, Any], images: dict[str, Path]) -> list[Section]:
    """The report's sections in pipeline order; a stage that did not run is said so, not hidden."""
    overview = Section("overview", "Stages")
    rows = []
    for name, stage in report["stages"].items():
        seconds = stage.get("seconds")
        status = stage["status"] + (" (resumed)" if stage.get("resumed") else "")
        rows.append([name, status, "" if seconds is None else f"{seconds:.1f}"])
    overview.tables.append((["stage", "status", "wall time (s)"], rows))
    headlines = _headlines(report)
    if headlines:
        overview.tables.append((["figure", "value"], headlines))
    overview.paragraphs += report.get("notes", [])
    found = [overview]
    builders = {
        "data": _data_section,
        "sft": _sft_section,
        "dpo": _dpo_section,
        "grpo": _grpo_section,
        "caption": _caption_section,
        "eval": _eval_section,
    }
    for name in report["stages"]:
        if name in builders:
            found.append(builders[name](report, images))
        if name == "eval":
            found += [
                _benchmark_section(benchmark, runs, images)
                for benchmark, runs in (report.get("eval") or {}).items()
                if benchmark in BENCHMARKS
            ]
    return found


def _headlines(report: dict[str, Any]) -> list[list[str]]:
    """The few figures that say whether the run learned, first."""
    rows = []
    train = (report.get("data") or {}).get("train")
    if train:
        rows.append(
            [
                f"HMD records kept (fge.threshold {train['threshold']})",
                f"{train['kept']} / {train['records']}; at the paper's 0.9: {train['kept_at_paper_threshold']}",
            ]
        )
    sft = report.get("sft") or {}
    if sft.get("loss"):
        rows.append(["SFT loss, first -> last step", f"{_fmt(sft['loss_first'])} -> {_fmt(sft['loss_last'])}"])
    dpo = report.get("dpo") or {}
    if dpo.get("steps"):
        rows += _dpo_headlines(report)
    grpo = report.get("grpo") or {}
    if grpo.get("steps"):
        rows.append(["GRPO steps with reward_std > 0", f"{grpo['steps_with_reward_std']} / {grpo['steps']}"])
        rows.append(["GRPO steps with grad_norm > 0", f"{grpo['steps_with_grad']} / {grpo['steps']}"])
        rows += _vision_moved(report, "grpo")
    cser = (report.get("eval") or {}).get("cser")
    if cser:
        scores = ", ".join(f"{model} {_fmt(means.get('reward'))}" for model, means in cser["models"].items())
        rows.append(["caption reward (CSER + length) per model", scores])
    for benchmark, (name, metrics) in BENCHMARKS.items():
        runs = (report.get("eval") or {}).get(benchmark) or {}
        for source, run in runs.items():
            figures = ", ".join(f"{label} {_metric(run['headline'], key)}" for key, label in metrics)
            rows.append([f"{name} ({source})", figures])
    return rows


def _vision_moved(report: dict[str, Any], stage: str) -> list[list[str]]:
    """The headline row of how many vision-tower tensors a training stage changed (none when not measured)."""
    vision = ((report["stages"][stage].get("summary") or {}).get("weight_change") or {}).get("vision tower")
    if not vision:
        return []
    moved = f"{vision['changed']} / {vision['tensors']} tensors (relative change {_fmt(vision['relative'], 4)})"
    return [[f"vision tower weights changed by {stage.upper()}", moved]]


def _metric(headline: dict[str, Any], key: str) -> str:
    """A benchmark figure as the papers print it: percent with one decimal; VDC's score (0-5) with two."""
    value = headline.get(key)
    if value is None:
        return "n/a"
    return f"{value:.2f}" if key.endswith(".score") else f"{100 * value:.1f}"


def _weights_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    change = summary.get("weight_change")
    if not change:
        return None
    rows = [
        [part, _fmt(change[part]["relative"], 4), f"{change[part]['changed']} / {change[part]['tensors']}"]
        for part in WEIGHT_PARTS
        if part in change
    ]
    return ["part", "relative change", "tensors changed"], rows


def _data_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-data", "Data (HMD build: MDF + FGE)")
    builds = report.get("data") or {}
    if not builds:
        section.paragraphs.append("The data stage has not run.")
        return section
    train = builds["train"]
    verify = train["verify"]
    section.paragraphs.append(
        f"Models: {_models(train['models'])}. FGE verifies each unit ({verify['mode']}, decision by "
        f"{verify['decision']}) and keeps a record when its unit accuracy reaches {train['threshold']} (the paper: "
        f"0.9). The kept records of 'train' (data/hmd.jsonl) are what SFT and GRPO train on"
        + ("; 'preview' went through MDF + FGE for this report only." if "preview" in builds else ".")
    )
    header = ["build", "records", "kept", "rejected", "failed", "kept at 0.9", "mean unit accuracy", "seconds"]
    rows = [
        [name, str(b["records"]), str(b["kept"]), str(b["rejected"]), str(b["failed"])]
        + [str(b["kept_at_paper_threshold"]), _fmt(b["unit_accuracy_mean"]), _fmt(b["seconds"], 1)]
        for name, b in builds.items()
    ]
    section.tables.append((header, rows))
    for name, build in builds.items():
        columns = ["record", "status", "unit accuracy", "units supported", "motion caption", "caption", "first units"]
        examples = [
            [e["id"], e["status"], _fmt(e["unit_accuracy"]), f"{e['supported']} / {e['units']}"]
            + [e["motion_caption"] or "(from the input)", e["caption"], _units(e["first_units"])]
            for e in build["examples"]
        ]
        section.tables.append(([f"{name}: {columns[0]}", *columns[1:]], examples))
    section.images += [images[key] for key in ("data",) if key in images]
    return section


def _models(models: dict[str, str | None]) -> str:
    return ", ".join(f"{stage} {spec}" for stage, spec in models.items() if spec)


def _units(units: list[dict[str, Any]]) -> str:
    marks = {True: "yes", False: "no", None: "?"}
    return " | ".join(f"[{marks[u['supported']]}, p={_fmt(u['p_yes'], 2)}] {u['unit']}" for u in units)


def _sft_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-sft", "SFT")
    sft = report.get("sft") or {}
    if not sft.get("loss"):
        section.paragraphs.append("SFT has not run (no loss logged).")
        return section
    section.paragraphs.append(
        f"Training loss {_fmt(sft['loss_first'])} at the first logged step, {_fmt(sft['loss_last'])} at step "
        f"{sft['steps']}."
    )
    table = _weights_table(report["stages"]["sft"].get("summary", {}))
    if table:
        section.tables.append(table)
    section.images += [images[key] for key in ("sft_loss",) if key in images]
    return section


def _dpo_headlines(report: dict[str, Any]) -> list[list[str]]:
    curves = report["dpo"]["curves"]
    rows = []
    for name, label in (("rewards/accuracies", "DPO reward accuracy"), ("rewards/margins", "DPO reward margin")):
        points = curves.get(name) or []
        if points:
            rows.append([f"{label}, first -> last step", f"{_fmt(points[0][1])} -> {_fmt(points[-1][1])}"])
    return rows + _vision_moved(report, "dpo")


def _dpo_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-dpo", "DPO")
    dpo = report.get("dpo") or {}
    if not dpo.get("steps"):
        section.paragraphs.append("DPO has not run (no step logged).")
        return section
    section.paragraphs.append(
        f"{dpo['pairs']} preference pairs, {dpo['steps']} steps logged. Reward accuracy is the share of pairs whose "
        "chosen caption the policy now prefers over the rejected one more than the reference model did (0.5 is a "
        "coin); the margin is how much more, in beta x log-probability."
    )
    sources = [
        [source, str(counts.get("made", "")), str(counts.get("kept", ""))]
        for source, counts in dpo["by_source"].items()
    ]
    if sources:
        section.tables.append((["pair source", "pairs made", "pairs trained on"], sources))
    if dpo.get("no_pair"):
        section.tables.append((["why no pair", "times"], [[why, str(n)] for why, n in dpo["no_pair"].items()]))
    columns = ("loss", "rewards/accuracies", "rewards/margins", "rewards/chosen", "rewards/rejected")
    rows = _curve_rows(dpo["curves"], columns)
    section.tables.append((["step", "loss", "reward accuracy", "margin", "chosen reward", "rejected reward"], rows))
    table = _weights_table(report["stages"]["dpo"].get("summary", {}))
    if table:
        section.tables.append(table)
    section.images += [images[key] for key in ("dpo",) if key in images]
    return section


def _grpo_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-grpo", "GRPO")
    grpo = report.get("grpo") or {}
    if not grpo.get("steps"):
        section.paragraphs.append("GRPO has not run (no step logged).")
        return section
    curves = grpo["curves"]
    section.paragraphs.append(
        f"{grpo['steps']} steps logged; reward_std > 0 on {grpo['steps_with_reward_std']} of them (rewards differ "
        f"within a group, so the advantages and the gradient are not zero), grad_norm > 0 on {grpo['steps_with_grad']}."
    )
    rows = _curve_rows(curves, ("reward", "reward_std", "grad_norm", "rewards/cser/mean", "rewards/length/mean"))
    section.tables.append((["step", "reward", "reward_std", "grad_norm", "CSER", "length reward"], rows))
    table = _weights_table(report["stages"]["grpo"].get("summary", {}))
    if table:
        section.tables.append(table)
    section.images += [images[key] for key in ("grpo", "weights") if key in images]
    return section


def _curve_rows(curves: dict[str, list[list[float]]], names: tuple[str, ...]) -> list[list[str]]:
    """One row per step of the first curve: the step, then each named curve's value at that step."""
    rows = []
    for index, (step, _) in enumerate(curves.get(names[0], [])):
        values = [curves.get(name, []) for name in names]
        rows.append([str(step)] + [_fmt(points[index][1]) if index < len(points) else "" for points in values])
    return rows


def _caption_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-caption", "Captions")
    captions = report.get("captions") or {}
    models = sorted({model for by_model in captions.values() for model in by_model}, key=_model_order)
    rows = [[video] + [by_model.get(model, "") for model in models] for video, by_model in captions.items()]
    if rows:
        section.tables.append((["video", *models], rows))
    else:
        section.paragraphs.append("No captions.")
    return section


def _eval_section(report: dict[str, Any], images: dict[str, Path]) -> Section:
    section = Section("stage-eval", "Evaluation")
    cser = (report.get("eval") or {}).get("cser")
    if not cser:
        section.paragraphs.append("No evaluation results.")
        return section
    section.paragraphs.append(
        f"CSER (judge: {cser['judge']}) and the length reward of each model's captions against the reference "
        f"captions in {cser['references']}; reward = CSER + length reward, as in GRPO."
    )
    header = ["model", *SCORES, "words", "scored", "failed"]
    rows = [
        [model, *(_fmt(means.get(score)) for score in SCORES), _fmt(means.get("words"), 1)]
        + [str(means.get("scored")), str(means.get("failed"))]
        for model, means in cser["models"].items()
    ]
    section.tables.append((header, rows))
    section.images += [images[key] for key in ("eval",) if key in images]
    return section


BENCHMARKS = {
    "vdc": ("VDC", (("average.acc", "average Acc"), ("average.score", "average Score"))),
    "dream1k": ("DREAM-1K", (("overall.f1", "F1"), ("overall.recall", "recall"), ("overall.precision", "precision"))),
    "carebench": ("CaReBench", (("events.f1", "action F1"), ("objects.f1", "object F1"))),
    "capability": ("CAPability", (("average.f1", "average F1"), ("average.precision", "precision"))),
}
TABLE_METRICS = {"vdc": ("acc", "score"), "capability": ("f1", "precision", "recall")}
"""The figures of each group in a benchmark's table (F1, recall, precision unless named here)."""
_SOURCE_NOTES = {
    "references": "the benchmark's reference captions judged as predictions (the judge's ceiling)",
    "captions": "the caption file the config names",
    "captioning": "the config's own captioning model",
}


def _benchmark_section(benchmark: str, runs: dict[str, Any], images: dict[str, Path]) -> Section:
    name, _ = BENCHMARKS[benchmark]
    section = Section(f"eval-{benchmark}", name)
    metric = TABLE_METRICS.get(benchmark, ("f1", "recall", "precision"))
    for source, run in runs.items():
        what = _SOURCE_NOTES.get(source, f"captions by the {source} model")
        if run.get("stand_in_videos"):
            what += ", of stand-in videos (not the benchmark's: the scores say nothing about the model)"
        counts = run["counts"]
        section.paragraphs.append(
            f"{source}: {what}; {counts.get('judged', 0)} of {counts.get('items', 0)} items judged by "
            f"{run['judge']} (preset {run['preset']}, prompt set {run['prompts']})"
            + ("" if run["complete"] else f"; INCOMPLETE: {'; '.join(run['problems'])}")
            + "."
        )
    notes = dict.fromkeys(note for run in runs.values() for note in run.get("notes", []))
    section.paragraphs += list(notes)
    groups = benchmark_groups(runs)
    header = ["source", *(f"{group} {'/'.join(metric)}" for group in groups)]
    rows = [
        [source] + ["/".join(_metric(run["headline"], f"{g}.{m}") for m in metric) for g in groups]
        for source, run in runs.items()
    ]
    section.tables.append((header, rows))
    folder = Path(next(iter(runs.values()))["out"]).parent
    section.paragraphs.append(
        "Accuracy, F1, recall and precision in percent, VDC score 0-5; n/a where no video or sample counted. "
        f"Each evaluation's own report (report.md, items.jsonl, plots) is in {folder}/<source>/."
    )
    section.images += [images[key] for key in (benchmark,) if key in images]
    return section


def benchmark_groups(runs: dict[str, Any]) -> list[str]:
    """The dimensions / categories in the runs' headline figures, in order, the average or overall last."""
    groups: dict[str, None] = {}
    for run in runs.values():
        groups.update(dict.fromkeys(key.rsplit(".", 1)[0] for key in run["headline"]))
    last = [name for name in groups if name in ("average", "overall")]
    return [name for name in groups if name not in last] + last


def _model_order(name: str) -> int:
    order = ("base", "sft", "dpo", "grpo")
    return order.index(name) if name in order else len(order)


# ------------------------------------------------------------------------------------------------------- markdown


def markdown(report: dict[str, Any], parts: list[Section]) -> str:
    lines = [f"# {report['title']}", "", f"Run directory: `{report['run_dir']}`", ""]
    for section in parts:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for header, rows in section.tables:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("| " + " | ".join("---" for _ in header) + " |")
            lines += ["| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows]
            lines.append("")
        lines += [f"![{image.stem}]({image.name})" for image in section.images]
        if section.images:
            lines.append("")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# ----------------------------------------------------------------------------------------------------------- html

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; padding: 0 1rem; }
section { margin-bottom: 2.5rem; }
table { border-collapse: collapse; margin: .8rem 0; width: 100%; font-size: .92rem; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
img { max-width: 100%; display: block; margin: .8rem 0; border: 1px solid #eee; }
p.note { color: #555; }
"""

# Marks the body with how many images decoded, so a headless browser test can see the page as a reader would.
_IMAGE_CHECK = """
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.imagesShown = images.filter((img) => img.complete && img.naturalWidth > 0).length;
});
"""


def html_page(report: dict[str, Any], parts: list[Section]) -> str:
    e = html.escape
    body = [f"<h1>{e(report['title'])}</h1>", f"<p>Run directory: <code>{e(report['run_dir'])}</code></p>"]
    nav = " · ".join(f'<a href="#{e(section.key)}">{e(section.title)}</a>' for section in parts)
    body.append(f"<nav>{nav}</nav>")
    for section in parts:
        body.append(f'<section id="{e(section.key)}"><h2>{e(section.title)}</h2>')
        body += [f"<p>{e(paragraph)}</p>" for paragraph in section.paragraphs]
        for header, rows in section.tables:
            head = "".join(f"<th>{e(cell)}</th>" for cell in header)
            cells = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
            body.append(f"<table><tr>{head}</tr>{cells}</table>")
        for image in section.images:
            data = base64.b64encode(image.read_bytes()).decode("ascii")
            body.append(f'<img alt="{e(image.stem)}" src="data:image/png;base64,{data}">')
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(report['title'])}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_IMAGE_CHECK}</script>\n</body></html>\n"
    )
