import json

import pytest
from helpers.judge_responder import rules_responder
from typer.testing import CliRunner

from owlcap.cli.main import app


@pytest.fixture(scope="module")
def caption(samples_dir):
    return json.loads((samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()[0])["caption"]


def test_reward_prints_scores_and_units(caption, tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text(caption)
    html = tmp_path / "report.html"
    pred = "The woman holds a yellow tablet and a red pencil. <script>alert(1)</script> A cat sleeps on a sofa."
    result = CliRunner().invoke(app, ["reward", "--pred", pred, "--ref-file", str(ref), "--html", str(html)])
    assert result.exit_code == 0, result.output
    for text in ("correctness", "completeness", "CSER", "length reward", "supported", "missing"):
        assert text in result.output
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('class="yes"') >= 1 and page.count('class="no"') >= 1
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_reward_json_output(caption):
    result = CliRunner().invoke(app, ["reward", "--pred", caption, "--ref", caption, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout alone: a log line on stderr is not part of the JSON
    assert (data["correctness"], data["completeness"], data["length_reward"], data["judge"]) == (1.0, 1.0, 1.0, "rules")
    # "reward" is what GRPO trains on everywhere in owlcap: the CSER reward plus the length reward.
    assert (data["cser_reward"], data["reward"]) == (2.0, 3.0)


def test_reward_reports_a_failed_judgement_with_exit_code_2(caption):
    result = CliRunner().invoke(app, ["reward", "--pred", caption, "--ref", "  "])
    assert result.exit_code == 2
    assert "FAILED" in result.output


def test_reward_needs_exactly_one_source():
    result = CliRunner().invoke(app, ["reward", "--pred", "x"])
    assert result.exit_code != 0
    assert "--ref" in result.output


def test_reward_with_an_http_judge(llm_server, caption):
    llm_server.responder = rules_responder()
    for protocol in ("fused", "official"):
        args = ["reward", "--pred", caption, "--ref", caption, "--judge", llm_server.spec(), "--protocol", protocol]
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["cser"] == 2.0
    assert {r.schema_name for r in llm_server.requests} == {"UnitList", "PairJudgement", None}
