"""The ``owlcap`` command as a user meets it: one line for a user error, a traceback only for a bug (or --debug),
--version, plain unwrapped log lines outside a terminal, quiet ranks under DDP, library progress bars off on request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import owlcap
from owlcap.cli.main import app

SRC = Path(owlcap.__file__).resolve().parents[1]


def _owlcap(*args: str, **env: str) -> subprocess.CompletedProcess:
    """The real entry point in a fresh process (what a shell shows: exit status, stderr, any traceback)."""
    environ = os.environ | {"PYTHONPATH": str(SRC), "OWLCAP_DEBUG": ""} | env
    command = [sys.executable, "-m", "owlcap.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environ)


def test_a_user_error_is_one_line_and_exit_status_2(tmp_path):
    done = _owlcap("caption", "x.mp4", "--model", "m", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"error: --out {tmp_path}: is a folder; name a file, e.g. {tmp_path / 'captions.jsonl'}\n"


@pytest.mark.parametrize("how", ["--debug", "OWLCAP_DEBUG"])
def test_debug_shows_the_traceback_of_a_user_error(tmp_path, how):
    args = ["caption", "x.mp4", "--model", "m", "--out", str(tmp_path)]
    done = _owlcap("--debug", *args) if how == "--debug" else _owlcap(*args, OWLCAP_DEBUG="1")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "owlcap.errors.ConfigError" in done.stderr


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import owlcap.caption.provenance as captioning

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(captioning, "check_output", broken)
    result = CliRunner().invoke(app, ["caption", "x.mp4", "--model", "m", "--out", str(tmp_path / "o.jsonl")])
    assert isinstance(result.exception, ZeroDivisionError)  # not turned into a one-line message
    assert "error:" not in result.output


def test_ctrl_c_ends_with_status_130_and_says_how_to_resume(monkeypatch, tmp_path):
    import owlcap.caption.provenance as captioning

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(captioning, "check_output", interrupted)
    result = CliRunner().invoke(app, ["caption", "x.mp4", "--model", "m", "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 130 and "run the same command again to resume" in result.output


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"owlcap {owlcap.__version__}\n"


def test_help_describes_what_exists():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert {"caption", "probe", "reward", "train", "data", "eval"} <= set(commands)
    for name in commands:  # every registered command is listed
        assert f" {name} " in result.output
    assert "--version" in result.output and "--debug" in result.output


def test_log_lines_outside_a_terminal_are_not_wrapped(tmp_path):
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 6)
    deep.mkdir(parents=True)
    manifest = deep / "videos.jsonl"
    manifest.write_text("{not json\n")
    done = _owlcap("probe", str(manifest))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "skipped input" in line]
    assert len(lines) == 1 and f"{manifest}:1: invalid JSON" in lines[0] and len(lines[0]) > 200
    assert lines[0][:4].isdigit() and " ERROR " in lines[0]  # plain: date, level, message


def test_ranks_other_than_0_log_warnings_only():
    CliRunner().invoke(app, ["probe", "--help"], env={"RANK": "0", "OWLCAP_LOG_LEVEL": "INFO"})
    assert logging.getLogger().level == logging.INFO
    CliRunner().invoke(app, ["probe", "--help"], env={"RANK": "1", "OWLCAP_LOG_LEVEL": "INFO"})
    assert logging.getLogger().level == logging.WARNING


def test_owlcap_disable_progress_also_hides_transformers_bars(monkeypatch):
    from transformers.utils import logging as transformers_logging

    transformers_logging.enable_progress_bar()
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    try:
        CliRunner().invoke(app, ["probe", "--help"], env={"OWLCAP_DISABLE_PROGRESS": "1"})
        assert not transformers_logging.is_progress_bar_enabled()
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"  # for libraries imported later
    finally:
        monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
        transformers_logging.enable_progress_bar()


def test_probe_takes_folders_like_caption(hmd_videos):
    folder = hmd_videos[0].parent
    result = CliRunner().invoke(app, ["probe", str(folder)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["video"] for line in result.stdout.splitlines()] == list(map(str, hmd_videos))


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = CliRunner().invoke(app, ["tiny-model", str(tmp_path / "a-file" / "model")])
    assert result.exit_code == 2 and "cannot create the folder" in result.output


def test_in_a_terminal_log_lines_and_progress_bars_share_one_console(monkeypatch):
    """rich prints a log line above a live bar only when both go through the same Console; two consoles on one
    terminal write over each other."""
    from owlcap import progress
    from owlcap.cli import main

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    handler = main._log_handler()
    assert handler.console is progress.console() is progress.progress_bar(disable=False).console
    assert progress.console().stderr, "bars and logs stay off stdout, which carries results"
