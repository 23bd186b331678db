"""The caption stage captions through ``owlcap.caption.load_caption_engine``: a captioner listed in ``servers``
is asked over the OpenAI-compatible API (a vLLM server in a real run; the loopback server here)."""

from __future__ import annotations

import json

import pytest
from helpers.fixtures import llm_server  # noqa: F401
from run_helpers import overrides

from owlcap.run import quickstart_config, run_pipeline

pytestmark = pytest.mark.slow


def test_a_served_captioner_is_asked_over_http(run_copy, llm_server):  # noqa: F811
    llm_server.responder = lambda request: f"caption {request.index} of a video"
    spec = llm_server.spec("served-grpo")
    args = overrides(run_copy, servers__grpo=spec) + ["--caption.models", "[grpo]"]
    run_pipeline(quickstart_config(), args, only="caption")
    captions = [json.loads(line) for line in (run_copy / "caption" / "grpo.jsonl").read_text().splitlines()]
    assert len(captions) == 3 and all(c["caption"].startswith("caption ") for c in captions)
    requests = [r for r in llm_server.requests if r.path.endswith("/chat/completions")]
    check, requests = requests[0], requests[1:]  # the server is checked with one text request first
    assert check.body["messages"] == [{"role": "user", "content": "Reply with OK."}]
    assert len(requests) == 3 and {r.body["model"] for r in [check, *requests]} == {"served-grpo"}
    parts = [p["type"] for p in requests[0].messages[-1]["content"]]
    assert parts.count("image_url") == 4  # the 4 sampled frames, then the prompt
    summary = json.loads((run_copy / "caption" / "stage.json").read_text())["summary"]
    assert summary["models"]["grpo"]["engine"] == spec
