"""Every shipped SFT and accelerate config loads; defaults are the paper's; bad settings say what to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from owlcap.config import load_config
from owlcap.errors import ConfigError
from owlcap.train.modeling import LoraSettings, TrainModelConfig
from owlcap.train.sft_config import SFTDataConfig, SFTRunConfig
from owlcap.video import PAPER_TOTAL_PIXELS

REPO = Path(__file__).resolve().parents[2]
SFT_CONFIGS = sorted((REPO / "configs" / "sft").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))
DEEPSPEED_FILES = sorted((REPO / "configs" / "accelerate" / "deepspeed").glob("*.json"))


def test_the_config_folders_hold_what_the_readme_promises():
    assert {p.stem for p in SFT_CONFIGS} >= {"qwen2_5_vl_7b", "qwen2_5_vl_7b_lora", "qwen3_vl_8b", "tiny"}
    assert {p.stem for p in ACCELERATE_CONFIGS} >= {"zero2", "zero3", "fsdp", "multinode"}


@pytest.mark.parametrize("path", SFT_CONFIGS, ids=lambda p: p.name)
def test_every_sft_config_loads_and_opens_with_its_command(path):
    config = load_config(SFTRunConfig, path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "train sft" in first and str(path.relative_to(REPO)) in first
    assert config.data.train_files and config.output_dir.startswith("outputs/")


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_every_accelerate_config_loads_and_points_at_real_files(path):
    from accelerate.commands.config.config_args import ClusterConfig
    from accelerate.utils.deepspeed import HfDeepSpeedConfig

    first = path.read_text().splitlines()[0]
    assert first.startswith("# accelerate launch --config_file " + str(path.relative_to(REPO)))
    cluster = ClusterConfig.from_yaml_file(str(path))  # rejects unknown keys
    gpus_per_node = 2 if path.stem == "zero3_offload_2gpu" else 8  # the released GRPO run used 2
    assert cluster.num_processes == gpus_per_node * cluster.num_machines
    if cluster.distributed_type == "DEEPSPEED":
        ds_file = REPO / cluster.deepspeed_config["deepspeed_config_file"]
        ds = HfDeepSpeedConfig(json.loads(ds_file.read_text()))
        assert ds.is_zero3() == bool(cluster.deepspeed_config.get("zero3_init_flag"))
        # accelerate refuses a mixed_precision next to a DeepSpeed file: the JSON's "auto" follows the run config.
        assert "mixed_precision" not in yaml.safe_load(path.read_text())
    else:
        assert cluster.distributed_type == "FSDP"
        assert cluster.fsdp_config["fsdp_version"] == 2
        assert not cluster.fsdp_config["fsdp_activation_checkpointing"]  # the run config checkpoints instead


@pytest.mark.parametrize("path", DEEPSPEED_FILES, ids=lambda p: p.name)
def test_deepspeed_files_leave_batch_and_precision_to_the_trainer(path):
    ds = json.loads(path.read_text())
    assert ds["zero_optimization"]["stage"] == int(path.stem.split("_")[0][-1])  # zero2, zero3, zero3_offload
    if path.stem.endswith("offload"):
        for part in ("offload_optimizer", "offload_param"):
            assert ds["zero_optimization"][part]["device"] == "cpu"
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
        assert ds[key] == "auto"
    assert ds["bf16"]["enabled"] == "auto"
    assert any(path.name in p.read_text() for p in ACCELERATE_CONFIGS)


def test_defaults_and_paper_config_reproduce_the_paper():
    default = SFTRunConfig(data={"train_files": ["x.jsonl"]})
    paper = load_config(SFTRunConfig, REPO / "configs" / "sft" / "qwen2_5_vl_7b.yaml")
    for config in (default, paper):
        assert config.model.name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
        assert config.data.sampling.fps == 2.0 and config.data.sampling.total_pixels == PAPER_TOTAL_PIXELS
        assert config.bf16 == "auto" and config.gradient_checkpointing
        assert config.model.tuning == "full"


def test_a_partial_sampling_section_keeps_the_paper_pixel_budget():
    config = load_config(SFTRunConfig, None, ["--data.train_files", "[x.jsonl]", "--data.sampling.nframes", "16"])
    assert config.data.sampling.nframes == 16 and config.data.sampling.fps is None
    assert config.data.sampling.total_pixels == PAPER_TOTAL_PIXELS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["--eval_steps", "10"], "eval_steps is set but data.eval_files is empty"),
        (["--trl_args", "{max_length: 10}"], "trl_args may not set"),
        (["--trl_args", "{learning_rate: 1.0}"], "set them as top-level fields"),
        (["--max_steps", "0"], "max_steps"),
        (["--learnig_rate", "1e-5"], "learnig_rate"),
        (["--model.tuning", "lora", "--model.lora.rank", "8"], "model.lora.rank"),
        (["--data.sampling.fps", "2", "--data.sampling.nframes", "8"], "set either fps"),
        (["--report_to", "[mlflow]"], "report_to"),
    ],
)
def test_bad_settings_say_what_to_change(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(SFTRunConfig, REPO / "configs" / "sft" / "tiny.yaml", overrides)


def test_bf16_on_cpu_and_missing_wandb_fail_before_any_loading(monkeypatch):
    import importlib.util

    import torch

    from owlcap.train.sft import build_sft_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    base = load_config(SFTRunConfig, REPO / "configs" / "sft" / "tiny.yaml")
    with pytest.raises(ConfigError, match="bf16: true needs a CUDA GPU"):
        build_sft_args(base.model_copy(update={"bf16": True}))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "wandb" else real_find_spec(name))
    with pytest.raises(ConfigError, match="wandb is not installed"):
        build_sft_args(base.model_copy(update={"report_to": ["wandb"]}))


def test_resume_path_must_exist(tmp_path):
    from owlcap.train.checkpoints import resolve_resume

    config = SFTRunConfig(data={"train_files": ["x"]}, output_dir=str(tmp_path))
    assert resolve_resume(config) is None  # auto, nothing saved yet
    (tmp_path / "checkpoint-7").mkdir()
    (tmp_path / "checkpoint-7" / "trainer_state.json").write_text("{}")  # Trainer writes it last: a whole checkpoint
    assert resolve_resume(config).endswith("checkpoint-7")
    with pytest.raises(ConfigError, match="not a checkpoint folder"):
        resolve_resume(config.model_copy(update={"resume_from_checkpoint": str(tmp_path / "nope")}))


@pytest.mark.parametrize("model", [SFTRunConfig, SFTDataConfig, TrainModelConfig, LoraSettings])
def test_every_field_is_documented(model):
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == []
