"""Build configs: every shipped YAML loads, every field is documented, validation says what to change, and the CLI
turns config, model and folder problems into one clear line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from owlcap.cli.data import split_overrides
from owlcap.cli.main import app
from owlcap.config import load_config
from owlcap.data import BuildConfig
from owlcap.data.config import model_identity
from owlcap.data.store import RecordStore

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs" / "data").glob("*.yaml"))


def test_there_are_data_configs():
    assert {path.name for path in CONFIGS} >= {"vllm.yaml", "ray.yaml", "examine.yaml", "tiny.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_opens_with_its_command(path):
    config = load_config(BuildConfig, path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "owlcap data " in first
    assert config.fge.threshold == 0.9


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, object]]:
    found = []
    for name, field in model.model_fields.items():
        found.append((prefix + name, field))
        annotation = field.annotation
        if (
            isinstance(annotation, type)
            and issubclass(annotation, BaseModel)
            and annotation.__module__.startswith("owlcap.data")
        ):
            found += _fields(annotation, f"{prefix}{name}.")
    return found


def test_every_field_is_documented():
    undocumented = [name for name, field in _fields(BuildConfig) if not field.description]
    assert undocumented == []


def test_defaults_reproduce_the_paper():
    config = BuildConfig()
    assert config.mdf.motion_prompt == "Describe this video in detail."
    assert (config.fge.threshold, config.sampling.fps, config.sampling.total_pixels) == (0.9, 2.0, 3584 * 28 * 28)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fge": {"decision": "probability"}}, "set verify_mode: per_unit"),
        ({"models": {"verifier": "vllm:qwen"}}, "model spec"),
        ({"mdf": {"fusion_prompt": "Add details."}}, "{motion_caption}"),
        ({"fge": {"threshold": 1.5}}, "less than or equal to 1"),
        ({"concurency": {}}, "Extra inputs are not permitted"),
    ],
)
def test_validation_says_what_to_change(data, message):
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        BuildConfig.model_validate(data)


def test_fingerprints_ignore_where_a_model_is_served():
    one = BuildConfig.model_validate({"models": {"verifier": "openai:qwen@http://a:1/v1"}})
    two = BuildConfig.model_validate({"models": {"verifier": "openai:qwen@http://b:2/v1,http://c:3/v1"}})
    assert one.fge_settings() == two.fge_settings() and model_identity("rules") == "rules"
    other = BuildConfig.model_validate({"models": {"verifier": "openai:other@http://a:1/v1"}})
    assert other.fge_settings() != one.fge_settings()


def test_inputs_and_overrides_are_told_apart():
    tokens = ["a.mp4", "--fge.threshold", "0.8", "videos/", "--sampling.nframes=8", "m.jsonl"]
    assert split_overrides(tokens) == (
        ["a.mp4", "videos/", "m.jsonl"],
        ["--fge.threshold", "0.8", "--sampling.nframes=8"],
    )


def _cli(*args: str):
    return CliRunner().invoke(app, ["data", *args])


def test_cli_config_problems_exit_2_with_one_line(clips, tmp_path):
    out = str(tmp_path / "out")
    result = _cli("build", str(clips[0]), "--out", out, "--fge.treshold", "0.8")
    assert result.exit_code == 2 and "fge.treshold: unknown field; did you mean threshold?" in result.stderr
    result = _cli("build", str(clips[0]), "--out", out)
    assert result.exit_code == 2 and "models.motion is not set but 1 input(s)" in result.stderr
    assert "--motion-model" in result.stderr and "Traceback" not in result.output
    result = _cli("build", str(clips[0]), "--out", out, "--motion-model", "rules", "--fusion-model", "rules")
    assert result.exit_code == 2 and "the rules backend cannot see video" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _cli("build", str(clips[0]), "--out", str(blocker), "--verifier", "hf:x", "--motion-model", "hf:x")
    assert result.exit_code == 2 and "exists and is not a folder" in result.stderr


def test_a_folder_being_built_is_not_written_twice(clips, tmp_path):
    with RecordStore(tmp_path / "out"):
        result = _cli("build", str(clips[0]), "--out", str(tmp_path / "out"), "--verifier", "hf:x")
    assert result.exit_code == 2 and "is being written by another build (pid " in result.stderr


def test_export_and_report_need_a_build_folder(tmp_path):
    result = _cli("export", str(tmp_path), "--to", "sft")
    assert result.exit_code == 2 and "no build records here" in result.stderr
    result = _cli("report", str(tmp_path))
    assert result.exit_code == 2 and "records.jsonl: no such file" in result.stderr
    assert result.stdout == ""  # stdout carries JSON results only; errors go to stderr
