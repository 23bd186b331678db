"""The official CSER protocol as a replay of the released reward, against a scripted judge on loopback HTTP.

Under configs/grpo/owlcap_released.yaml: an unreadable answer is CSER 0 (and the completion keeps its length
reward), identical completions each get their own request (and nothing is cached), the prompt file is sent byte for
byte, a judge error stops the run. Under owlcap's defaults nothing of that happens.
"""

import json
from pathlib import Path

import pytest
from helpers.fixtures import fast_llm_config
from helpers.judge_responder import rules_responder
from helpers.llm_server import Reply

from owlcap.config import load_config
from owlcap.errors import JudgeError
from owlcap.llm import from_spec
from owlcap.reward import CSER, CSERConfig, CSERRewardFunc, LengthRewardFunc, length_reward
from owlcap.reward.official import RELEASED_PROMPT_FILE, read_released_answer
from owlcap.train.grpo_config import GRPORunConfig

REPO = Path(__file__).resolve().parents[2]
THINK = "<think>Let me split both captions into units.</think>\n\n"


@pytest.fixture(scope="module")
def released():
    """The reward section of the released run config."""
    return load_config(GRPORunConfig, REPO / "configs" / "grpo" / "owlcap_released.yaml").reward


@pytest.fixture(scope="module")
def captions(samples_dir):
    lines = (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()
    return [json.loads(line)["caption"] for line in lines if line.strip()]


def _cser(server, config: CSERConfig, **llm) -> CSER:
    return CSER(from_spec(server.spec(), fast_llm_config(**llm)), config)


def _released_cser(server, released, **config) -> CSER:
    llm = released.llm.model_dump(include={"max_retries", "concurrency"})
    return _cser(server, released.cser.model_copy(update=config), **llm)


def test_an_unreadable_answer_is_cser_zero_and_keeps_its_length_reward(llm_server, released, captions):
    good = rules_responder(think="units")
    bad_answers = {"NOJSON": "I cannot answer that.", "NOTHINK": '{"Pred_units": [], "Gt_units": []}'}

    def respond(request):
        for marker, answer in bad_answers.items():
            if marker in request.text_of("user"):
                return Reply.ok(answer if marker == "NOTHINK" else THINK + answer)
        return good(request)

    llm_server.responder = respond
    reference = captions[0]
    completions = [reference, f"NOJSON {captions[1]}", f"NOTHINK {captions[2]}"]
    cser_fn = CSERRewardFunc(_released_cser(llm_server, released), reference_key="caption")
    length_fn = LengthRewardFunc(released.length)
    metrics = {}
    rewards = cser_fn.cser.judge.run_in_background(
        cser_fn(completions=completions, caption=[reference] * 3, log_metric=metrics.__setitem__)
    )
    assert rewards[0] > 1.9 and rewards[1:] == [0.0, 0.0]  # a score of 0, not None (TRL would drop None)
    unparsable = [r.unparsable for r in cser_fn.last_results]
    assert unparsable[0] is None and "no JSON object" in unparsable[1] and unparsable[2] == "no </think> in the answer"
    assert metrics["cser/unparsable"] == 2.0 and metrics["cser/failures"] == 0.0
    assert length_fn(completions=completions) == [length_reward(c) for c in completions]
    assert all(value > 0 for value in length_fn(completions=completions))  # their total reward is the length reward


def test_identical_completions_each_get_their_own_request_every_time(llm_server, released, captions):
    llm_server.responder = rules_responder(think="units")
    cser = _released_cser(llm_server, released)
    group = [captions[1]] * 3 + [captions[2]]
    first = cser.score_group_sync(group, captions[1])
    again = cser.score_group_sync(group, captions[1])  # the next step: no cache either
    assert len(llm_server.requests) == 8 and llm_server.max_in_flight == 1
    assert [r.failed for r in first + again] == [False] * 8


def test_the_released_prompt_is_sent_byte_for_byte_with_the_released_sampling(llm_server, released, captions):
    llm_server.responder = rules_responder(think="units")
    cser = _released_cser(llm_server, released)  # official_prompt_file: null = the released text shipped with owlcap
    prediction, reference = captions[1][:300], captions[0]
    assert not cser.score_sync(prediction, reference).failed
    body = llm_server.requests[0].body
    expected = RELEASED_PROMPT_FILE.read_text(encoding="utf-8").replace("{prediction}", prediction)
    expected = expected.replace("{reference}", reference)
    assert body["messages"] == [{"role": "user", "content": expected}]
    assert expected.startswith("\n    You are now a professional") and expected.endswith(f"{reference}\n        ")
    assert "This is the pred_caption:" + prediction + ".\n" in expected  # the released f-string's own spacing
    assert (body["temperature"], body["max_tokens"], body["top_k"], body["top_p"]) == (0.7, 8192, 20, 0.95)
    assert body["chat_template_kwargs"] == {"enable_thinking": True} and "response_format" not in body


def test_a_judge_error_stops_the_run(llm_server, released, captions):
    llm_server.push(Reply.error(500))
    cser_fn = CSERRewardFunc(_released_cser(llm_server, released), reference_key="caption")
    with pytest.raises(JudgeError, match="official_on_error is 'stop'"):
        cser_fn.cser.judge.run_in_background(cser_fn(completions=[captions[0]], caption=[captions[1]]))
    assert len(llm_server.requests) == 1  # released: no retry


def test_owlcap_defaults_are_unchanged(llm_server, captions):
    """The official protocol without the replay options: de-duplicated, cached, repaired, then unscored."""
    good = rules_responder(think="units")

    def respond(request):
        return Reply.malformed() if "BROKEN" in request.text_of("user") else good(request)

    llm_server.responder = respond
    config = CSERConfig(protocol="official")
    cser = _cser(llm_server, config, cache=True, cache_path=None)
    group = [captions[1]] * 3 + [f"BROKEN {captions[2]}"]
    results = cser.score_group_sync(group, captions[1])
    assert len(llm_server.requests) == 1 + 2  # one request for the three copies; one answer and its repair
    assert [r.failed for r in results] == [False, False, False, True] and "repair" in results[-1].error
    cser.score_group_sync(group[:1], captions[1])
    assert len(llm_server.requests) == 3  # cached
    assert (config.official_unparsable, config.official_afresh, config.official_on_error) == (
        "unscored",
        False,
        "unscored",
    )


@pytest.mark.parametrize(
    ("raw", "scores", "problem"),
    [
        (THINK + '{"Pred_units": [{"units": "a", "response": "Yes"}], "Gt_units": []}', (1.0, 0.0), None),
        ('{"Pred_units": [{"units": "a", "response": "Yes"}], "Gt_units": []}', (0.0, 0.0), "no </think>"),
        (THINK + "no json here", (0.0, 0.0), "no JSON object"),
        (THINK + '{"Pred_units": [}', (0.0, 0.0), "invalid JSON"),
        (THINK + '{"Pred_units": null, "Gt_units": []}', (0.0, 0.0), "wrong type"),
        # only exact "Yes" counts; every item counts in the denominator; two decimals
        (THINK + '{"Pred_units": [{"response": "Yes"}, {"response": "yes"}, 7], "Gt_units": "ab"}', (0.33, 0.0), None),
        # the text after the first </think> is read, from its first { to its last }
        ('<think>{"Pred_units": []}</think> {"Pred_units": [{"response": "Yes"}]} </think>', (1.0, 0.0), None),
    ],
)
def test_released_parser_rules(raw, scores, problem):
    reading = read_released_answer(raw)
    assert (reading.correctness, reading.completeness) == scores
    assert (reading.problem is None) if problem is None else (problem in reading.problem)


def test_without_thinking_the_think_tag_is_not_required():
    reading = read_released_answer('{"Pred_units": [{"response": "Yes"}], "Gt_units": []}', require_think=False)
    assert (reading.correctness, reading.problem) == (1.0, None)


def test_the_official_protocol_prefetches_nothing(llm_server, released, captions):
    # The recipe prefetches every batch's references; the official request splits them itself, so none is sent.
    cser = _released_cser(llm_server, released)
    assert cser.prefetch_nowait(captions).result(10) == 0
    assert llm_server.requests == []
