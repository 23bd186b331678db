"""How far training moved a model: the relative change of each part's weights between two saved checkpoints.

A training stage that claims to train must show its weights moved, and where: the vision tower (GRPO's video
trap: without the video in the loss forward the tower gets no gradient), the projector and the language model.
Tensors are read one at a time from the safetensors files, so two 7B checkpoints never sit in memory together.
"""

from __future__ import annotations

import math
from pathlib import Path

PARTS = ("vision tower", "projector", "language model")


def model_part(key: str) -> str:
    """Which part of a Qwen-VL style model a checkpoint key belongs to."""
    if "merger" in key or "multi_modal_projector" in key:
        return "projector"
    if key.startswith("visual.") or ".visual." in key or "vision_tower" in key or "vision_model" in key:
        return "vision tower"
    return "language model"


def weight_change(before: str | Path, after: str | Path) -> dict[str, dict[str, float | int]] | None:
    """Per part: ``relative`` = ||after - before|| / ||before|| over the part's tensors, ``changed`` / ``tensors``
    counts. ``None`` when either side is not a local folder of safetensors (a hub id, a LoRA-only save)."""
    import torch
    from safetensors import safe_open

    before_files, after_files = _tensor_files(before), _tensor_files(after)
    if not before_files or not after_files:
        return None
    sums = {part: {"delta": 0.0, "norm": 0.0, "changed": 0, "tensors": 0} for part in PARTS}
    for key, after_file in after_files.items():
        before_file = before_files.get(key)
        if before_file is None:
            continue
        with safe_open(str(before_file), "pt") as old, safe_open(str(after_file), "pt") as new:
            old_tensor = old.get_tensor(key).to(torch.float64)
            new_tensor = new.get_tensor(key).to(torch.float64)
        if old_tensor.shape != new_tensor.shape:
            continue
        delta = float(torch.linalg.vector_norm(new_tensor - old_tensor))
        bucket = sums[model_part(key)]
        bucket["delta"] += delta**2
        bucket["norm"] += float(torch.linalg.vector_norm(old_tensor)) ** 2
        bucket["changed"] += int(delta > 0)
        bucket["tensors"] += 1
    return {
        part: {
            "relative": math.sqrt(values["delta"]) / math.sqrt(values["norm"]) if values["norm"] else 0.0,
            "changed": values["changed"],
            "tensors": values["tensors"],
        }
        for part, values in sums.items()
        if values["tensors"]
    }


def _tensor_files(folder: str | Path) -> dict[str, Path]:
    """``{tensor key: safetensors file}`` of a model folder (one file or shards); empty when there is none."""
    from safetensors import safe_open

    folder = Path(folder)
    if not folder.is_dir():
        return {}
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            files.update(dict.fromkeys(handle.keys(), path))
    return files
