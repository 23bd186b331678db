"""Checks that keep a GRPO run from training on nothing: the judge preflight, and the watch over each logged step.

A CSER run whose judge is down does not crash: every completion is unscorable, every advantage is 0, and the run
trains to the end on no signal. So, before the first step, :func:`preflight_judge` asks the judge one small
structured question (split a one-sentence caption into units) and stops the run at once, naming the spec and the
cause, when it gets no valid answer. During training :class:`RewardWatch` reads each logged step: when the judge
failed on more than ``max_failed_share`` of the completions over the last ``window_steps`` logged steps, the run
stops with a checkpoint (re-run the same command to resume once the judge is back); when every group had one reward
for all its completions (reward std 0: no advantage, no gradient) on the run's first logged step, it says so at once,
and ``zero_std_steps`` such steps in a row warn again (or stop, ``on_zero_std: stop``). The trainer side is
``owlcap.train.callbacks.RewardChecksCallback``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from owlcap.errors import JudgeError
from owlcap.llm import LLM
from owlcap.units import decompose_task

logger = logging.getLogger(__name__)

PREFLIGHT_CAPTION = "A man in a red jacket opens a wooden door and walks into a bright kitchen."


class RewardChecksConfig(BaseModel):
    """The ``reward.checks`` section: the judge preflight and the stop/warn rules of a GRPO run."""

    model_config = ConfigDict(extra="forbid")

    preflight: bool = Field(
        True, description="Before the first step, ask the judge one small question; stop at once if it cannot answer."
    )
    preflight_timeout_s: float = Field(
        300.0, gt=0, description="Longest wait for the preflight answer, retries (and an hf judge's loading) included."
    )
    max_failed_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Stop (with a checkpoint) when the judge failed on more than this share of the completions over "
        "the last window_steps logged steps; 1 = never stop.",
    )
    window_steps: int = Field(5, ge=1, description="Logged steps the judge failure share is averaged over.")
    zero_std_steps: int = Field(
        3,
        ge=0,
        description="Warn when every group's rewards were all equal (no learning signal) for this many logged steps "
        "in a row (a run whose first logged step has none is told at once); 0 = never.",
    )
    on_zero_std: Literal["warn", "stop"] = Field(
        "warn", description="What zero_std_steps triggers: a loud warning, or a stop with a checkpoint."
    )


def preflight_judge(judge: LLM, config: RewardChecksConfig) -> float:
    """Ask ``judge`` to split :data:`PREFLIGHT_CAPTION` into units, bypassing the result cache; returns the seconds
    it took. Raises ``JudgeError`` naming the judge spec, the cause and how to go on. The ``rules`` judge needs none.
    """
    if judge.backend == "rules" or not config.preflight:
        return 0.0
    task = decompose_task(PREFLIGHT_CAPTION)
    started = time.perf_counter()

    async def ask() -> Any:
        return await asyncio.wait_for(judge.chat(task.messages, task.schema), config.preflight_timeout_s)

    logger.info("checking the judge %s with one request (reward.checks.preflight)", judge.name)
    try:
        answer = judge.run_in_background(ask())
    except TimeoutError as exc:
        cause = f"no answer within reward.checks.preflight_timeout_s={config.preflight_timeout_s:g} s"
        raise JudgeError(_preflight_message(judge, cause)) from exc
    except JudgeError as exc:
        raise JudgeError(_preflight_message(judge, str(exc))) from exc
    if not answer.units:
        raise JudgeError(_preflight_message(judge, "it answered with no units for a plain one-sentence caption"))
    seconds = time.perf_counter() - started
    logger.info("the judge %s answered the preflight request in %.1f s", judge.name, seconds)
    return seconds


def _preflight_message(judge: LLM, cause: str) -> str:
    return (
        f"reward.judge {judge.name}: the judge failed a test request before training ({cause}). Start the judge "
        "server (e.g. vllm serve Qwen/Qwen3-32B --port 8000), or fix reward.judge; reward.checks.preflight: false "
        "skips this check."
    )


@dataclass(frozen=True)
class Verdict:
    """What one logged step calls for: ``stop`` (the reason) and/or ``warn`` (a message); both ``None``: go on."""

    stop: str | None = None
    warn: str | None = None


class RewardWatch:
    """Reads each logged step's metrics (TRL's ``rewards/<name>/failed_share`` as owlcap's trainer logs it, and
    ``frac_reward_zero_std``) and applies the rules of :class:`RewardChecksConfig`. Pure: no trainer needed."""

    def __init__(self, config: RewardChecksConfig):
        self.config = config
        self.failed_shares: deque[float] = deque(maxlen=config.window_steps)
        self.zero_std_streak = 0
        self.logged_steps = 0  # steps that logged frac_reward_zero_std
        self.signal_steps = 0  # ... of which some group had a reward spread (a gradient)

    def observe(self, logs: dict[str, Any]) -> Verdict:
        shares = [
            float(value)
            for key, value in logs.items()
            if key.startswith("rewards/") and key.endswith("/failed_share") and isinstance(value, (int, float))
        ]
        stop = warn = None
        if shares:
            self.failed_shares.append(max(shares))
            stop = self._judge_failures()
        zero_std = logs.get("frac_reward_zero_std")
        if isinstance(zero_std, (int, float)):
            self.logged_steps += 1
            self.signal_steps += zero_std < 1.0
            self.zero_std_streak = self.zero_std_streak + 1 if zero_std >= 1.0 else 0
            steps = self.config.zero_std_steps
            first = self.logged_steps == 1  # a run that starts without a spread is told at once
            if steps and self.zero_std_streak and (first or self.zero_std_streak % steps == 0):
                streak = self.zero_std_streak
                run = "this logged step" if streak == 1 else f"the last {streak} logged steps"
                message = (
                    f"every group's completions got the same reward on {run} (reward std 0): the advantages are 0 "
                    "and the policy learns nothing. Are the completions all alike (temperature, too few tokens to "
                    "differ, a collapsed model), or is every reward failing or constant?"
                )
                if self.config.on_zero_std == "stop" and self.zero_std_streak % steps == 0:
                    stop = stop or message + " (reward.checks.on_zero_std: stop)"
                else:
                    warn = message
        return Verdict(stop, warn)

    def _judge_failures(self) -> str | None:
        window = self.failed_shares
        if len(window) < (window.maxlen or 1):
            return None
        share = sum(window) / len(window)
        if share <= self.config.max_failed_share:
            return None
        return (
            f"the judge failed on {share:.0%} of the completions over the last {len(window)} logged steps "
            f"(reward.checks.max_failed_share={self.config.max_failed_share:g})"
        )
