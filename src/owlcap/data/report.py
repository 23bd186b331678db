"""The build report's PNG plots (matplotlib, Agg): kept ratio, unit accuracy, caption length, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from owlcap.data.schema import BuildRecord

_COLOURS = {"kept": "#2da44e", "rejected": "#d4a72c", "failed": "#cf222e"}


def write_plots(folder: Path, records: list[BuildRecord], stats: dict[str, Any], threshold: float) -> dict[str, str]:
    """Write the four plots into ``folder``; returns ``{name: path}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = {}
    for name, draw in (
        ("kept_ratio", _kept_ratio),
        ("unit_accuracy", _unit_accuracy),
        ("caption_length", _caption_length),
        ("failures", _failures),
    ):
        figure, axes = plt.subplots(figsize=(6.4, 3.6), dpi=100)
        draw(axes, records, stats, threshold)
        figure.tight_layout()
        path = folder / f"{name}.png"
        figure.savefig(path)
        plt.close(figure)
        paths[f"plot_{name}"] = str(path)
    return paths


def _kept_ratio(axes: Any, records: list[BuildRecord], stats: dict[str, Any], threshold: float) -> None:
    counts = stats["counts"]
    names = ["kept", "rejected", "failed"]
    values = [counts[name] for name in names]
    bars = axes.bar(names, values, color=[_COLOURS[name] for name in names])
    total = max(1, sum(values))
    for bar, value in zip(bars, values, strict=True):
        axes.annotate(
            f"{value} ({100 * value / total:.0f}%)",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
        )
    ratio = stats.get("kept_ratio")
    title = f"records: {counts['records']}" + (f", kept {100 * ratio:.1f}% of examined" if ratio is not None else "")
    axes.set_title(title)
    axes.set_ylabel("records")
    axes.set_ylim(0, max(values + [1]) * 1.2)


def _unit_accuracy(axes: Any, records: list[BuildRecord], stats: dict[str, Any], threshold: float) -> None:
    values = [r.unit_accuracy for r in records if r.unit_accuracy is not None]
    axes.hist(values, bins=[i / 20 for i in range(21)], color="#0969da", edgecolor="white")
    axes.axvline(threshold, color="#cf222e", linestyle="--", label=f"threshold {threshold:g}")
    axes.set_xlim(0, 1)
    axes.set_xlabel("unit accuracy (units the video supports / all units)")
    axes.set_ylabel("records")
    axes.set_title(f"unit accuracy of {len(values)} examined records")
    axes.legend(loc="upper left")


def _caption_length(axes: Any, records: list[BuildRecord], stats: dict[str, Any], threshold: float) -> None:
    fused = [len(r.fused_caption.split()) for r in records if r.fused_caption]
    motion = [len(r.motion_caption.split()) for r in records if r.motion_caption]
    top = max(fused + motion + [10])
    bins = list(range(0, top + top // 20 + 2, max(1, top // 20)))
    if motion:
        axes.hist(motion, bins=bins, alpha=0.6, color="#8250df", label=f"motion ({len(motion)})")
    axes.hist(fused, bins=bins, alpha=0.6, color="#0969da", label=f"fused ({len(fused)})")
    axes.set_xlabel("words")
    axes.set_ylabel("captions")
    axes.set_title("caption length")
    axes.legend(loc="upper right")


def _failures(axes: Any, records: list[BuildRecord], stats: dict[str, Any], threshold: float) -> None:
    by_cause = stats["failures"]["by_cause"]
    if not by_cause:
        axes.text(0.5, 0.5, "no failures", ha="center", va="center", fontsize=14, color="#2da44e")
        axes.set_axis_off()
        return
    names = list(by_cause)[:12][::-1]
    axes.barh(names, [by_cause[name] for name in names], color=_COLOURS["failed"])
    axes.set_xlabel("records")
    axes.set_title("failures by stage: cause")
