"""The report's PNG plots (matplotlib, Agg): FGE verdicts, SFT loss, DPO and GRPO curves, weight change, evaluations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MODEL_COLOURS = {"base": "#9e9e9e", "sft": "#1f77b4", "dpo": "#2ca02c", "grpo": "#d62728"}


def _figure(*, ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 3.6)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
    return plt, fig, axes


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sft_loss(curve: list[list[float]], path: Path) -> Path:
    plt, fig, axes = _figure()
    ax = axes[0][0]
    ax.plot([step for step, _ in curve], [loss for _, loss in curve], marker="o", markersize=3, color="#1f77b4")
    ax.set(title="SFT: training loss", xlabel="step", ylabel="loss")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def grpo_curves(curves: dict[str, list[list[float]]], path: Path) -> Path:
    panels = (
        ("reward per completion", ("reward", "rewards/cser/mean", "rewards/length/mean"), ("total", "CSER", "length")),
        ("reward std within groups", ("reward_std", "frac_reward_zero_std"), ("reward_std", "share of flat groups")),
        ("gradient norm", ("grad_norm",), ("grad_norm",)),
        ("completion length (tokens)", ("completions/mean_length",), ("mean",)),
    )
    return _curve_grid("GRPO", curves, panels, path)


def dpo_curves(curves: dict[str, list[list[float]]], path: Path) -> Path:
    """DPO per logged step: reward accuracy (a coin's 0.5 dashed), the chosen - rejected margin, each side's
    implicit reward, the loss."""
    panels = (
        ("reward accuracy (chosen > rejected)", ("rewards/accuracies",), ("accuracy",)),
        ("reward margin (chosen - rejected)", ("rewards/margins",), ("margin",)),
        ("implicit reward beta x log(policy / ref)", ("rewards/chosen", "rewards/rejected"), ("chosen", "rejected")),
        ("loss", ("loss",), ("loss",)),
    )
    return _curve_grid("DPO", curves, panels, path, chance=0.5)


def _curve_grid(stage: str, curves, panels, path: Path, *, chance: float | None = None) -> Path:
    """A 2x2 grid of per-step curves; ``panels`` are ``(title, curve names, legend labels)``; ``chance`` draws a
    dashed line on the first panel."""
    plt, fig, axes = _figure(ncols=2, nrows=2, size=(9.6, 6.4))
    for ax, (title, names, labels) in zip(axes.flat, panels, strict=True):
        for name, label in zip(names, labels, strict=True):
            points = curves.get(name) or []
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], marker="o", markersize=3, label=label)
        ax.set(title=f"{stage}: {title}", xlabel="step")
        ax.grid(alpha=0.3)
        if len(names) > 1:
            ax.legend(fontsize=8)
    if chance is not None:
        axes[0][0].axhline(chance, color="black", linestyle="--", linewidth=1)
    return _save(plt, fig, path)


def weight_change(changes: dict[str, dict[str, Any]], path: Path) -> Path:
    """Grouped bars: relative weight change of each model part, one group per training stage."""
    plt, fig, axes = _figure()
    ax = axes[0][0]
    parts = sorted({part for change in changes.values() for part in change})
    width = 0.8 / max(len(changes), 1)
    for index, (stage, change) in enumerate(changes.items()):
        values = [change.get(part, {}).get("relative", 0.0) for part in parts]
        xs = [position + index * width for position in range(len(parts))]
        ax.bar(xs, values, width, label=stage, color=_MODEL_COLOURS.get(stage))
    ax.set_xticks([position + width * (len(changes) - 1) / 2 for position in range(len(parts))], parts)
    ax.set(title="How far each stage moved the weights", ylabel="||after - before|| / ||before||")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return _save(plt, fig, path)


def eval_bars(models: dict[str, dict[str, Any]], scores: tuple[str, ...], path: Path) -> Path:
    """Grouped bars: each score (x) for each model (colour)."""
    plt, fig, axes = _figure(size=(8.0, 3.8))
    ax = axes[0][0]
    width = 0.8 / max(len(models), 1)
    for index, (model, means) in enumerate(models.items()):
        values = [means.get(score) or 0.0 for score in scores]
        xs = [position + index * width for position in range(len(scores))]
        ax.bar(xs, values, width, label=model, color=_MODEL_COLOURS.get(model))
    ax.set_xticks([position + width * (len(models) - 1) / 2 for position in range(len(scores))], scores)
    ax.set(title="Captions scored against the references (mean per model)", ylabel="score")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return _save(plt, fig, path)


def verdict_probabilities(histograms: dict[str, list[int]], threshold: float, path: Path) -> Path:
    """The verifier's p(yes) per unit, binned over [0, 1], one colour per build, with the yes/no decision line."""
    plt, fig, axes = _figure()
    ax = axes[0][0]
    for name, counts in histograms.items():
        edges = [index / len(counts) for index in range(len(counts) + 1)]
        ax.stairs(counts, edges, fill=True, alpha=0.6, label=f"{name} ({sum(counts)} units)")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label="yes above this (p(yes) > p(no))")
    ax.set(title="FGE: the verifier's p(yes) for each unit", xlabel="p(yes)", ylabel="units", xlim=(0.0, 1.0))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def benchmark_bars(panels: list[tuple[str, dict[str, dict[str, float | None]]]], groups: list[str], path: Path) -> Path:
    """Panels of grouped bars: one group per dimension or category (x), one bar per caption source (colour);
    ``panels`` are ``(title, {source: {group: value}})``."""
    plt, fig, axes = _figure(ncols=len(panels), size=(5.2 * len(panels), 3.8))
    for ax, (title, runs) in zip(axes[0], panels, strict=True):
        width = 0.8 / max(len(runs), 1)
        for index, (source, values) in enumerate(runs.items()):
            heights = [values.get(group) or 0.0 for group in groups]
            xs = [position + index * width for position in range(len(groups))]
            ax.bar(xs, heights, width, label=source, color=_MODEL_COLOURS.get(source))
        ax.set_xticks([position + width * (len(runs) - 1) / 2 for position in range(len(groups))], groups)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.set(title=title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return _save(plt, fig, path)
