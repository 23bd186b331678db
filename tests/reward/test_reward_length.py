import pytest

from owlcap.config import validate_config
from owlcap.errors import ConfigError
from owlcap.reward import LengthRewardConfig, LengthTier, count_words, length_reward


def words(n: int) -> str:
    return " ".join(["word"] * n)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 0.2), (99, 0.2), (100, 1.0), (250, 1.0), (300, 1.0), (301, 0.5), (400, 0.5), (401, 0.2), (5000, 0.2)],
)
def test_paper_tiers(n, expected):
    assert length_reward(words(n)) == expected


def test_empty_and_none_text():
    assert length_reward("") == 0.2
    assert length_reward(None) == 0.2
    assert length_reward("   \n  ") == 0.2


def test_word_count_follows_the_released_pattern():
    assert count_words("A close-up shot of the boy's glove, 3 times.") == 8  # "close-up", "boy's": one word each
    assert count_words("视频 video 123") == 1


def test_custom_bounds():
    bounds = LengthRewardConfig(tiers=[LengthTier(min_words=1, max_words=5, value=1.0)], otherwise=0.0)
    assert length_reward(words(3), bounds) == 1.0
    assert length_reward(words(6), bounds) == 0.0
    assert length_reward("", bounds) == 0.0


def test_bad_tiers_say_what_to_change():
    with pytest.raises(ConfigError, match="swap them"):
        validate_config(LengthRewardConfig, {"tiers": [{"min_words": 300, "max_words": 100, "value": 1}]})
