"""What ships with the repository stands alone: every config and doc works from a clone with nothing beside it.

Every YAML under configs/ loads (``${samples}`` expanded by ``owlcap.config``, as every command does), names no
``../shared`` folder, and every sample path it names exists; the tiny training configs load from any working folder;
every relative link in the README and docs/ points at a file inside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from owlcap.config import iter_strings, load_config, load_yaml
from owlcap.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").rglob("*.yaml"))
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_config_names_only_what_a_clone_has(path, samples_dir):
    text = path.read_text()
    assert not re.search(r"\.\./shared|shared/(samples|benchmarks|docs)", text), "names a folder outside the clone"
    data = load_yaml(path, variables={"run_dir": "runs/x"})
    named = [value for value in iter_strings(data) if value.startswith(str(samples_dir))]
    missing = [value for value in named if not Path(value).exists()]
    assert not missing, f"{path.name} names sample paths that do not exist: {missing}"


@pytest.mark.parametrize("name", ["sft/tiny.yaml", "grpo/tiny.yaml", "grpo/owlcap_released_tiny.yaml"])
def test_tiny_configs_find_the_samples_from_any_folder(name, samples_dir, tmp_path, monkeypatch):
    from owlcap.train.grpo_config import GRPORunConfig
    from owlcap.train.sft_config import SFTRunConfig

    monkeypatch.chdir(tmp_path)
    model = SFTRunConfig if name.startswith("sft") else GRPORunConfig
    config = load_config(model, REPO / "configs" / name)
    assert config.data.train_files == [str(samples_dir / "hmd" / "captions.jsonl")]
    assert Path(config.data.train_files[0]).is_file()


def test_samples_placeholder_in_overrides_and_its_errors(tmp_path, monkeypatch, samples_dir):
    from owlcap.train.sft_config import SFTRunConfig

    config = load_config(SFTRunConfig, REPO / "configs/sft/tiny.yaml", ["--data.train_files", "${samples}/x.jsonl"])
    assert config.data.train_files == [f"{samples_dir}/x.jsonl"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {train_files: ['${sample}/hmd/captions.jsonl']}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: data: train_files\[0\]: unknown placeholder \$\{sample\}"):
        load_config(SFTRunConfig, bad)
    monkeypatch.setenv("OWLCAP_SAMPLES_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="unset OWLCAP_SAMPLES_DIR to use the sample data shipped with owlcap"):
        load_config(SFTRunConfig, REPO / "configs/sft/tiny.yaml")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_links_stay_inside_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    assert not re.search(r"\.\./shared|shared/(samples|benchmarks|docs)", text), "names a folder outside the clone"
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"
