"""The ``rules`` backend: answers owlcap's structured text tasks offline with ``TextRules``. Weak; see rules_text.

It answers the same ``Task`` objects as the model backends (each task carries its ``offline`` recipe), validated
through the same schemas, so code that uses a judge never branches on the backend. A recipe may also return the
raw answer text a model would write; a task with a ``parse`` function (an official scorer's parser) then reads it
with that same parser, so the parser runs exactly as it does on a model's answer. It cannot chat freely and cannot
see video: such requests raise ``JudgeError`` naming the task.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from owlcap.errors import JudgeError
from owlcap.llm.base import LLM
from owlcap.llm.config import LLMConfig
from owlcap.llm.parsing import message_chars
from owlcap.llm.rules_text import TextRules
from owlcap.llm.task import Generation, Message, Task


class RulesBackend(LLM):
    """Deterministic, offline judge for text tasks (splitting captions into units, unit support by a text)."""

    backend = "rules"
    uses_cache = False  # answers are computed in microseconds; caching them would only cost disk I/O

    def __init__(self, config: LLMConfig | None = None, rules: TextRules | None = None):
        super().__init__("rules", config)
        self.rules = rules or TextRules()

    @property
    def name(self) -> str:
        return "rules"

    async def _run_task(self, task: Task) -> tuple[Any, str, int]:
        if task.offline is None:
            raise JudgeError(f"the rules backend cannot answer {task.kind!r}: it needs a model (e.g. video input)")
        self.stats.add(requests=1, prompt_chars=message_chars(task.messages))
        data = task.offline(self.rules)
        raw = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        self.stats.add(completion_chars=len(raw))
        try:
            if task.schema is not None:
                result = task.schema.model_validate(data)
            elif task.parse is not None and isinstance(data, str):
                result = task.parse(data)  # the caller's parser reads the recipe's text as it reads a model's
            else:
                result = data
            if task.check is not None:
                task.check(result)
        except (ValidationError, ValueError) as exc:
            # worded like the model backends' message, so callers classify it the same way (an invalid answer)
            raise JudgeError(f"invalid answer after 1 attempt(s) (rules recipe for {task.kind!r}): {exc}") from exc
        return result, raw, 1

    async def _generate(
        self, messages: list[Message], *, schema: type[BaseModel] | None, options: dict[str, Any]
    ) -> Generation:
        raise JudgeError("the rules backend answers only owlcap tasks (owlcap.units), not free chat; use llm.run(task)")
