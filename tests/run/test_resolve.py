"""Pipeline configs: a typo, a missing file or a bad value is an error naming the stage, the field and where the
value came from, raised before any stage runs; placeholders expand; the pipeline's own fields cannot be overridden."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from run_helpers import overrides, run_owlcap

from owlcap.errors import ConfigError
from owlcap.run import load_pipeline, quickstart_config, run_pipeline
from owlcap.run.stages import STAGES, Layout


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _resolve_all(path: Path, args: list[str] | None = None):
    source = load_pipeline(path, args or [])
    layout = Layout(source.run_dir)
    return {stage.name: stage.resolve(source, layout) for stage in STAGES if getattr(source.config, stage.name)}


def test_the_quickstart_resolves_with_the_samples_and_the_chain(tmp_path):
    resolved = _resolve_all(quickstart_config(), ["--run_dir", str(tmp_path / "r")])
    hmd = str(tmp_path / "r" / "data" / "hmd.jsonl")  # what SFT and GRPO train on is the data stage's output
    assert resolved["data"].config.models.verifier == f"hf:{tmp_path / 'r' / 'base-model'}"
    assert resolved["data"].extra["base_model"] is True  # the tiny model the pipeline builds plays MDF and FGE
    assert resolved["sft"].config.data.train_files == [hmd] and resolved["grpo"].config.data.train_files == [hmd]
    assert resolved["sft"].config.model.name_or_path == str(tmp_path / "r" / "base-model")
    assert resolved["sft"].config.output_dir == str(tmp_path / "r" / "sft" / "model")
    assert resolved["grpo"].config.model.name_or_path == str(tmp_path / "r" / "sft" / "model")
    assert resolved["sft"].upstream == ["data"] and resolved["grpo"].upstream == ["data", "sft"]
    assert resolved["caption"].upstream == ["sft", "grpo"] and resolved["eval"].upstream == ["caption", "grpo"]
    assert resolved["report"].upstream == ["data", "sft", "grpo", "caption", "eval"]
    vdc = resolved["eval"].config.vdc["grpo"]
    assert vdc.out == tmp_path / "r" / "eval" / "vdc" / "grpo" and vdc.captioning.model == str(
        tmp_path / "r" / "grpo" / "model"
    )
    dream = resolved["eval"].config.dream1k["references"]
    assert dream.captions.path == tmp_path / "r" / "eval" / "dream1k" / "reference_captions.jsonl"


def test_a_typo_in_a_stage_config_file_names_stage_file_and_field(tmp_path):
    sft_file = _write(tmp_path / "sft.yaml", {"data": {"train_files": ["x.jsonl"]}, "learnig_rate": 1e-5})
    pipeline = _write(tmp_path / "p.yaml", {"run_dir": str(tmp_path / "r"), "model": {"name_or_path": "m"},
                                            "sft": {"config": str(sft_file)}})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        run_pipeline(pipeline)
    message = str(caught.value)
    assert message.startswith("stage sft: invalid config")
    assert f"learnig_rate: unknown field; did you mean learning_rate? [stage config {sft_file}]" in message


def test_a_bad_override_names_the_overrides_section_or_the_command_line(tmp_path):
    pipeline = _write(tmp_path / "p.yaml", {"run_dir": str(tmp_path / "r"), "model": {"name_or_path": "m"},
                                            "grpo": {"config": {"data": {"train_files": ["x"]}},
                                                     "overrides": {"num_generations": 1}}})  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        run_pipeline(pipeline)
    assert "stage grpo: invalid config" in str(caught.value)
    assert f"num_generations: Input should be greater than or equal to 2 (got 1) [grpo.overrides in {pipeline}]" in str(
        caught.value
    )
    with pytest.raises(ConfigError, match=r"temperature: .* \[command line --grpo.overrides.temperature\]"):
        run_pipeline(pipeline, ["--grpo.overrides.num_generations", "2", "--grpo.overrides.temperature", "-1"])


def test_a_typo_in_the_pipeline_file_names_the_file_and_the_field(tmp_path):
    pipeline = _write(tmp_path / "p.yaml", {"run_dir": "r", "model": {"name_or_path": "m"}, "sft": {"confg": "x"}})
    with pytest.raises(ConfigError) as caught:
        run_pipeline(pipeline)
    assert str(caught.value).startswith(f"{pipeline}: invalid config")
    assert "sft.confg: unknown field; did you mean config?" in str(caught.value)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sft.config", "nope/sft.yaml"], "stage sft: sft.config in {p}: nope/sft.yaml: config file not found"),
        (["--sft.overrides.data.eval_files", "[/nope.jsonl]"],
         "stage sft: data.eval_files[0]: /nope.jsonl: no such file or folder (set in command line "
         "--sft.overrides.data.eval_files.0)"),
        (["--caption.videos", "[/nope/videos]"],
         "stage caption: caption.videos[0]: /nope/videos: no such file or folder (set in command line "
         "--caption.videos.0)"),
        (["--eval.cser.references", "/nope.jsonl"], "stage eval: eval.cser.references: /nope.jsonl: no such file"),
        (["--grpo.overrides.output_dir", "x"], "stage grpo: grpo.overrides.output_dir (command line "
         "--grpo.overrides.output_dir): the pipeline sets this field"),
        (["--caption.models", "[base, sft, ppo]"],
         "caption.models.2 (command line: --caption.models): Input should be 'base', 'sft', 'dpo' or 'grpo' "
         "(got 'ppo')"),
        (["--caption.models", "[base, dpo]"], "caption.models names ['dpo'] but the pipeline has no such stage"),
        (["--run_dir", "${nope}/x"], "run_dir: unknown placeholder ${nope}"),
        (["--data.inputs", "[/nope/videos]"],
         "stage data: data.inputs[0]: /nope/videos: no such file or folder (set in command line --data.inputs.0)"),
        (["--data.config.fge.threshhold", "0.5"],
         "fge.threshhold: unknown field; did you mean threshold? [command line --data.config.fge.threshhold]"),
        (["--sft.overrides.data.train_files", "[x.jsonl]"],
         "stage sft: sft.overrides.data.train_files (command line --sft.overrides.data.train_files): the pipeline "
         "sets this field"),
        (["--eval.vdc.overrides.out", "x"], "stage eval.vdc: eval.vdc.overrides.out (command line "
         "--eval.vdc.overrides.out): the pipeline sets this field"),
        (["--eval.vdc.config.qa_dir", "/nope"], "stage eval: eval.vdc.config.qa_dir: /nope: no such file or folder "
         "(set in command line --eval.vdc.config.qa_dir)"),
        (["--eval.vdc.reference_captions", "true"], "VDC has no reference captions (DREAM-1K and CaReBench only)"),
        (["--eval.capability.reference_captions", "true"], "CAPability has no reference captions"),
        (["--eval.dream1k.reference_captions", "false"], "stage eval: eval.dream1k: nothing to evaluate"),
        (["--servers.grpo", "Qwen/Qwen2.5-VL-7B"], "servers.grpo: 'Qwen/Qwen2.5-VL-7B' is not a server spec"),
        (["--sft.launch.comand", "torchrun"], "sft.launch.comand (command line: --sft.launch.comand): unknown field; "
         "did you mean command?"),
    ],
)  # fmt: skip
def test_missing_files_and_bad_values_are_reported_before_anything_runs(tmp_path, args, expected):
    run_dir = tmp_path / "r"
    with pytest.raises(ConfigError) as caught:
        run_pipeline(quickstart_config(), ["--run_dir", str(run_dir), *args])
    assert expected.replace("{p}", str(quickstart_config())) in str(caught.value)
    assert not run_dir.exists()  # nothing ran, not even the tiny model build


def test_the_command_line_reports_a_config_error_without_a_traceback(tmp_path):
    done = run_owlcap("run", str(quickstart_config()), *overrides(tmp_path / "r"), "--sft.overrides.learnig_rate", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "stage sft: invalid config" in done.stderr and "learnig_rate" in done.stderr


def test_missing_samples_say_how_to_point_at_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OWLCAP_SAMPLES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match=r"\$\{samples\} is .*nowhere, which does not exist: unset OWLCAP_SAMPLES"):
        load_pipeline(quickstart_config(), ["--run_dir", str(tmp_path / "r")])
