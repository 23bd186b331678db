"""The quickstart pipeline config: shipped inside the package, identical to configs/quickstart.yaml, and what
``owlcap quickstart`` runs."""

from __future__ import annotations

from pathlib import Path

from run_helpers import run_owlcap

from owlcap.run import load_pipeline, quickstart_config

REPO = Path(__file__).resolve().parents[2]


def test_the_package_copy_is_the_configs_file():
    assert quickstart_config().read_bytes() == (REPO / "configs" / "quickstart.yaml").read_bytes()


def test_it_opens_with_its_command_and_loads(tmp_path):
    first = quickstart_config().read_text().splitlines()[0]
    assert first.startswith("# owlcap quickstart") and "owlcap run configs/quickstart.yaml" in first
    source = load_pipeline(quickstart_config(), ["--run_dir", str(tmp_path)])
    assert source.config.model.build_tiny == "qwen2_5_vl"
    assert source.config.caption.models == ["base", "sft", "grpo"]


def test_the_package_data_ships_yaml():
    assert '"**/*.yaml"' in (REPO / "pyproject.toml").read_text()


def test_the_quickstart_command_takes_overrides_and_reports_errors(tmp_path):
    done = run_owlcap("quickstart", "--run-dir", str(tmp_path / "q"), "--sft.overrides.max_stepz", "3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "stage sft: invalid config" in done.stderr and "max_stepz" in done.stderr
