"""configs/owlcap-7b: every file loads, and the two pipelines resolve every stage (files are checked only when a
run starts: the videos, benchmark files and servers of a real run are not here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from owlcap.config import load_config
from owlcap.data.config import BuildConfig
from owlcap.eval.dream1k.config import DreamEvalConfig
from owlcap.eval.vdc.config import VDCEvalConfig
from owlcap.run import load_pipeline
from owlcap.run.stages import STAGES, Layout

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "configs" / "owlcap-7b"
PIPELINES = ("pipeline.yaml", "pipeline_2nodes.yaml")


def test_every_file_is_a_pipeline_or_a_stage_config_and_opens_with_its_command():
    names = {path.name for path in FOLDER.glob("*.yaml")}
    assert names == {*PIPELINES, "data.yaml", "sft.yaml", "grpo.yaml", "vdc.yaml", "dream1k.yaml"}
    for path in FOLDER.glob("*.yaml"):
        assert path.read_text().startswith("# owlcap "), path
        assert isinstance(yaml.safe_load(path.read_text()), dict)
    assert load_config(BuildConfig, FOLDER / "data.yaml").fge.threshold == 0.9
    assert (
        load_config(VDCEvalConfig, FOLDER / "vdc.yaml", ["--out", "x", "--captioning.model", "m"]).preset == "auroracap"
    )
    dream = load_config(DreamEvalConfig, FOLDER / "dream1k.yaml", ["--out", "x", "--captioning.model", "m"])
    assert dream.judge.model == "openai:gpt-3.5-turbo-0125"


@pytest.mark.parametrize("name", PIPELINES)
def test_the_pipeline_resolves_every_stage_with_its_launch_and_servers(name, monkeypatch):
    monkeypatch.chdir(REPO)  # the configs name each other relative to the repository root
    source = load_pipeline(FOLDER / name)
    layout = Layout(source.run_dir)
    resolved = {stage.name: stage.resolve(source, layout) for stage in STAGES if getattr(source.config, stage.name)}
    assert set(resolved) == {"data", "sft", "grpo", "caption", "eval", "report"}  # the paper's run: no DPO stage
    hmd = str(layout.hmd_records)
    assert resolved["sft"].config.data.train_files == [hmd] == resolved["grpo"].config.data.train_files
    assert resolved["sft"].config.model.name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert resolved["grpo"].config.model.name_or_path == str(layout.sft_model)
    assert len(resolved["grpo"].config.reward.judge.split("@")[1].split(",")) == 4  # four judge replicas
    plan = resolved["eval"].config
    assert set(plan.vdc) == set(plan.dream1k) == {"base", "sft", "grpo"}
    assert plan.vdc["grpo"].captioning.model == source.config.servers["grpo"]
    for stage in ("sft", "grpo"):
        launch = getattr(source.config, stage).launch.command
        assert launch.startswith("accelerate launch" if name == "pipeline.yaml" else "srun --nodes 2")
