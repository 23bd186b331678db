"""The run directory: a re-run of a finished run changes nothing, a resume into another model/tuning/data is refused
before any model is loaded, a fresh start clears the old run's files, a resume trims the steps it trains again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from owlcap.config import load_config
from owlcap.errors import ConfigError
from owlcap.train.run_dir import CONFIG_FILE, METRICS_FILE, plan_run, result_path, start_run
from owlcap.train.sft_config import SFTRunConfig

REPO = Path(__file__).resolve().parents[2]
SFT_TINY = REPO / "configs" / "sft" / "tiny.yaml"


def _config(out: Path, *overrides: str) -> SFTRunConfig:
    return load_config(SFTRunConfig, SFT_TINY, ["--output_dir", str(out), *overrides])


def _run_once(out: Path, steps: int = 2, *overrides: str) -> SFTRunConfig:
    """What a run of ``steps`` steps leaves behind (without training): config, metrics, checkpoint, result."""
    config = _config(out, "--max_steps", str(steps), *overrides)
    plan = plan_run(config, "sft")
    start_run(plan, config, main_process=True)
    (out / f"checkpoint-{steps}").mkdir()
    (out / f"checkpoint-{steps}" / "trainer_state.json").write_text("{}")  # written last: a whole checkpoint
    (out / METRICS_FILE).write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, steps + 1)))
    result_path(out, "sft").write_text(json.dumps({"global_step": steps, "train_loss": 1.0}))
    return config


def test_the_resolved_config_is_recorded_with_every_default(tmp_path):
    config = _run_once(tmp_path)
    text = (tmp_path / CONFIG_FILE).read_text()
    assert text.startswith("# owlcap recipe: sft\n") and f"owlcap train sft {tmp_path / CONFIG_FILE}" in text
    recorded = yaml.safe_load(text)
    assert recorded["max_steps"] == 2 and recorded["data"]["sampling"]["total_pixels"] == 2809856  # a default
    assert load_config(SFTRunConfig, tmp_path / CONFIG_FILE) == config  # a runnable config: the same run again
    lora = _config(tmp_path / "lora", "--model.tuning", "lora")
    start_run(plan_run(lora, "sft"), lora, main_process=True)
    assert load_config(SFTRunConfig, tmp_path / "lora" / CONFIG_FILE) == lora


def test_a_finished_run_is_left_as_it_is(tmp_path):
    config = _run_once(tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    plan = plan_run(config, "sft")
    assert plan.finished == {"global_step": 2, "train_loss": 1.0}
    start_run(plan, config, main_process=True)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before


def test_more_steps_resume_the_finished_run_and_trim_nothing_trained(tmp_path):
    _run_once(tmp_path)
    config = _config(tmp_path, "--max_steps", "4", "--learning_rate", "1e-4")  # may change: length, optimisation
    plan = plan_run(config, "sft")
    assert plan.finished is None and plan.resume.endswith("checkpoint-2")


def test_a_resume_keeps_the_metrics_up_to_its_checkpoint(tmp_path):
    config = _run_once(tmp_path, 4)
    (tmp_path / "checkpoint-4").rename(tmp_path / "checkpoint-3")  # the crash came after step 4 was logged
    result_path(tmp_path, "sft").unlink()
    plan = plan_run(config, "sft")
    start_run(plan, config, main_process=True)
    steps = [json.loads(line)["step"] for line in (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert plan.resume.endswith("checkpoint-3") and steps == [1, 2, 3]


@pytest.mark.parametrize(
    ("overrides", "difference"),
    [
        (["--model.tuning", "lora"], "model.tuning: 'full' -> 'lora'"),
        (["--model.name_or_path", "other-model"], "model.name_or_path: 'outputs/tiny-qwen2_5_vl' -> 'other-model'"),
        (["--data.train_files", "other.jsonl"], "/hmd/captions.jsonl'] -> ['other.jsonl']"),
        (["--data.sampling.nframes", "8"], "data.sampling: "),
    ],
)
def test_a_resume_into_another_model_tuning_or_data_is_refused(tmp_path, overrides, difference):
    _run_once(tmp_path)
    result_path(tmp_path, "sft").unlink()  # an unfinished run
    with pytest.raises(ConfigError, match="was trained with another model, tuning or data") as refused:
        plan_run(_config(tmp_path, "--max_steps", "2", *overrides), "sft")
    assert difference in str(refused.value) and "resume_from_checkpoint: null" in str(refused.value)


def test_another_recipes_checkpoint_is_refused(tmp_path):
    from owlcap.train.grpo_config import GRPORunConfig

    _run_once(tmp_path)
    grpo = GRPORunConfig(data={"train_files": ["x.jsonl"]}, output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="checkpoint of a sft run, not of grpo"):
        plan_run(grpo, "grpo")


def test_starting_over_removes_the_old_runs_metrics_and_result(tmp_path):
    _run_once(tmp_path)
    config = _config(tmp_path, "--resume_from_checkpoint", "null", "--model.tuning", "lora")
    plan = plan_run(config, "sft")
    assert plan.resume is None and plan.finished is None
    start_run(plan, config, main_process=True)
    assert not (tmp_path / METRICS_FILE).exists() and not result_path(tmp_path, "sft").exists()
    assert yaml.safe_load((tmp_path / CONFIG_FILE).read_text())["model"]["tuning"] == "lora"


def test_other_ranks_write_nothing(tmp_path):
    config = _config(tmp_path / "run")
    start_run(plan_run(config, "sft"), config, main_process=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_sft_run_leaves_config_metrics_and_card_and_its_rerun_changes_nothing(
    tiny_qwen25, samples_dir, tmp_path, monkeypatch
):
    from owlcap.train import sft

    out = tmp_path / "sft"
    args = ["--model.name_or_path", str(tiny_qwen25), "--data.train_files", str(samples_dir / "hmd" / "captions.jsonl"),
            "--output_dir", str(out), "--data.max_examples", "1", "--per_device_train_batch_size", "1",
            "--save_steps", "1", "--report_to", "[]"]  # fmt: skip
    first = sft.run_sft(SFT_TINY, [*args, "--max_steps", "1"])
    metrics = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    assert [record["step"] for record in metrics if "loss" in record] == [1] and metrics[0]["loss"] > 0
    card = (out / "README.md").read_text()
    assert "[None]" not in card and str(tiny_qwen25) in card and f"--model {out}" in card
    assert load_config(SFTRunConfig, out / CONFIG_FILE).model.name_or_path == str(tiny_qwen25)
    files = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}

    def no_loading(*_args, **_kwargs):
        raise AssertionError("a finished run, or a refused resume, must not load a model")

    monkeypatch.setattr(sft, "load_training_model", no_loading)
    again = sft.run_sft(SFT_TINY, [*args, "--max_steps", "1"])
    assert again == first and again.train_loss > 0  # the recorded result, not a 0-step run's train_loss 0.0
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == files
    with pytest.raises(ConfigError, match="model.tuning: 'full' -> 'lora'"):
        sft.run_sft(SFT_TINY, [*args, "--max_steps", "2", "--model.tuning", "lora"])
