"""Grouped bar plots with interval whiskers (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import math
from pathlib import Path


def grouped_bars(
    path: Path,
    panels: list[dict],
    *,
    title: str,
) -> Path:
    """One PNG with a panel per entry of ``panels``: ``{"groups": [...], "series": {name: [values]},
    "intervals": {name: [[lo, hi] | None]}, "ylabel": str}``. Missing values (``None``/NaN) leave a gap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        groups, series = panel["groups"], panel["series"]
        width = 0.8 / max(1, len(series))
        for offset, (name, values) in enumerate(series.items()):
            positions = [i - 0.4 + width * (offset + 0.5) for i in range(len(groups))]
            heights = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
            bars = axis.bar(positions, heights, width, label=name)
            bounds = (panel.get("intervals") or {}).get(name)
            if bounds:
                low = [h - b[0] if b else 0.0 for h, b in zip(heights, bounds, strict=True)]
                high = [b[1] - h if b else 0.0 for h, b in zip(heights, bounds, strict=True)]
                axis.errorbar(positions, heights, yerr=[low, high], fmt="none", ecolor="black", capsize=3, lw=1)
            for bar, value in zip(bars, values, strict=True):
                if value is None or not math.isfinite(value):
                    axis.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=7)
        axis.set_xticks(range(len(groups)))
        axis.set_xticklabels(groups, rotation=20, ha="right")
        axis.set_ylabel(panel["ylabel"])
        axis.grid(axis="y", alpha=0.3)
        if len(series) > 1:
            axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def scaled(values: list[float | None], factor: float) -> list[float | None]:
    return [v * factor if v is not None else None for v in values]


def scaled_intervals(bounds: list[list[float] | None], factor: float) -> list[list[float] | None]:
    return [[b[0] * factor, b[1] * factor] if b else None for b in bounds]
