"""GRPO run configs: every shipped YAML loads, the defaults are the paper's, and bad settings say what to change."""

from pathlib import Path

import pytest

from owlcap.config import load_config
from owlcap.errors import ConfigError
from owlcap.train.grpo_config import PAPER_JUDGE, GRPORunConfig
from owlcap.video import PAPER_TOTAL_PIXELS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "grpo").glob("*.yaml"))
DATA = {"data": {"train_files": ["captions.jsonl"]}}


def test_configs_exist():
    assert {path.stem for path in CONFIGS} >= {"qwen2_5_vl_7b", "qwen3_vl_8b", "tiny"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_config_loads_opens_with_its_command_and_converts_to_trl(path):
    first_line = path.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith(("# owlcap ", "# accelerate launch ")) and str(path.name) in first_line
    config = load_config(GRPORunConfig, path)
    args = config.trl_config()
    assert args.num_generations == config.num_generations
    assert args.reward_weights == [config.reward.cser_weight, config.reward.length_weight]
    assert args.remove_unused_columns is False


def test_defaults_are_the_released_settings():
    config = GRPORunConfig.model_validate(DATA)
    assert (config.num_generations, config.max_completion_length, config.temperature) == (8, 1024, 1.0)
    assert (config.beta, config.learning_rate) == (0.04, 1e-6)
    assert config.data.sampling.fps == 2.0 and config.data.sampling.total_pixels == PAPER_TOTAL_PIXELS
    assert (config.reward.cser_weight, config.reward.length_weight) == (1.0, 1.0)
    assert config.reward.judge == PAPER_JUDGE
    assert config.model.freeze_vision_tower is False  # GRPO trains the vision tower, unlike the SFT default
    assert config.share_video_encoding is True


def test_overrides_reach_nested_sections(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("data:\n  train_files: [a.jsonl]\n", encoding="utf-8")
    config = load_config(
        GRPORunConfig, path, ["--loss_type", "dapo", "--reward.judge", "rules", "--reward.length_weight", "0"]
    )
    assert config.loss_type == "dapo" and config.reward.judge == "rules"
    assert config.reward_names() == ["cser"] and config.trl_config().reward_weights == [1.0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"loss_type": "ppo"}, "loss_type"),
        ({"loss_type": "luspo"}, "importance_sampling_level: sequence"),
        ({"reward": {"cser_weight": 0, "length_weight": 0}}, "at least one a positive weight"),
        ({"trl_args": {"output_dir": "x"}}, "the recipe sets them"),
        ({"trl_args": {"beta": 0.1}}, "set them as top-level fields"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_invalid_settings_name_the_fix(tmp_path, fields, message):
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**DATA, **fields}), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(GRPORunConfig, path)


def test_a_batch_that_cannot_hold_whole_groups_gets_a_hint():
    config = GRPORunConfig.model_validate({**DATA, "per_device_train_batch_size": 3})
    with pytest.raises(ConfigError, match="set per_device_train_batch_size to 8"):
        config.trl_config()


def test_a_partial_sampling_override_keeps_the_paper_pixel_budget():
    from owlcap.config import load_config
    from owlcap.train.grpo_config import GRPORunConfig
    from owlcap.video import PAPER_TOTAL_PIXELS

    config = load_config(GRPORunConfig, None, ["--data.train_files", "[x.jsonl]", "--data.sampling.nframes", "16"])
    assert config.data.sampling.nframes == 16
    assert config.data.sampling.total_pixels == PAPER_TOTAL_PIXELS
