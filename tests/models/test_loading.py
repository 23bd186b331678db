"""Where a model comes from, checked before anything loads: a path that is not there, a folder without a model, an
unreachable hub and a missing device each end at once with one line; a cached hub model loads offline."""

from __future__ import annotations

import socket

import huggingface_hub
import pytest
from huggingface_hub import constants

from owlcap.errors import ConfigError, ModelLoadError
from owlcap.models.loading import load_model_and_processor, looks_like_path, model_source, resolve_device


@pytest.mark.parametrize(
    ("name", "path_like"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", False),
        ("gpt2", False),
        ("./runs/sft", True),
        ("/abs/model", True),
        ("~/models/x", True),
        ("runs/sft/final", True),
        ("outputs/", True),
    ],
)
def test_looks_like_path(name, path_like):
    assert looks_like_path(name) is path_like


def test_a_one_slash_name_under_a_local_folder_is_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not looks_like_path("runs/typo")
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelLoadError, match=r"^runs/typo: no such folder"):
        model_source("runs/typo")


def test_local_folders_must_hold_a_model(tmp_path, tiny_qwen25):
    assert model_source(str(tiny_qwen25)) is False
    with pytest.raises(ModelLoadError, match="holds no config.json"):
        model_source(str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is a file"):
        model_source(str(tmp_path / "weights.bin"))


def _dead_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_an_unreachable_hub_fails_at_once_or_uses_the_cache(monkeypatch, caplog):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", _dead_endpoint())
    with pytest.raises(ModelLoadError, match=r"Qwen/Nothing: not a local folder, and the Hugging Face hub .* cannot"):
        model_source("Qwen/Nothing")
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda repo, name: "/cache/config.json")
    assert model_source("Qwen/Cached") is True  # local_files_only: no retries against the dead hub
    assert any("using the cached Qwen/Cached" in record.getMessage() for record in caplog.records)


def test_offline_mode_without_the_model_in_the_cache(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="not in the Hugging Face cache while HF_HUB_OFFLINE is set"):
        load_model_and_processor("Qwen/Nothing")  # one line, from the check, before transformers is asked


def test_devices_this_machine_lacks_are_config_errors(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="no CUDA GPU is available on this machine; use --device cpu or auto"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="not a device name"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ConfigError, match=r"has 2 CUDA GPU\(s\) \(cuda:0..cuda:1\)"):
        resolve_device("cuda:2")
