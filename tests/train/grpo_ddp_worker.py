"""Run by test_grpo_distributed.py under ``torchrun --standalone --nproc_per_node 2``: two GRPO steps with DDP.

Each rank writes the checksums of its vision tower's parameters before and after, and the steps it ran, to OUT_DIR.
"""

import json
import sys
from pathlib import Path

import torch
from grpo_support import distinct_chars, make_trainer

from owlcap.train.saving import end_process_group


def main(model_dir: str, out_dir: str, *videos: str) -> None:
    trainer = make_trainer(Path(model_dir), "qwen2_5_vl", [distinct_chars], [Path(v) for v in videos], Path(out_dir),
                           per_device_train_batch_size=2, max_steps=2, ddp_find_unused_parameters=True)  # fmt: skip
    visual = trainer.accelerator.unwrap_model(trainer.model).model.visual

    def checksum() -> list[float]:
        return [float(p.detach().double().sum()) for p in visual.parameters()]

    before = checksum()
    trainer.train()
    rank = trainer.accelerator.process_index
    record = {"rank": rank, "before": before, "after": checksum(), "steps": trainer.state.global_step}
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(record), encoding="utf-8")
    end_process_group()  # as the recipes end: a rank left to tear gloo down at exit can abort (SIGABRT)


if __name__ == "__main__":
    torch.manual_seed(0)
    main(*sys.argv[1:])
