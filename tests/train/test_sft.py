"""The SFT recipe end to end on the tiny models and the HMD samples (CPU, fp32)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from owlcap.train.data import VideoCaptionCollator
from owlcap.train.sft import run_sft

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "sft" / "tiny.yaml"
FAST_VIDEOS = ("blackboard_20350807", "hummingbird_3")  # the third sample seeks slowly; kept for the overfit run


def _overrides(model: Path, data: Path, out: Path, **fields) -> list[str]:
    args = ["--model.name_or_path", str(model), "--data.train_files", json.dumps([str(data)])]
    args += ["--output_dir", str(out), "--report_to", "[]"]
    for key, value in fields.items():
        args += [f"--{key}", json.dumps(value) if not isinstance(value, str) else value]
    return args


def _losses(output_dir: Path | str, log_history: list[dict] | None = None) -> dict[int, float]:
    if log_history is None:
        state = sorted(Path(output_dir).glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name[11:]))
        log_history = json.loads(state[-1].read_text())["log_history"]
    return {entry["step"]: entry["loss"] for entry in log_history if "loss" in entry}


@pytest.fixture(scope="module")
def fast_records(samples_dir, tmp_path_factory) -> Path:
    """Three HMD records on the two quickly-seeking sample videos (one video used twice, another caption)."""
    lines = [json.loads(line) for line in (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()]
    by_id = {record["id"]: record for record in lines}
    records = [dict(by_id[name], video=str(samples_dir / "hmd" / by_id[name]["video"])) for name in FAST_VIDEOS]
    records.append(dict(records[0], id="blackboard_again", caption=by_id[FAST_VIDEOS[1]]["caption"]))
    path = tmp_path_factory.mktemp("records") / "fast.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def overfit_run(tiny_qwen25, samples_dir, tmp_path_factory):
    """The shipped tiny config, as is, on all three HMD samples: 12 steps of the same batch."""
    out = tmp_path_factory.mktemp("sft") / "overfit"
    overrides = _overrides(tiny_qwen25, samples_dir / "hmd" / "captions.jsonl", out)
    overrides[overrides.index("--report_to") + 1] = "[tensorboard]"
    return run_sft(TINY, overrides), out


@pytest.mark.slow
def test_overfit_loss_falls_markedly(overfit_run):
    result, out = overfit_run
    losses = list(_losses(out).values())
    assert result.global_step == 12 and len(losses) == 12
    assert losses[-1] < 0.75 * losses[0], losses
    assert sum(losses[-3:]) < sum(losses[:3]) - 3.0, losses
    assert result.data["videos_decoded"] >= 36 and result.data["videos_skipped"] == 0
    assert result.bad_lines == 0 and 0 < result.trainable_parameters <= result.total_parameters


@pytest.mark.slow
def test_logs_carry_data_counters_and_reach_tensorboard(overfit_run):
    result, out = overfit_run
    state = json.loads((out / "checkpoint-12" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert [entry["data/videos_decoded"] for entry in logged[:2]] == [3, 6]
    assert all(entry["data/videos_skipped"] == 0 for entry in logged)
    assert list((out / "runs").rglob("events.out.tfevents.*"))
    assert json.loads((out / "sft_result.json").read_text())["global_step"] == 12


@pytest.mark.slow
def test_saved_model_captions_with_owlcap_caption(overfit_run, hmd_videos, tmp_path):
    from typer.testing import CliRunner

    from owlcap.cli.main import app

    _, out = overfit_run
    captions = tmp_path / "captions.jsonl"
    args = ["caption", str(hmd_videos[0]), "--model", str(out), "--out", str(captions)]
    args += ["--nframes", "4", "--max-pixels", "100352", "--max-new-tokens", "8", "--device", "cpu"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 0, outcome.output
    record = json.loads(captions.read_text().splitlines()[0])
    assert record["caption"] and "error" not in record
    assert json.loads((out / "config.json").read_text())["use_cache"] is not False


class _CrashAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("simulated crash")


@pytest.fixture
def record_batches(monkeypatch):
    """Ids of every batch the collator builds, in order (num_workers=0, so in this process)."""
    seen: list[list[str]] = []
    original = VideoCaptionCollator.__call__

    def recording(self, examples):
        seen.append([example["id"] for example in examples])
        return original(self, examples)

    monkeypatch.setattr(VideoCaptionCollator, "__call__", recording)
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("tuning", ["full", "lora"])
def test_resume_continues_from_the_saved_step_with_the_same_data_order(
    tiny_qwen25, fast_records, tmp_path, record_batches, tuning
):
    fields = {"per_device_train_batch_size": 1, "max_steps": 6, "save_steps": 2, "learning_rate": 1e-3}
    fields |= {"model.tuning": tuning, "merge_lora": False}
    straight = run_sft(TINY, _overrides(tiny_qwen25, fast_records, tmp_path / "straight", **fields))
    straight_batches, straight_losses = record_batches[:6], _losses(tmp_path / "straight")
    record_batches.clear()

    interrupted = _overrides(tiny_qwen25, fast_records, tmp_path / "interrupted", **fields)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_sft(TINY, interrupted, callbacks=[_CrashAt(3)])
    before_crash = record_batches[:2]  # steps 1-2 made it into checkpoint-2; step 3 is lost with the crash
    record_batches.clear()
    resumed = run_sft(TINY, interrupted)  # resume_from_checkpoint: auto

    assert resumed.resumed_from.endswith("checkpoint-2") and resumed.global_step == straight.global_step == 6
    assert before_crash + record_batches[:4] == straight_batches
    assert len({tuple(batch) for batch in straight_batches[:3]}) == 3  # a real epoch, not one repeated batch
    resumed_losses = _losses(tmp_path / "interrupted")
    for step in range(1, 7):
        assert resumed_losses[step] == pytest.approx(straight_losses[step], rel=1e-4), step


@pytest.mark.slow
def test_undecodable_video_is_skipped_and_counted_not_a_crash(tiny_qwen25, fast_records, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not really a video" * 10)
    records = fast_records.read_text() + json.dumps({"id": "broken", "video": str(broken), "caption": "x"}) + "\n"
    data = tmp_path / "with_broken.jsonl"
    data.write_text(records)
    fields = {"per_device_train_batch_size": 4, "max_steps": 2, "save_steps": 100}
    result = run_sft(TINY, _overrides(tiny_qwen25, data, tmp_path / "out", **fields))
    assert result.global_step == 2
    assert result.data["videos_skipped"] == 2 and result.data["videos_decoded"] == 6
    assert result.data["empty_batches"] == 0


@pytest.mark.slow
def test_lora_saves_adapter_and_merged_model(tiny_qwen25, fast_records, tmp_path):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "lora"
    fields = {
        "model.tuning": "lora",
        "model.lora.r": 8,
        "model.lora.alpha": 16,
        "model.freeze_vision_tower": True,
        "max_steps": 3,
        "save_steps": 100,
        "learning_rate": 1e-2,
    }
    result = run_sft(TINY, _overrides(tiny_qwen25, fast_records, out, **fields))
    assert result.adapter == str(out / "adapter") and result.final_model == str(out)
    assert result.trainable_parameters < result.total_parameters
    assert (out / "adapter" / "adapter_config.json").is_file()
    merged, base = load_file(out / "model.safetensors"), load_file(tiny_qwen25 / "model.safetensors")
    assert not any("lora" in name for name in merged)
    assert set(merged) == set(base)
    changed = {name for name in base if not torch.equal(base[name], merged[name])}
    assert any("q_proj" in name for name in changed)  # adapter merged into the language model
    assert any("merger" in name for name in changed)  # projector trained fully (modules_to_save)
    assert not any(".visual.blocks." in name for name in changed)  # vision tower frozen


@pytest.mark.slow
def test_qwen3_vl_trains_evaluates_and_saves(tiny_qwen3, fast_records, tmp_path):
    from transformers import AutoModelForImageTextToText

    out = tmp_path / "qwen3"
    fields = {"max_steps": 2, "save_steps": 100, "per_device_train_batch_size": 3, "eval_steps": 2}
    fields |= {"data.eval_files": [str(fast_records)]}
    result = run_sft(TINY, _overrides(tiny_qwen3, fast_records, out, **fields))
    assert result.global_step == 2 and result.train_loss > 0
    assert AutoModelForImageTextToText.from_pretrained(out).config.model_type == "qwen3_vl"
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert any(entry.get("eval_loss", 0) > 0 for entry in history)


@pytest.mark.slow
def test_two_process_ddp_logs_once_and_sums_counters_over_ranks(tiny_qwen25, fast_records, tmp_path):
    from helpers.launch import torchrun

    out = tmp_path / "ddp"
    fields = {"max_steps": 2, "save_steps": 100, "per_device_train_batch_size": 1}
    args = ["-m", "owlcap.cli.main", "train", "sft", str(TINY), *_overrides(tiny_qwen25, fast_records, out, **fields)]
    done = torchrun(args, timeout=240, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((out / "sft_result.json").read_text())
    assert result["global_step"] == 2
    assert result["data"]["videos_decoded"] == 4  # 2 steps x 2 ranks x 1 video, summed over the ranks
    logs = done.stdout + done.stderr
    assert logs.count("step 1: loss=") == logs.count("step 2: loss=") == 1  # rank 0 logs; rank 1 stays quiet
    assert "'loss':" not in logs  # owlcap's summary line, not transformers' whole logs dict


@pytest.mark.slow
def test_deepspeed_zero3_lora_trains_and_merges_the_adapter(tiny_qwen25, fast_records, tmp_path):
    """Only where the optional extra is installed (pip install 'owlcap[deepspeed]'); DeepSpeed runs on CPU here."""
    import os
    import subprocess
    import sys

    pytest.importorskip("deepspeed")
    out = tmp_path / "zero3"
    fields = {"max_steps": 2, "save_steps": 100, "model.tuning": "lora", "model.lora.r": 8}
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    command += [str(REPO / "configs" / "accelerate" / "zero3.yaml"), "--num_processes", "1"]
    command += [
        "-m",
        "owlcap.cli.main",
        "train",
        "sft",
        str(TINY),
        *_overrides(tiny_qwen25, fast_records, out, **fields),
    ]
    env = os.environ | {"DS_ACCELERATOR": "cpu" if not _has_cuda() else os.environ.get("DS_ACCELERATOR", "cuda")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    from safetensors.torch import load_file

    merged, base = load_file(out / "model.safetensors"), load_file(tiny_qwen25 / "model.safetensors")
    assert {k: v.shape for k, v in merged.items()} == {k: v.shape for k, v in base.items()}  # whole, not partitioned


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
