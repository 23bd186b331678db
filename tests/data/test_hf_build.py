"""Every stage with a tiny random Qwen2.5-VL in process (the shipped tiny config): a verdict for every unit from the
yes/no probabilities, and the resulting hmd.jsonl trains with ``owlcap train sft`` as it is. A random model's
captions and verdicts mean nothing; this proves the plumbing end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from owlcap.cli.main import app
from owlcap.config import load_config
from owlcap.data import BuildConfig, build

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_tiny_hf_build_then_sft_on_its_hmd_jsonl(tiny_qwen25, hmd_videos, tmp_path):
    model = f"hf:{tiny_qwen25}"
    overrides = [f"--models.{stage}={model}" for stage in ("motion", "fusion", "verifier")]
    overrides += ["--fge.threshold", "0", "--llm.cache_path", str(tmp_path / "cache.sqlite")]
    config = load_config(BuildConfig, REPO / "configs" / "data" / "tiny.yaml", overrides)
    out = tmp_path / "hmd"
    summary = build(config, [hmd_videos[0].parent], out)  # ../shared/samples/hmd/videos
    assert summary.ok and summary.kept == len(hmd_videos) == 3
    for line in (out / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["stages"]["motion"]["source"] == "model" and record["motion_caption"]
        assert record["stages"]["verifier"]["requests"] == len(record["units"]) > 0
        for verdict in record["unit_verdicts"]:
            assert 0.0 <= verdict["p_yes"] <= 1.0 and verdict["supported"] == (verdict["p_yes"] >= 0.5)

    args = ["train", "sft", str(REPO / "configs" / "sft" / "tiny.yaml")]
    args += ["--model.name_or_path", str(tiny_qwen25), "--data.train_files", json.dumps([str(out / "hmd.jsonl")])]
    args += ["--output_dir", str(tmp_path / "sft"), "--report_to", "[]", "--max_steps", "2", "--save_steps", "2"]
    args += ["--per_device_train_batch_size", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "sft" / "sft_result.json").read_text())
    assert state["global_step"] == 2
