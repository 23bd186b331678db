"""Yes/no decided from the model's probabilities: server logprobs (openai), next-token logits (hf), text fallback."""

import asyncio
import json
import math

import numpy as np
import pytest
from helpers.fixtures import fast_llm_config
from helpers.llm_server import Reply

from owlcap.llm import LLMConfig, from_spec
from owlcap.llm.choices import parse_choice, probabilities_from_logprobs
from owlcap.units import parse_unit_verdict, verify_unit_task


class FakeVideo:
    def __init__(self):
        self.frames = np.zeros((2, 28, 28, 3), np.uint8)
        self.timestamps = [0.0, 1.0]


def logprob_reply(top: dict[str, float], text: str = "Yes") -> Reply:
    """A chat.completion body with ``logprobs`` for the first token, as vLLM sends with ``top_logprobs``."""
    tops = [{"token": token, "logprob": lp, "bytes": None} for token, lp in top.items()]
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "judge",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": {"content": [{"token": text, "logprob": -0.1, "bytes": None, "top_logprobs": tops}]},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }
    return Reply(body=json.dumps(body))


def test_probabilities_sum_spellings_and_renormalise():
    probs = probabilities_from_logprobs(
        [("Yes", math.log(0.5)), (" yes", math.log(0.1)), ("No", math.log(0.2)), ("The", math.log(0.2))],
        ["yes", "no"],
    )
    assert probs == pytest.approx({"yes": 0.75, "no": 0.25})
    assert probabilities_from_logprobs([("The", -0.1)], ["yes", "no"]) is None
    assert parse_choice('{"choice": "no", "probs": {"yes": 0.2, "no": 0.8}}', ["yes", "no"]) == (
        "no",
        {"yes": 0.2, "no": 0.8},
    )
    assert parse_choice("Yes, the boy wears a cap.", ["yes", "no"]) == ("yes", None)
    with pytest.raises(ValueError, match="names none"):
        parse_choice("Maybe.", ["yes", "no"])


def test_server_logprobs_decide_the_verdict(llm_server):
    llm_server.push(logprob_reply({"No": math.log(0.3), "Yes": math.log(0.6)}, text="No"))
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    task = verify_unit_task("A boy wears a cap.", FakeVideo(), video_key="v", probabilities=True)
    value = asyncio.run(judge.run(task))
    assert value["verdict"] == "yes" and value["p_yes"] == pytest.approx(2 / 3, abs=1e-4)
    body = llm_server.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert "response_format" not in body


def test_without_logprobs_the_text_decides_and_garbage_is_resampled(llm_server):
    llm_server.push("Maybe", "no.")
    judge = from_spec(llm_server.spec(), fast_llm_config(cache=False))
    task = verify_unit_task("A boy wears a cap.", FakeVideo(), video_key="v", probabilities=True)
    assert asyncio.run(judge.run(task)) == {"verdict": "no", "p_yes": None}
    assert judge.stats.snapshot().requests == 2
    assert llm_server.requests[1].messages == llm_server.requests[0].messages  # resampled, not repaired
    assert parse_unit_verdict("YES") == {"verdict": "yes", "p_yes": None}


def test_hf_logits_give_every_unit_a_verdict(tiny_qwen25, hmd_videos):
    """A random tiny model cannot write yes or no reliably, but its next-token probabilities always decide."""
    from owlcap.video import sample_frames

    judge = from_spec(f"hf:{tiny_qwen25}", LLMConfig(cache=False, hf_batch_wait_ms=5))
    factor = judge.mllm.vision_factor
    video = sample_frames(hmd_videos[1], nframes=2, min_pixels=factor**2, max_pixels=factor**2 * 4, factor=factor)
    units = ["A hummingbird hovers.", "A red car drives by.", "The sky is blue."]
    outcomes = judge.chat_many_sync([verify_unit_task(u, video, video_key="k", probabilities=True) for u in units])
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    for outcome in outcomes:
        assert outcome.value["verdict"] in ("yes", "no") and 0.0 <= outcome.value["p_yes"] <= 1.0
        assert (outcome.value["p_yes"] >= 0.5) == (outcome.value["verdict"] == "yes")
