from pathlib import Path

import jinja2
import pytest

from owlcap.config import load_config, load_yaml
from owlcap.eval.registry import BENCHMARKS
from owlcap.eval.vdc.config import VDCEvalConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_eval_config_loads_and_opens_with_its_command(path):
    benchmark = BENCHMARKS[path.name.split("_")[0]]
    config = load_config(benchmark.config_model(), path)
    assert path.read_text().startswith("#") and f"owlcap eval {benchmark.name} " in path.read_text().splitlines()[0]
    assert config.preset == load_yaml(path)["preset"]
    presets = benchmark.module("config").PRESETS
    assert config.scoring.model_dump() == presets[config.preset]["scoring"]  # no config deviates silently


def test_configs_cover_every_preset():
    presets = {(p.name.split("_")[0], load_yaml(p)["preset"]) for p in CONFIGS.glob("*.yaml")}
    expected = {(name, preset) for name, entry in BENCHMARKS.items() for preset in entry.module("config").PRESETS}
    assert presets == expected


def test_overrides_beat_the_preset_and_yaml():
    config = load_config(
        VDCEvalConfig,
        CONFIGS / "vdc_auroracap.yaml",
        ["--scoring.exclude_zero_videos", "false", "--judge.temperature", "0"],
    )
    assert config.scoring.exclude_zero_videos is False and config.scoring.score_cast == "float"
    assert config.judge.temperature == 0.0 and config.judge.max_tokens == 256


def test_sglang_style_llama3_template_has_no_date_preamble():
    template = jinja2.Environment().from_string((CONFIGS / "llama3_instruct_sglang.jinja").read_text())
    text = template.render(
        bos_token="<|begin_of_text|>",
        add_generation_prompt=True,
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
    )
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )
