"""The base both run configs share: a recipe may change a field's default and help text, never its type or bounds."""

import pytest

from owlcap.train.dpo_config import DPODataConfig, DPOModelConfig, DPORunConfig
from owlcap.train.grpo_config import GRPODataConfig, GRPOModelConfig, GRPORewardConfig, GRPORunConfig
from owlcap.train.run_config import TrainDataConfig, TrainRunConfig
from owlcap.train.sft_config import SFTDataConfig, SFTRunConfig

PAIRS = [
    (TrainRunConfig, SFTRunConfig),
    (TrainRunConfig, GRPORunConfig),
    (TrainDataConfig, SFTDataConfig),
    (TrainDataConfig, GRPODataConfig),
    (TrainRunConfig, DPORunConfig),
    (TrainDataConfig, DPODataConfig),
]


def _same_type(base, recipe) -> bool:
    # A recipe may narrow a section to its own subclass (GRPO's model section); plain types must match exactly.
    if isinstance(base, type) and isinstance(recipe, type):
        return issubclass(recipe, base)
    return base == recipe


@pytest.mark.parametrize(("base", "recipe"), PAIRS, ids=lambda model: model.__name__)
def test_redeclared_fields_keep_the_base_type_and_bounds(base, recipe):
    for name, field in base.model_fields.items():
        mine = recipe.model_fields[name]
        assert _same_type(field.annotation, mine.annotation), name
        assert mine.metadata == field.metadata, name


@pytest.mark.parametrize("recipe", [SFTRunConfig, GRPORunConfig, DPORunConfig], ids=lambda model: model.__name__)
def test_recipes_reserve_at_least_the_shared_trl_args(recipe):
    assert recipe.RESERVED_TRL_ARGS > TrainRunConfig.RESERVED_TRL_ARGS


@pytest.mark.parametrize(
    "model",
    [
        TrainRunConfig,
        TrainDataConfig,
        GRPORunConfig,
        GRPODataConfig,
        GRPORewardConfig,
        GRPOModelConfig,
        DPORunConfig,
        DPODataConfig,
        DPOModelConfig,
    ],
    ids=lambda model: model.__name__,
)
def test_every_field_is_documented(model):
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == []
