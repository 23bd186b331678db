"""The hf backend: message mapping, batching, structured answers, and the real tiny Qwen2.5-VL on a sample video."""

import asyncio
import json

import pytest

from owlcap.errors import JudgeError
from owlcap.llm import LLMConfig, from_spec
from owlcap.llm.hf_backend import HFBackend, to_video_request
from owlcap.units import decompose_task, verify_video_task


class ScriptedModel:
    """Stands in for ``owlcap.models.MLLM``: records each batch, answers with the rules engine's JSON."""

    def __init__(self, answer=None):
        self.batches = []
        self.answer = answer or (lambda request: json.dumps({"units": [request.prompt.split("\n")[1]]}))

    def generate(self, requests, options):
        self.batches.append((list(requests), options))
        return [self.answer(r) for r in requests]


def test_messages_map_to_one_video_request():
    video = object()
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "video", "video": video}, {"type": "text", "text": "Check units."}]},
        {"role": "assistant", "content": "{bad"},
        {"role": "user", "content": "Fix it."},
    ]
    request = to_video_request(messages)
    assert request.system == "Be brief." and request.video is video
    assert request.prompt == "Check units.\n\nYour previous answer was:\n{bad\n\nFix it."
    with pytest.raises(JudgeError, match="image_url"):
        to_video_request([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])


def test_concurrent_requests_are_batched():
    model = ScriptedModel()
    judge = HFBackend("scripted", LLMConfig(cache=False, hf_batch_size=4, hf_batch_wait_ms=30), mllm=model)
    tasks = [decompose_task(f"Caption number {i}.") for i in range(6)]
    outcomes = judge.chat_many_sync(tasks)
    assert [o.value.units for o in outcomes] == [[f"Caption number {i}."] for i in range(6)]
    assert [len(batch) for batch, _ in model.batches] == [4, 2]
    options = model.batches[0][1]
    assert (options.max_new_tokens, options.temperature, options.top_k) == (8192, 0.7, 20)


def test_invalid_answers_get_a_repair_round_then_fail():
    model = ScriptedModel(answer=lambda request: "not json at all")
    judge = HFBackend("scripted", LLMConfig(cache=False, hf_batch_wait_ms=0), mllm=model)
    with pytest.raises(JudgeError, match="repair"):
        asyncio.run(judge.run(decompose_task("A dog runs.")))
    assert len(model.batches) == 2
    assert "Your previous answer was:\nnot json at all" in model.batches[1][0][0].prompt


def test_generation_errors_fail_the_batch_not_the_process():
    class Broken(ScriptedModel):
        def generate(self, requests, options):
            raise RuntimeError("CUDA out of memory")

    judge = HFBackend("broken", LLMConfig(cache=False, hf_batch_wait_ms=0), mllm=Broken())
    outcomes = judge.chat_many_sync([decompose_task("A."), decompose_task("B.")])
    assert all(not o.ok and "out of memory" in o.error for o in outcomes)


def test_tiny_qwen25_answers_text_and_video(tiny_qwen25, hmd_videos):
    """The real path: spec → load_mllm → processor with sampled frames → generate. A random model writes garbage,
    so structured tasks end as reported failures, never as crashes."""
    from owlcap.video import sample_frames

    judge = from_spec(f"hf:{tiny_qwen25}", LLMConfig(cache=False, max_tokens=4, temperature=0, repair_rounds=0))
    text = judge.chat_sync([{"role": "user", "content": "Say hi."}])
    assert isinstance(text, str)
    factor = judge.mllm.vision_factor
    video = sample_frames(hmd_videos[0], nframes=2, min_pixels=factor**2, max_pixels=factor**2 * 4, factor=factor)
    outcomes = judge.chat_many_sync([verify_video_task(["A woman stands."], video), decompose_task("A dog runs.")])
    assert all(o.error is None or "invalid answer" in o.error for o in outcomes)
    assert judge.stats.snapshot().requests == 3


def test_unset_sampling_falls_back_to_the_config():
    """An in-process model has no server defaults: an option set to None takes the config's value."""
    backend = HFBackend("tiny", LLMConfig(temperature=0.3, max_tokens=12), mllm=ScriptedModel())
    options = backend.generation_options({"temperature": None, "max_tokens": None})
    assert (options.temperature, options.max_new_tokens) == (0.3, 12)
    assert backend.generation_options({"temperature": 0.0, "max_tokens": 5}).max_new_tokens == 5
