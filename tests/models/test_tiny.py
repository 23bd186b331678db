import json

import pytest
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

from owlcap.models import build_tiny_model


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_tiny_model_loads_offline_with_auto_classes(tiny_models, family):
    path = tiny_models[family]
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == family
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    vocab = processor.tokenizer.get_vocab()
    # The config's vision token ids must point at the tokenizer's placeholders, or the processor and model disagree.
    assert vocab["<|video_pad|>"] == config.video_token_id
    assert vocab["<|vision_start|>"] == config.vision_start_token_id
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
    assert processor.tokenizer.chat_template
    chat = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe."}]}],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert chat.endswith("<|im_start|>assistant\n")
    assert "<|vision_start|><|video_pad|><|vision_end|>Describe.<|im_end|>" in chat


def test_tiny_model_is_deterministic_for_a_seed(tmp_path):
    a = build_tiny_model(tmp_path / "a", "qwen2_5_vl", seed=3)
    b = build_tiny_model(tmp_path / "b", "qwen2_5_vl", seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert json.loads((a / "tokenizer.json").read_text()) == json.loads((b / "tokenizer.json").read_text())


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="family"):
        build_tiny_model(tmp_path, "llava")


def test_a_named_architecture_runs_on_the_tiny_tokenizer_without_weights(tiny_qwen25):
    import torch

    from owlcap.models.tiny import build_random_model, random_model_config

    tiny = AutoConfig.from_pretrained(tiny_qwen25)
    config = random_model_config(tiny_qwen25, "qwen2.5-vl-7b")
    assert (config.text_config.hidden_size, config.vision_config.depth) == (3584, 32)
    assert config.video_token_id == tiny.video_token_id
    assert config.text_config.eos_token_id == tiny.text_config.eos_token_id
    model = build_random_model(config, tiny_qwen25, device="meta", dtype=torch.bfloat16)  # shapes only, no memory
    assert model.num_parameters() == 8_292_166_656  # Qwen2.5-VL-7B-Instruct's published count
    assert model.config._name_or_path == str(tiny_qwen25)  # where TRL finds the tokenizer and a reference model


def test_random_config_keeps_the_tiny_dimensions_unless_overridden(tiny_qwen25):
    from owlcap.models.tiny import random_model_config

    tiny = AutoConfig.from_pretrained(tiny_qwen25)
    config = random_model_config(tiny_qwen25, vision={"depth": 6})
    assert config.text_config.hidden_size == tiny.text_config.hidden_size
    assert config.vision_config.depth == 6 and config.vision_config.hidden_size == tiny.vision_config.hidden_size


def test_random_config_rejects_an_unknown_architecture_or_a_foreign_tokenizer(tiny_qwen25, tiny_qwen3):
    from owlcap.models.tiny import random_model_config

    with pytest.raises(ValueError, match="architecture"):
        random_model_config(tiny_qwen25, "llava-7b")
    with pytest.raises(ValueError, match="needs a qwen2_5_vl"):
        random_model_config(tiny_qwen3, "qwen2.5-vl-7b")
