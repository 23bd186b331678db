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
