"""Video GRPO under DDP: two CPU processes (gloo) launched by torchrun, as accelerate/torchrun launch GPUs.

The vision tower runs outside the DDP module's forward call (its features enter through ``mm_encoder_outputs``), so
this checks that DDP still all-reduces its gradients: both ranks train on different videos and must end with the
same, changed, vision weights.
"""

import json
import os
from pathlib import Path

import pytest
from helpers.launch import torchrun

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("grpo_ddp_worker.py")


def test_two_processes_keep_the_vision_tower_in_sync(tiny_qwen25, hmd_videos, tmp_path):
    args = [str(WORKER), str(tiny_qwen25), str(tmp_path), *(str(v) for v in hmd_videos[:2])]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(WORKER.parent)}
    result = torchrun(args, timeout=180, env=env, cwd=WORKER.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["steps"] for r in ranks] == [2, 2]
    assert all(before != after for before, after in zip(ranks[0]["before"], ranks[0]["after"], strict=True))
    assert ranks[0]["after"] == ranks[1]["after"]
