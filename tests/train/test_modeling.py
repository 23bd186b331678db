import pytest

from owlcap.errors import ConfigError
from owlcap.train.modeling import (
    TrainModelConfig,
    count_parameters,
    load_training_model,
    prepare_model,
    vision_parameter_names,
)


def _load(tiny_models, family, **fields):
    config = TrainModelConfig(name_or_path=str(tiny_models[family]), **fields)
    model, processor = load_training_model(config)
    return model, processor, config


def test_loads_in_fp32_on_cpu_with_cache_off(tiny_models, family):
    import torch

    model, processor, _ = _load(tiny_models, family)
    assert model.dtype == torch.float32
    assert model.config.use_cache is False
    assert hasattr(processor, "video_processor")


def test_vision_parts_are_found(tiny_models, family):
    model, _, _ = _load(tiny_models, family)
    vision = vision_parameter_names(model)
    assert vision.tower and vision.projector
    assert all("merger" in name for name in vision.projector)
    assert not set(vision.tower) & set(vision.projector)
    assert not any("language_model" in name for name in vision.tower + vision.projector)


@pytest.mark.parametrize(
    ("freeze_tower", "freeze_projector"), [(True, False), (False, True), (True, True), (False, False)]
)
def test_full_tuning_freezes_what_is_asked(tiny_models, freeze_tower, freeze_projector):
    model, _, config = _load(
        tiny_models, "qwen2_5_vl", freeze_vision_tower=freeze_tower, freeze_projector=freeze_projector
    )
    assert prepare_model(model, config) is None
    params = dict(model.named_parameters())
    vision = vision_parameter_names(model)
    assert all(params[n].requires_grad != freeze_tower for n in vision.tower)
    assert all(params[n].requires_grad != freeze_projector for n in vision.projector)
    assert all(p.requires_grad for n, p in params.items() if "language_model" in n or n.startswith("lm_head"))
    counts = count_parameters(model)
    frozen = sum(params[n].numel() for n in vision.tower * freeze_tower + vision.projector * freeze_projector)
    assert counts.trainable == counts.total - frozen


def test_lora_adapts_language_model_and_trains_projector(tiny_models, family):
    from peft import get_peft_model

    model, _, config = _load(tiny_models, family, tuning="lora", lora={"r": 4, "alpha": 8})
    lora = prepare_model(model, config)
    assert all("language_model" in name for name in lora.target_modules)
    assert any(name.endswith("q_proj") for name in lora.target_modules)
    assert any("merger" in name for name in lora.modules_to_save)
    peft_model = get_peft_model(model, lora)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n and "language_model" in n for n in trainable)
    assert any("merger" in n and "lora" not in n for n in trainable)
    assert not any(".visual.blocks" in n for n in trainable)
    assert count_parameters(peft_model).trainable_share < 0.5


def test_lora_with_unfrozen_tower_adapts_vision_blocks_but_not_projector(tiny_models):
    model, _, config = _load(tiny_models, "qwen3_vl", tuning="lora", freeze_vision_tower=False, freeze_projector=True)
    lora = prepare_model(model, config)
    assert any(".visual.blocks" in name for name in lora.target_modules)
    assert not any("merger" in name for name in lora.target_modules)
    assert lora.modules_to_save is None


def test_config_rejects_lora_settings_without_lora_tuning():
    with pytest.raises(ValueError, match="set tuning: lora"):
        TrainModelConfig(lora={"r": 8})


def test_freezing_a_missing_tower_says_what_to_change(tiny_models):
    import torch

    class TextOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

    with pytest.raises(ConfigError, match="freeze_vision_tower"):
        prepare_model(TextOnly(), TrainModelConfig())
