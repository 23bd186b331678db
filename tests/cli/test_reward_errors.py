"""``owlcap reward`` when things go wrong: an unwritable report path fails before the judge is asked anything, and
a hung judge is given up after --timeout x (1 + --retries), with a log line as soon as a request is slow."""

from __future__ import annotations

import json
import time

from helpers.judge_responder import rules_responder
from helpers.llm_server import Reply
from typer.testing import CliRunner

from owlcap.cli.main import app

CAPTION = "A woman in a red coat walks a small dog along a snowy street. A bus passes behind her."


def test_an_unwritable_report_path_fails_before_any_scoring(llm_server, tmp_path):
    llm_server.responder = rules_responder()
    (tmp_path / "a-file").write_text("")
    for html, message in ((tmp_path / "a-file" / "report.html", "cannot create the folder"), (tmp_path, "is a folder")):
        args = ["reward", "--pred", CAPTION, "--ref", CAPTION, "--judge", llm_server.spec(), "--html", str(html)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert llm_server.requests == []  # nothing was scored, so nothing was thrown away


def test_the_report_is_written_after_the_scores_are_shown(tmp_path):
    html = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(app, ["reward", "--pred", CAPTION, "--ref", CAPTION, "--json", "--html", str(html)])
    assert result.exit_code == 0 and html.is_file()
    assert json.loads(result.stdout)["cser"] == 2.0  # stdout stays JSON; "wrote ..." goes to stderr
    assert f"wrote {html}" in result.stderr


def test_timeout_and_retries_bound_a_hung_judge_and_a_slow_request_is_logged(llm_server, monkeypatch):
    monkeypatch.setenv("OWLCAP_SLOW_REQUEST_S", "0.2")
    llm_server.responder = lambda request: Reply.never()
    args = ["reward", "--pred", CAPTION, "--ref", CAPTION, "--judge", llm_server.spec(), "--json"]
    started = time.monotonic()
    result = CliRunner().invoke(app, [*args, "--timeout", "0.6", "--retries", "1"])
    assert result.exit_code == 2  # the judgement failed: reported, not a score of 0
    assert json.loads(result.stdout)["failed"] is True
    assert time.monotonic() - started < 60  # not 5 x 120 s
    assert len(llm_server.requests) == 2  # the first attempt and one retry, each cut at 0.6 s
    assert "no answer after 0.2 s" in result.stderr and "request_timeout_s=0.6" in result.stderr


def test_timeout_and_retries_are_checked():
    result = CliRunner().invoke(app, ["reward", "--pred", "x", "--ref", "y", "--retries", "-1"])
    assert result.exit_code == 2 and "--retries" in result.output
