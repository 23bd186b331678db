"""The end of a run: the process group is closed once the run is over (save_final_model runs in the recipe tests)."""

import torch.distributed as dist

from owlcap.train.saving import end_process_group


def test_end_process_group_closes_an_open_group_and_is_a_no_op_without_one(tmp_path):
    end_process_group()  # a single-process run opened none
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        end_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
