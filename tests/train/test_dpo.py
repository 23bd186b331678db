"""``owlcap train dpo``: the recipe on configs/dpo/tiny.yaml learns on CPU (reward accuracy above 0.5, a growing
chosen-rejected margin, the vision tower's weights moved) and keeps the run-directory rules of SFT and GRPO."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from owlcap.config import load_config
from owlcap.data.pairs import PairsConfig, build_pairs
from owlcap.errors import ConfigError
from owlcap.train.dpo import train_dpo
from owlcap.train.dpo_config import DPORunConfig

REPO = Path(__file__).resolve().parents[2]
DPO_CONFIGS = sorted((REPO / "configs" / "dpo").glob("*.yaml"))


@pytest.mark.parametrize("path", DPO_CONFIGS, ids=lambda p: p.name)
def test_every_dpo_config_loads_and_opens_with_its_command(path):
    config = load_config(DPORunConfig, path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and f"train dpo {path.relative_to(REPO)}" in first
    assert config.data.train_files and config.output_dir.startswith("outputs/dpo/")
    assert config.precompute_ref_log_probs and config.share_video_encoding and not config.model.freeze_vision_tower


def test_bad_dpo_settings_say_what_to_change(tmp_path):
    base = {"data": {"train_files": ["p.jsonl"]}}
    with pytest.raises(ValueError, match="loss_weights has 1 weights for 2 loss_type"):
        DPORunConfig.model_validate(base | {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0]})
    with pytest.raises(ValueError, match="exo_pair needs label_smoothing"):
        DPORunConfig.model_validate(base | {"loss_type": ["exo_pair"]})
    with pytest.raises(ValueError, match="trl_args may not set \\['max_length'\\]"):
        DPORunConfig.model_validate(base | {"trl_args": {"max_length": 512}})
    with pytest.raises(ValueError, match="input_value='simpo'"):
        DPORunConfig.model_validate(base | {"loss_type": ["simpo"]})


def _pairs(tmp_path: Path, samples_dir: Path) -> Path:
    """Pairs made from the sample data by two sources: FGE-style removal and CSER-scored caption files."""
    references = samples_dir / "hmd" / "captions.jsonl"
    refs = [json.loads(line) for line in references.read_text().splitlines()]
    records = []
    for ref in refs:
        sentences = [s.strip() + "." for s in ref["caption"].split(".") if s.strip()][:6]
        verdicts = [{"unit": s, "supported": i % 3 != 2} for i, s in enumerate(sentences)]
        video = str((references.parent / ref["video"]).resolve())
        records.append({"id": ref["id"], "video": video, "caption": " ".join(sentences), "unit_verdicts": verdicts})
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps({"id": r["id"], "caption": r["caption"]}) + "\n" for r in refs))
    rotated = tmp_path / "rotated.jsonl"
    rotated.write_text("".join(json.dumps({"id": r["id"], "caption": refs[i - 1]["caption"]}) + "\n"
                               for i, r in enumerate(refs)))  # fmt: skip
    config = PairsConfig.model_validate(
        {"hmd": {"builds": [str(tmp_path / "build")]},
         "captions": {"files": [str(good), str(rotated)], "references": str(references)}}
    )  # fmt: skip
    summary = build_pairs(config, tmp_path / "pairs")
    assert summary.by_source == {"hmd_fge": {"made": 3, "kept": 3}, "captions": {"made": 3, "kept": 3}}
    return Path(summary.pairs_file)


def _vision(weights: dict) -> dict:
    return {key: tensor for key, tensor in weights.items() if key.startswith("visual.") and "merger" not in key}


@pytest.mark.slow
def test_the_tiny_config_learns_and_keeps_the_run_directory_rules(tiny_qwen25, samples_dir, tmp_path):
    pairs = _pairs(tmp_path, samples_dir)
    out = tmp_path / "dpo"
    overrides = ["--model.name_or_path", str(tiny_qwen25), "--data.train_files", str(pairs), "--output_dir", str(out),
                 "--max_steps", "8", "--report_to", "[]"]  # fmt: skip
    config = load_config(DPORunConfig, REPO / "configs" / "dpo" / "tiny.yaml", overrides)
    result = train_dpo(config)
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [step for step in steps if "rewards/margins" in step]
    assert [step["step"] for step in steps] == list(range(1, 9))
    margins = [step["rewards/margins"] for step in steps]
    assert abs(margins[0]) < 1e-3 and steps[-1]["rewards/accuracies"] > 0.5  # equal to the reference, then learned
    assert sum(margins[-3:]) / 3 > sum(margins[:3]) / 3 > 0 and margins[-1] > 1.0, margins
    before = _vision(load_file(str(tiny_qwen25 / "model.safetensors")))
    after = load_file(str(out / "model.safetensors"))
    assert before and all(not after[key].equal(value) for key, value in before.items())
    recorded = json.loads((out / "dpo_result.json").read_text())
    assert recorded["pairs"] == 6 and recorded["global_step"] == 8 and recorded["last"]["rewards/accuracies"] > 0.5
    assert (out / "owlcap_config.yaml").read_text().startswith("# owlcap recipe: dpo")
    assert result.data["videos_skipped"] == 0 and result.data["videos_decoded"] > 0

    again = train_dpo(config)  # finished: nothing is trained or written
    assert again.global_step == 8 and (out / "metrics.jsonl").read_text().count("\n") == len(steps) + 1
    changed = [*overrides, "--max_steps", "9", "--data.max_length", "4096"]
    other = load_config(DPORunConfig, REPO / "configs" / "dpo" / "tiny.yaml", changed)
    with pytest.raises(ConfigError, match="trained with another model, tuning or data"):
        train_dpo(other)


def test_the_command_names_a_missing_pair_file_before_loading_anything(tmp_path):
    from typer.testing import CliRunner

    from owlcap.cli.main import app

    out = tmp_path / "dpo"
    args = ["train", "dpo", str(REPO / "configs" / "dpo" / "tiny.yaml"), "--output_dir", str(out)]
    missing = CliRunner().invoke(app, [*args, "--data.train_files", str(tmp_path / "pairs.jsonl")])
    assert missing.exit_code == 2 and "pairs.jsonl: no such file" in missing.output
    assert not out.exists()  # nothing written for a run that cannot start
    bad = CliRunner().invoke(app, [*args, "--beta", "-1"])
    assert bad.exit_code == 2 and "beta" in bad.output and "greater than 0" in bad.output
