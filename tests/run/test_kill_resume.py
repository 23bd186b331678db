"""Killing the pipeline (SIGKILL) during SFT and then during GRPO, and re-running it, finishes the run without
redoing a finished stage; each training stage resumes from its own last checkpoint."""

from __future__ import annotations

import json

import pytest
from run_helpers import kill_when, overrides, run_owlcap

from owlcap.run import quickstart_config

pytestmark = pytest.mark.slow


def _marker(run_dir, stage, name="stage.json"):
    path = run_dir / stage / name
    return json.loads(path.read_text()) if path.is_file() else None


def test_kill_during_sft_then_during_grpo_and_rerun(tmp_path):
    run_dir = tmp_path / "run"
    # cheaper than QUICK: no data preview, a checkpoint every other step, G=2, only the GRPO model captions, short
    # captions, no benchmark captioning
    args = [
        "run",
        str(quickstart_config()),
        *overrides(run_dir),
        *["--data.preview", "[]", "--eval.vdc", "null"],
        *["--sft.overrides.max_steps", "4", "--sft.overrides.save_steps", "2", "--grpo.overrides.max_steps", "3"],
        *["--grpo.overrides.num_generations", "2", "--grpo.overrides.per_device_train_batch_size", "6"],
        *["--grpo.overrides.max_completion_length", "96", "--grpo.overrides.save_steps", "1"],
        *["--caption.models", "[grpo]", "--caption.config.generation.max_new_tokens", "24"],
    ]
    sft_checkpoint = run_dir / "sft" / "model" / "checkpoint-2" / "trainer_state.json"
    kill_when(args, sft_checkpoint)
    assert _marker(run_dir, "sft") is None and _marker(run_dir, "sft", "running.json")
    data = _marker(run_dir, "data")
    assert data is not None and data["summary"]["train"]["kept"] == 3

    grpo_checkpoint = run_dir / "grpo" / "model" / "checkpoint-2" / "trainer_state.json"
    kill_when(args, grpo_checkpoint)
    sft = _marker(run_dir, "sft")
    assert sft is not None and sft["resumed"] is True
    assert sft["summary"]["resumed_from"].endswith("checkpoint-2")
    assert _marker(run_dir, "grpo") is None

    done = run_owlcap(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _marker(run_dir, "data")["execution"] == data["execution"]  # the data build was not redone
    assert _marker(run_dir, "sft")["execution"] == sft["execution"]  # SFT was not redone
    grpo = _marker(run_dir, "grpo")
    assert grpo["resumed"] is True and grpo["summary"]["resumed_from"].endswith(("checkpoint-2", "checkpoint-3"))
    assert grpo["summary"]["global_step"] == 3
    for stage in ("sft", "grpo"):  # every step logged once across the three processes
        history = json.loads((run_dir / stage / "model" / "trainer_state.json").read_text())["log_history"]
        steps = [entry["step"] for entry in history if "loss" in entry]
        assert steps == list(range(1, len(steps) + 1)) and len(steps) == (4 if stage == "sft" else 3)
    assert "skipped" in done.stdout and f"report: {run_dir / 'report' / 'index.html'}" in done.stdout
    assert all(_marker(run_dir, stage) for stage in ("caption", "eval", "report"))
