"""The optional ``dpo`` stage of ``owlcap run``: between SFT and GRPO (GRPO then starts from DPO's model) or in place of
GRPO; its pairs come from the run's own HMD build plus the sources its ``pairs`` config lists; the report shows its
curves and pairs per source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from run_helpers import QUICK, chromium_dom

from owlcap.errors import ConfigError
from owlcap.run import load_pipeline, quickstart_config, run_pipeline
from owlcap.run.stages import STAGES, Layout

REPO = Path(__file__).resolve().parents[2]


def _with_dpo(tmp_path: Path, *, grpo: bool, pairs: dict | None = None, **dpo) -> Path:
    """The quickstart with a dpo section (tiny DPO config, 6 steps); without GRPO, the DPO model captions instead."""
    data = yaml.safe_load(quickstart_config().read_text())
    data["dpo"] = {
        "config": str(REPO / "configs" / "dpo" / "tiny.yaml"),
        "overrides": {"max_steps": 6, "save_steps": 3},
        "pairs": pairs if pairs is not None else {"hmd": {"p_yes_cut": 0.425}},
        **dpo,
    }
    if not grpo:
        data.pop("grpo")
        data["caption"]["models"] = ["base", "sft", "dpo"]
        for section in data["eval"].values():  # every benchmark that captions with GRPO's model takes DPO's
            if isinstance(section, dict) and section.get("models"):
                section["models"] = ["dpo"]
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _resolve_all(path: Path, run_dir: Path):
    source = load_pipeline(path, ["--run_dir", str(run_dir)])
    layout = Layout(source.run_dir)
    return {stage.name: stage.resolve(source, layout) for stage in STAGES if getattr(source.config, stage.name)}


def test_dpo_sits_between_sft_and_grpo_and_pairs_the_runs_own_build(tmp_path):
    run = tmp_path / "r"
    resolved = _resolve_all(_with_dpo(tmp_path, grpo=True), run)
    dpo, grpo = resolved["dpo"], resolved["grpo"]
    assert dpo.config.model.name_or_path == str(run / "sft" / "model") and dpo.upstream == ["data", "sft"]
    assert dpo.config.data.train_files == [str(run / "dpo" / "pairs" / "pairs.jsonl")]
    assert dpo.config.output_dir == str(run / "dpo" / "model") and dpo.config.max_steps == 6
    assert dpo.extra["pairs"]["hmd"]["builds"] == [str(run / "data")] and dpo.inputs == {}
    assert grpo.config.model.name_or_path == str(run / "dpo" / "model") and grpo.upstream == ["data", "dpo"]
    assert resolved["report"].upstream == ["data", "sft", "dpo", "grpo", "caption", "eval"]


def test_the_pipeline_owns_the_dpo_chain_and_checks_the_pairs_sources(tmp_path):
    with pytest.raises(ConfigError, match=r"dpo.overrides.output_dir .*: the pipeline sets this field"):
        _resolve_all(_with_dpo(tmp_path, grpo=True, overrides={"output_dir": "elsewhere"}), tmp_path / "r")
    bad = _with_dpo(tmp_path, grpo=True, pairs={"grpo": {"runs": [str(tmp_path / "missing")], "min_margin": -1}})
    invalid = r"(?s)stage dpo: .*\(dpo.pairs\): invalid config.*grpo.min_margin: Input should be greater"
    with pytest.raises(ConfigError, match=invalid):
        _resolve_all(bad, tmp_path / "r")
    missing = _with_dpo(tmp_path, grpo=True, pairs={"grpo": {"runs": [str(tmp_path / "missing")]}})
    with pytest.raises(ConfigError, match=r"stage dpo: dpo.pairs.grpo.runs\[0\]: .*missing: no such file or folder"):
        run_pipeline(missing, ["--run_dir", str(tmp_path / "r")])


@pytest.mark.slow
def test_dpo_instead_of_grpo_runs_learns_and_is_reported(run_copy, tmp_path):
    earlier = tmp_path / "earlier-grpo"  # an earlier run's logged GRPO completions, as a second pair source
    shutil.copytree(run_copy / "grpo" / "model" / "completions", earlier / "completions")
    shutil.copy(run_copy / "grpo" / "model" / "owlcap_config.yaml", earlier)
    pipeline = _with_dpo(tmp_path, grpo=False, pairs={"hmd": {"p_yes_cut": 0.425}, "grpo": {"runs": [str(earlier)]}})
    args = ["--run_dir", str(run_copy)]
    for key, value in QUICK.items():
        if not key.startswith("grpo."):
            args += [f"--{key}", str(value)]
    result = run_pipeline(pipeline, args)
    statuses = {outcome.name: outcome.status for outcome in result.outcomes}
    assert statuses == {"data": "skipped", "sft": "skipped", "dpo": "ran", "caption": "ran", "eval": "ran",
                        "report": "ran"}  # fmt: skip
    summary = json.loads((run_copy / "dpo" / "stage.json").read_text())["summary"]
    assert set(summary["pairs_by_source"]) == {"hmd_fge", "grpo"} and summary["pairs"] >= 6
    assert summary["accuracy_last"] > 0.5 and summary["margin_last"] > summary["margin_first"] + 1
    vision = summary["weight_change"]["vision tower"]
    assert vision["changed"] == vision["tensors"] > 0
    assert (run_copy / "caption" / "dpo.jsonl").is_file() and summary["model"] == "dpo/model"

    report = json.loads((run_copy / "report" / "report.json").read_text())
    assert report["dpo"]["steps"] == 6 and set(report["dpo"]["by_source"]) == {"hmd_fge", "grpo"}
    assert len(report["dpo"]["curves"]["rewards/margins"]) == 6
    assert (run_copy / "report" / "dpo_curves.png").is_file()
    dom = chromium_dom(run_copy / "report" / "index.html", tmp_path)
    section = dom[dom.index('id="stage-dpo"') : dom.index('id="stage-caption"')]
    assert "pairs trained on" in section and "hmd_fge" in section and "reward accuracy" in section
    assert "DPO reward accuracy, first -&gt; last step" in dom and "vision tower weights changed by DPO" in dom
