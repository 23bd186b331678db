"""owlcap.reward: the Caption Set Equivalence Reward (CSER), the length reward, and TRL/verl adapters.

```python
from owlcap.reward import CSER, length_reward
cser = CSER("openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1")
results = await cser.score_group(predictions, reference)   # CSERResult per prediction (failed=True, not 0)
reward = results[0].reward + length_reward(predictions[0])  # the paper's total
```
"""

from owlcap.reward.config import CSERConfig, LengthRewardConfig, LengthTier
from owlcap.reward.cser import CSER
from owlcap.reward.length import count_words, length_reward
from owlcap.reward.result import CSERResult, UnitVerdict
from owlcap.reward.trl import CSERRewardFunc, LengthRewardFunc, completion_text, reward_functions, summarize
from owlcap.reward.verl import compute_score, compute_score_batch

__all__ = [
    "CSER",
    "CSERConfig",
    "CSERResult",
    "CSERRewardFunc",
    "LengthRewardConfig",
    "LengthRewardFunc",
    "LengthTier",
    "UnitVerdict",
    "completion_text",
    "compute_score",
    "compute_score_batch",
    "count_words",
    "length_reward",
    "reward_functions",
    "summarize",
]
