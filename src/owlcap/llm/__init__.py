"""owlcap.llm: the one interface for every LLM/MLLM call.

```python
from owlcap.llm import from_spec, LLMConfig

judge = from_spec("openai:Qwen/Qwen3-32B@http://127.0.0.1:8000/v1", LLMConfig(concurrency=8))
text = await judge.chat([{"role": "user", "content": "Hi"}])          # str, <think> stripped
answer = await judge.run(task)                                        # a validated pydantic object (cached)
outcomes = await judge.chat_many(tasks)                               # one Outcome per task, never raises
judge.stats.snapshot()                                                # requests, retries, tokens, latency...
```

Backends: ``openai`` (any OpenAI-compatible server), ``hf`` (in-process transformers), ``rules`` (offline
heuristics, weak). Failures after retries raise ``owlcap.errors.JudgeError``.
"""

from owlcap.llm.base import LLM
from owlcap.llm.config import LLMConfig, ModelSpec, parse_spec
from owlcap.llm.factory import from_spec
from owlcap.llm.parsing import strip_think
from owlcap.llm.stats import LLMStats, StatsSnapshot
from owlcap.llm.task import Answer, Generation, Message, Outcome, Task

__all__ = [
    "LLM",
    "Answer",
    "Generation",
    "LLMConfig",
    "LLMStats",
    "Message",
    "ModelSpec",
    "Outcome",
    "StatsSnapshot",
    "Task",
    "from_spec",
    "parse_spec",
    "strip_think",
]
