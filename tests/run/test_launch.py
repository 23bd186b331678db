"""``launch:``: a training stage runs as ``owlcap train`` under a distributed launcher, on the resolved config the
pipeline saved; checked for real with ``torchrun --nproc_per_node 1`` on CPU, and a launcher that fails is a stage
failure with its last output lines."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
from run_helpers import overrides

from owlcap.run import StageError, quickstart_config, run_pipeline
from owlcap.run.config import LaunchSection
from owlcap.run.launch import launch_command, launch_env

SRC = str(Path(__file__).resolve().parents[2] / "src")
TORCHRUN = f"{sys.executable} -m torch.distributed.run --nproc_per_node 1"


def test_the_command_is_the_launcher_then_owlcap_train_on_the_saved_config():
    config = Path("/runs/x/sft/config.yaml")
    accelerate = LaunchSection(command="accelerate launch --config_file configs/accelerate/zero2.yaml")
    assert launch_command(accelerate, "sft", config) == [
        "accelerate", "launch", "--config_file", "configs/accelerate/zero2.yaml",
        "-m", "owlcap.cli.main", "train", "sft", "/runs/x/sft/config.yaml",
    ]  # fmt: skip
    srun = LaunchSection(command="srun --nodes 2 bash -c 'accelerate launch --machine_rank $SLURM_NODEID {args}'")
    assert launch_command(srun, "grpo", config) == [
        "srun", "--nodes", "2", "bash", "-c",
        "accelerate launch --machine_rank $SLURM_NODEID -m owlcap.cli.main train grpo /runs/x/sft/config.yaml",
    ]  # fmt: skip
    assert launch_env(accelerate, 1)["OMP_NUM_THREADS"] == "1"
    assert launch_env(LaunchSection(command="x", env={"OMP_NUM_THREADS": "8"}), 1)["OMP_NUM_THREADS"] == "8"


@pytest.mark.slow
def test_sft_under_torchrun_on_cpu(run_copy):
    args = overrides(run_copy, sft__overrides__max_steps=1, sft__launch__command=TORCHRUN)
    args += ["--sft.launch.env", json.dumps({"PYTHONPATH": SRC})]
    result = run_pipeline(quickstart_config(), args, only="sft")
    assert {outcome.name: outcome.status for outcome in result.outcomes}["sft"] == "ran"
    summary = json.loads((run_copy / "sft" / "stage.json").read_text())["summary"]
    assert summary["launched"] and summary["global_step"] == 1 and summary["loss_first"] is not None
    log = (run_copy / "sft" / "launch.log").read_text()
    assert "SFT done" in log
    recorded = json.loads((run_copy / "sft" / "model" / "sft_result.json").read_text())
    assert recorded["global_step"] == 1 and recorded["output_dir"] == str(run_copy / "sft" / "model")


def test_a_failing_launcher_fails_the_stage_with_its_last_lines(run_copy):
    failing = "sh -c " + shlex.quote("echo launcher says no; exit 3")
    with pytest.raises(StageError, match=r"exited with status 3.*\n(.|\n)*launcher says no") as caught:
        run_pipeline(quickstart_config(), overrides(run_copy, sft__launch__command=failing), only="sft")
    assert caught.value.stage == "sft" and caught.value.finished == ["data"]
    assert "launcher says no" in (run_copy / "sft" / "launch.log").read_text()
