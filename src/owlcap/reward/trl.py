"""TRL reward functions: CSER (async, judge-backed) and the length reward (sync).

TRL 1.16's contract (``GRPOTrainer._calculate_rewards``): a reward function is called with keyword arguments
``prompts``, ``completions``, ``completion_ids``, every dataset column (one value per completion), plus
``trainer_state``, ``log_extra(column, values)`` and ``log_metric(name, value)``; it returns one float per
completion, or ``None`` where it has no reward (TRL turns that into NaN and leaves it out). Async callables,
including instances with an ``async __call__``, run concurrently on TRL's event-loop thread. The display name is
the callable's ``__name__`` (set on the instances here).

```python
from owlcap.reward import reward_functions
trainer = GRPOTrainer(..., reward_funcs=reward_functions("openai:Qwen/Qwen3-32B@http://judge:8000/v1"))
```
The dataset needs a ``reference`` column (the released OwlCap data's ``solution`` column, ``{"answer": ...}``,
works with ``reference_key="solution"``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from owlcap.errors import ConfigError
from owlcap.llm import LLM, LLMConfig
from owlcap.reward.config import CSERConfig, LengthRewardConfig
from owlcap.reward.cser import CSER
from owlcap.reward.length import count_words, length_reward
from owlcap.reward.result import CSERResult

logger = logging.getLogger(__name__)


def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string, or a conversation whose last assistant message is the caption."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list):
        for message in reversed(completion):
            if isinstance(message, dict) and message.get("role", "assistant") == "assistant":
                content = message.get("content", "")
                if isinstance(content, list):
                    return "".join(p.get("text", "") for p in content if isinstance(p, dict))
                return str(content or "")
        return ""
    raise TypeError(f"cannot read a completion of type {type(completion).__name__}; expected str or messages")


def reference_text(value: Any, answer_key: str = "answer") -> str:
    """A reference caption from a dataset cell: a string, or a dict holding it under ``answer_key``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get(answer_key), str):
        return value[answer_key]
    raise ConfigError(f"reference cell {str(value)[:80]!r}: expected a caption string or a dict with {answer_key!r}")


def summarize(results: list[CSERResult], elapsed_s: float, judge_requests: int = 0) -> dict[str, float]:
    """Batch metrics: mean correctness/completeness/reward over scored items, failures, answers scored 0 because
    they were unparsable (``official_unparsable: zero``), latency, judge requests."""
    scored = [r for r in results if not r.failed]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {
        "correctness": mean([r.correctness for r in scored]),
        "completeness": mean([r.completeness for r in scored]),
        "reward": mean([r.reward for r in scored]),
        "failures": float(len(results) - len(scored)),
        "failure_rate": (len(results) - len(scored)) / len(results) if results else 0.0,
        "unparsable": float(sum(r.unparsable is not None for r in scored)),
        "latency_s": elapsed_s,
        "judge_requests": float(judge_requests),
    }


class CSERRewardFunc:
    """Async TRL reward function returning ``CSERResult.reward`` per completion, ``None`` where judging failed.

    After each call ``last_metrics`` holds the batch metrics (``summarize``) and ``total_failures`` the running
    count; the same metrics go to TRL's ``log_metric`` as ``<name>/<metric>``, and per-completion correctness,
    completeness and failure flags to ``log_extra`` (the completions table).
    """

    def __init__(self, cser: CSER, *, reference_key: str = "reference", answer_key: str = "answer", name: str = "cser"):
        self.cser = cser
        self.reference_key = reference_key
        self.answer_key = answer_key
        self.__name__ = name
        self.last_metrics: dict[str, float] = {}
        self.last_results: list[CSERResult] = []
        self.total_failures = 0

    async def __call__(
        self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if self.reference_key not in kwargs:
            columns = sorted(k for k in kwargs if k not in ("trainer_state", "log_extra", "log_metric"))
            raise ConfigError(
                f"reward {self.__name__}: the dataset has no {self.reference_key!r} column (it has {columns}); add "
                "one with the reference captions or pass reference_key="
            )
        texts = [completion_text(c) for c in completions or []]
        references = [reference_text(v, self.answer_key) for v in kwargs[self.reference_key]]
        before = self.cser.judge.stats.snapshot()
        start = time.perf_counter()
        results = await self.cser.score_batch(texts, references)
        requests = (self.cser.judge.stats.snapshot() - before).requests
        self.last_results = results
        self.last_metrics = summarize(results, time.perf_counter() - start, requests)
        self.total_failures += int(self.last_metrics["failures"])
        self._log(kwargs, results)
        return [None if r.failed else r.reward for r in results]

    def _log(self, kwargs: dict[str, Any], results: list[CSERResult]) -> None:
        log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
        if log_metric is not None:
            for metric, value in self.last_metrics.items():
                if value == value:  # NaN (nothing scored) would poison the running mean
                    log_metric(f"{self.__name__}/{metric}", value)
        log_extra: Callable[[str, list], None] | None = kwargs.get("log_extra")
        if log_extra is not None:
            log_extra(f"{self.__name__}_correctness", [r.correctness for r in results])
            log_extra(f"{self.__name__}_completeness", [r.completeness for r in results])
            log_extra(f"{self.__name__}_failed", [r.failed for r in results])
        unreadable = [r.unparsable for r in results if r.unparsable is not None]
        if unreadable:
            logger.warning(
                "%s: %d of %d judge answers unparsable, scored 0 as the released reward does (official_unparsable: "
                "zero); first: %s",
                self.__name__,
                len(unreadable),
                len(results),
                unreadable[0],
            )
        if self.last_metrics["failures"]:
            failures = int(self.last_metrics["failures"])
            logger.warning(
                "%s: %d of %d completions not scored (judge failures); their reward is None",
                self.__name__,
                failures,
                len(results),
            )


class LengthRewardFunc:
    """Sync TRL reward function: the paper's length reward of each completion."""

    def __init__(self, config: LengthRewardConfig | None = None, *, name: str = "length"):
        self.config = config or LengthRewardConfig()
        self.__name__ = name

    def __call__(
        self, prompts: list[Any] | None = None, completions: list[Any] | None = None, **kwargs: Any
    ) -> list[float]:
        texts = [completion_text(c) for c in completions or []]
        log_metric = kwargs.get("log_metric")
        if log_metric is not None and texts:
            log_metric(f"{self.__name__}/words", sum(count_words(t) for t in texts) / len(texts))
        return [length_reward(t, self.config) for t in texts]


def reward_functions(
    judge: LLM | str = "rules",
    *,
    cser_config: CSERConfig | None = None,
    llm_config: LLMConfig | None = None,
    length_config: LengthRewardConfig | None = None,
    reference_key: str = "reference",
) -> list[Any]:
    """The paper's GRPO rewards for TRL: ``[CSERRewardFunc, LengthRewardFunc]`` (sum them with equal weights)."""
    cser = CSER(judge, cser_config, llm_config)
    return [CSERRewardFunc(cser, reference_key=reference_key), LengthRewardFunc(length_config)]
