"""Resuming from a Trainer checkpoint without silently losing the model weights.

The trap (transformers 5.20, seen on Qwen2.5-VL; reported upstream as QwenLM/Qwen3-VL#1763 and
modelscope/ms-swift#7947): ``save_pretrained`` writes checkpoints in the model's original key layout
(``visual.*``, ``model.layers.*``) for backward compatibility, but ``Trainer._load_from_checkpoint`` reads them back
with a plain ``load_state_dict(strict=False)`` that knows nothing of that mapping. Every key misses, a warning is
logged, and training "resumes" from the base weights with the restored optimizer state: the loss jumps back up.

:class:`CheckpointWeightsMixin` fixes the plain (single-device / DDP) path by loading the checkpoint with
``from_pretrained`` (which applies the key mapping) and copying it in strictly. DeepSpeed and FSDP checkpoints keep
their own loaders (their state files hold the live module keys), and PEFT checkpoints hold only adapters, which
PEFT loads itself. Mix it in before the TRL trainer: ``class MyTrainer(CheckpointWeightsMixin, SFTTrainer)``.
The GRPO trainer needs it for the same reason.

:func:`resolve_resume` is where both recipes decide which checkpoint to resume from (``resume_from_checkpoint``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from owlcap.errors import ConfigError

if TYPE_CHECKING:
    from owlcap.train.run_config import TrainRunConfig

logger = logging.getLogger(__name__)

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def has_full_weights(checkpoint: str | Path) -> bool:
    """True when ``checkpoint`` holds a whole model (not only an adapter or a sharded-engine state)."""
    folder = Path(checkpoint)
    return (folder / "config.json").is_file() and any((folder / name).is_file() for name in _WEIGHT_FILES)


def load_checkpoint_weights(model, checkpoint: str | Path) -> None:
    """Copy the weights saved in ``checkpoint`` into ``model``; every parameter must be found (strict)."""
    import torch

    dtype = next(model.parameters()).dtype
    reference = type(model).from_pretrained(str(checkpoint), dtype=dtype)
    with torch.no_grad():
        model.load_state_dict(reference.state_dict(), strict=True)
    del reference
    logger.info("model weights restored from %s", checkpoint)


class CheckpointWeightsMixin:
    """Trainer mixin: resume loads full-model checkpoints through ``from_pretrained`` (see the module docstring)."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        from peft import PeftModel

        target = self.model if model is None else model
        plain = not (self.is_fsdp_enabled or self.is_deepspeed_enabled or isinstance(target, PeftModel))
        if plain and has_full_weights(resume_from_checkpoint):
            load_checkpoint_weights(target, resume_from_checkpoint)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)


def resolve_resume(config: TrainRunConfig) -> str | None:
    """The checkpoint to resume from: ``auto`` = newest in ``output_dir`` (or none yet), a path, or ``None``."""
    from transformers.trainer_utils import get_last_checkpoint

    choice = config.resume_from_checkpoint
    output = Path(config.output_dir)
    if choice is None:
        if output.is_dir() and get_last_checkpoint(str(output)):
            logger.warning("%s holds checkpoints but resume_from_checkpoint is null: starting over", output)
        return None
    if choice == "auto":
        return last_complete_checkpoint(output)
    if not Path(choice).is_dir():
        raise ConfigError(f"resume_from_checkpoint: {choice} is not a checkpoint folder (use auto, a path, or null)")
    return choice


def last_complete_checkpoint(output: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in ``output`` that Trainer finished writing, or ``None``.

    Trainer writes ``trainer_state.json`` last; a folder without a readable one was cut short mid-save (kill -9)
    and resuming from it would fail, so it is skipped (with a warning) for the one before it.
    """
    import json

    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    folder = Path(output)
    if not folder.is_dir():
        return None
    steps = []
    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-")
        if path.is_dir() and suffix.isdigit():
            steps.append((int(suffix), path))
    for _, path in sorted(steps, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.warning("%s was cut short while being saved; resuming from an earlier checkpoint", path)
            continue
        return str(path)
    return None
