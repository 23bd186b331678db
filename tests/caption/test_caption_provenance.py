"""``check_output``: what counts as "made with other settings" (cheap checks, no model)."""

from __future__ import annotations

import json

import pytest

from owlcap.caption.config import CaptionConfig
from owlcap.caption.provenance import check_output, meta_path, provenance
from owlcap.errors import ConfigError


def _made_by(out, model: str, config: CaptionConfig) -> None:
    out.write_text(json.dumps({"id": "a", "caption": "A."}) + "\n")
    meta_path(out).write_text(json.dumps({"settings": provenance(model, config)}))


def test_the_same_local_model_spelled_differently_is_the_same(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "m").mkdir(parents=True)
    out = tmp_path / "captions.jsonl"
    _made_by(out, "runs/m", CaptionConfig())
    check_output(out, "./runs/m/", CaptionConfig())
    check_output(out, str(tmp_path / "runs" / "m"), CaptionConfig())
    with pytest.raises(ConfigError, match=r"generation.max_new_tokens: 1024 -> 8"):
        check_output(out, "runs/m", CaptionConfig(generation={"max_new_tokens": 8}))


def test_a_sidecar_without_captions_describes_nothing(tmp_path):
    out = tmp_path / "captions.jsonl"
    _made_by(out, "old-model", CaptionConfig())
    out.write_text("")  # the captions were emptied, the sidecar stayed
    check_output(out, "new-model", CaptionConfig())


def test_an_unreadable_sidecar_says_how_to_go_on(tmp_path):
    out = tmp_path / "captions.jsonl"
    _made_by(out, "m", CaptionConfig())
    meta_path(out).write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable .* pass --overwrite"):
        check_output(out, "m", CaptionConfig())
    check_output(out, "m", CaptionConfig(), overwrite=True)


def test_hf_and_server_spellings_of_one_model_match(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    out = tmp_path / "captions.jsonl"
    _made_by(out, "m", CaptionConfig())
    check_output(out, "hf:./m", CaptionConfig())
    _made_by(out, "openai:qwen@http://127.0.0.1:8000/v1", CaptionConfig())  # a server engine's name
    check_output(out, "openai:qwen@http://127.0.0.1:8000/v1/", CaptionConfig())  # as typed on the command line
    with pytest.raises(ConfigError, match="model: 'openai:qwen@http://127.0.0.1:8000/v1' -> 'openai:other@"):
        check_output(out, "openai:other@http://127.0.0.1:8000/v1", CaptionConfig())
