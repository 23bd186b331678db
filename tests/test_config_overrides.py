"""``owlcap.config``: a bad command-line override is reported as one, not as an error in the YAML file; a scalar
given for a list field is a one-item list."""

from __future__ import annotations

from pathlib import Path

import pytest

from owlcap.config import load_config
from owlcap.errors import ConfigError
from owlcap.train.grpo_config import GRPORunConfig
from owlcap.train.sft_config import SFTRunConfig

REPO = Path(__file__).resolve().parents[1]
SFT_TINY = REPO / "configs" / "sft" / "tiny.yaml"


def _error(overrides: list[str], path: Path | None = SFT_TINY, model=SFTRunConfig) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(model, path, overrides)
    return str(caught.value)


def test_a_bad_override_is_blamed_on_the_command_line():
    message = _error(["--learning_rate", "fast"])
    assert message.startswith(f"invalid command-line override(s) (config: {SFT_TINY})")
    assert "learning_rate (command line: --learning_rate): Input should be a valid number" in message
    assert "(got 'fast')" in message


def test_a_bad_value_in_the_file_is_blamed_on_the_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(SFT_TINY.read_text().replace("learning_rate: 3.0e-3", "learning_rate: fast"))
    message = _error(["--max_steps", "3"], config)
    assert message.startswith(f"{config}: invalid config (command-line overrides: --max_steps)")
    assert "  learning_rate: Input should be a valid number" in message and "command line:" not in message


def test_an_unknown_override_suggests_the_field_meant():
    assert "learnig_rate (command line: --learnig_rate): unknown field; did you mean learning_rate?" in _error(
        ["--learnig_rate", "1e-5"]
    )
    nested = _error(["--reward.judg", "rules", "--data.train_files", "[x]"], None, GRPORunConfig)
    assert "reward.judg (command line: --reward.judg): unknown field; did you mean judge?" in nested


def test_a_section_check_names_the_overrides_that_broke_it():
    message = _error(["--data.sampling.fps", "2", "--data.sampling.nframes", "8"])
    assert "data.sampling (command line: --data.sampling.fps, --data.sampling.nframes): set either fps" in message


def test_a_scalar_for_a_list_field_is_a_one_item_list():
    config = load_config(SFTRunConfig, SFT_TINY, ["--data.train_files", "x.jsonl", "--report_to", "tensorboard"])
    assert config.data.train_files == ["x.jsonl"] and config.report_to == ["tensorboard"]
    lora = ["--model.tuning", "lora", "--model.lora.target_modules", "q_proj"]
    grpo = load_config(GRPORunConfig, None, ["--data.train_files", "y.jsonl", *lora])
    assert grpo.data.train_files == ["y.jsonl"]
    assert grpo.model.lora.target_modules == "q_proj"  # str | list: a string is already valid, left as it is
    assert load_config(SFTRunConfig, SFT_TINY, ["--data.eval_files", "[]"]).data.eval_files == []
