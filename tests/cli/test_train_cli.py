"""``owlcap train``: a typo in the config path, a bad value or a missing training file is reported before torch,
transformers and TRL are imported (they take seconds), with one ``error:`` line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import owlcap

SRC = Path(owlcap.__file__).resolve().parents[1]
REPO = SRC.parent
_PROBE = """
import sys
from owlcap.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    print("exit", exit.code, "torch imported:", "torch" in sys.modules, "trl imported:", "trl" in sys.modules)
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "sft", "configs/sft/tny.yaml"], "error: configs/sft/tny.yaml: config file not found"),
        (["train", "sft", "configs/sft/tiny.yaml", "--learning_rate", "-1"], "learning_rate (command line"),
        (["train", "grpo", "configs/grpo/tiny.yaml", "--num_generatons", "3"], "did you mean num_generations?"),
        (["train", "grpo", "configs/grpo/tiny.yaml", "--data.train_files", "nope.jsonl"], "nope.jsonl: no such file"),
    ],
)
def test_config_mistakes_are_named_before_anything_heavy_is_imported(args, message):
    environ = os.environ | {"PYTHONPATH": str(SRC), "OWLCAP_DEBUG": ""}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], cwd=REPO, capture_output=True, text=True, timeout=60, env=environ
    )
    assert message in done.stderr and done.stderr.count("\n") <= 3
    assert done.stdout.strip() == "exit 2 torch imported: False trl imported: False"
