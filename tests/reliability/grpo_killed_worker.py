"""Run by test_resume_equality.py: ``train_grpo`` that kills its own process (SIGKILL, as ``kill -9``) right after
the checkpoint of a given step is written.

Usage: ``python grpo_killed_worker.py CONFIG KILL_STEP [--key value ...]``
"""

import os
import signal
import sys

from transformers import TrainerCallback

from owlcap.config import load_config
from owlcap.train.grpo import train_grpo
from owlcap.train.grpo_config import GRPORunConfig


class KillAfterCheckpoint(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    config, kill_step, *overrides = sys.argv[1:]
    train_grpo(load_config(GRPORunConfig, config, overrides), callbacks=[KillAfterCheckpoint(int(kill_step))])
    sys.exit("the run was not killed")
