"""How both recipes end: the trained model and its processor in ``output_dir``, then the process group closed.

A full model is saved as one ordinary checkpoint (FSDP's sharded state gathered first). A LoRA run saves its
adapter in ``output_dir/adapter`` and, with ``merge_lora`` (default), the base model with the adapter merged in
``output_dir``, so ``owlcap caption --model OUTPUT_DIR`` works either way. ``README.md`` is owlcap's model card
(base model, recipe, tuning, data, steps, how to caption with it), replacing TRL's draft, which names a base model
only when it is a hub id ("fine-tuned version of [None]" for a local SFT checkpoint).

The entry points (``run_sft``, ``run_grpo``: one run per process) then call :func:`end_process_group`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from owlcap.train.modeling import load_training_model

if TYPE_CHECKING:
    from transformers import Trainer

    from owlcap.train.run_config import TrainRunConfig

logger = logging.getLogger(__name__)


def save_final_model(trainer: Trainer, config: TrainRunConfig, *, recipe: str = "sft") -> tuple[str, str | None]:
    """Save the trained model with its processor and model card; returns ``(model_dir, adapter_dir or None)``.

    LoRA adapters are saved by the trainer (which gathers ZeRO-3 shards), then merged into a fresh copy of the base
    model on the main process, so the merge never touches partitioned weights.
    """
    from peft import PeftModel

    output = Path(config.output_dir)
    if trainer.is_fsdp_enabled:
        # Checkpoints stay sharded (fast, resumable); the final model must be one ordinary checkpoint.
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    unwrapped.config.use_cache = True  # training turned the KV cache off; generation wants it back
    trainer.save_state()  # trainer_state.json (the whole log history) next to the final model
    if not isinstance(unwrapped, PeftModel):
        trainer.save_model(str(output))
        if trainer.is_world_process_zero():
            write_model_card(output, config, recipe, trainer.state.global_step)
        return str(output), None
    adapter = output / "adapter"
    trainer.save_model(str(adapter))
    if config.merge_lora and trainer.is_world_process_zero():
        with _zero3_init_disabled():
            merge_lora_adapter(config, adapter, output)
    if trainer.is_world_process_zero():
        write_model_card(output, config, recipe, trainer.state.global_step)
    trainer.accelerator.wait_for_everyone()
    return (str(output) if config.merge_lora else str(adapter)), str(adapter)


def write_model_card(output: Path, config: TrainRunConfig, recipe: str, steps: int) -> Path:
    """``output/README.md``: what the model is and how it was made, with the hub's metadata header."""
    from owlcap.models.loading import looks_like_path

    base = config.model.name_or_path
    on_hub = not Path(base).expanduser().exists() and not looks_like_path(base)
    header = ["---", "library_name: transformers", "pipeline_tag: video-text-to-text"]
    if on_hub:
        header.append(f"base_model: {base}")
    header += ["tags: [owlcap, video-captioning, " + recipe + ", trl]", "---", ""]
    source = f"[{base}](https://huggingface.co/{base})" if on_hub else f"`{base}` (a local checkpoint)"
    how = {
        "sft": "supervised fine-tuning (SFT) on HMD captions",
        "grpo": "GRPO with the CSER + length reward",
        "dpo": "DPO on video preference pairs",
    }
    files = ", ".join(f"`{name}`" for name in config.data.train_files)
    lora = ""
    if config.model.tuning == "lora":
        lora = " (merged into these weights; the adapter alone is in `adapter/`)" if config.merge_lora else ""
        lora = lora or " (the adapter is in `adapter/`; merge_lora was off, so no merged model here)"
    body = [
        f"# {output.resolve().name}",
        "",
        f"A video captioner fine-tuned from {source} with owlcap's {how.get(recipe, recipe)}, {config.model.tuning} "
        f"tuning{lora}, for {steps} step(s) on {files}.",
        "",
        "Caption videos with it:",
        "",
        "```bash",
        f"owlcap caption VIDEOS --model {output} --out captions.jsonl",
        "```",
        "",
        f"The resolved run config is in `owlcap_config.yaml`, every logged step in `metrics.jsonl`, the run's summary "
        f"in `{recipe}_result.json`.",
        "",
    ]
    path = output / "README.md"
    path.write_text("\n".join(header + body), encoding="utf-8")
    return path


@contextlib.contextmanager
def _zero3_init_disabled() -> Iterator[None]:
    """Load models whole while ZeRO-3 is on: from_pretrained would otherwise partition the base for the merge."""
    from transformers.integrations import deepspeed as hf_deepspeed

    if not hf_deepspeed.is_deepspeed_zero3_enabled():
        yield
        return
    # transformers keeps the active DeepSpeed config behind one module-level weak reference; restore that object.
    active = hf_deepspeed._hf_deepspeed_config_weak_ref()
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed.set_hf_deepspeed_config(active)


def merge_lora_adapter(config: TrainRunConfig, adapter: Path, output: Path) -> None:
    """Load the base model, apply the adapter, merge it, and save a plain model + processor to ``output``."""
    from peft import PeftModel

    base, processor = load_training_model(config.model)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.config.use_cache = True
    merged.save_pretrained(str(output))
    processor.save_pretrained(str(output))
    logger.info("merged LoRA adapter %s into %s", adapter, output)


def end_process_group() -> None:
    """Wait for every rank, then destroy the process group; nothing to do in a single process.

    Left to interpreter exit, each rank tears gloo/NCCL down at its own moment while the others are exiting, and
    gloo can answer a connection closed under its loop thread with ``std::terminate`` (SIGABRT): a finished run
    would end as a failed one. After this no collective may run in the process: call it once, when the run is over.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
