"""``owlcap doctor``: one screen of versions, GPUs, folders and servers; exit 1 only when a server it was asked to
check does not answer. Real loopback servers, one up and one down."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from helpers.fixtures import llm_server  # noqa: F401
from typer.testing import CliRunner

import owlcap
from owlcap.cli.main import app

SRC = Path(owlcap.__file__).resolve().parents[1]


def _dead_spec() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"openai:judge@http://127.0.0.1:{probe.getsockname()[1]}/v1"  # closed on exit: nothing listens


def test_doctor_names_versions_folders_and_what_is_missing(samples_dir, monkeypatch):
    monkeypatch.delenv("OWLCAP_BENCHMARKS_DIR", raising=False)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert {"owlcap", "python", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "av"} <= set(lines)
    assert {"vllm", "deepspeed", "ray", "GPUs", "chromium", "samples", "cache", "benchmarks", "missing"} <= set(lines)
    assert "CUDA" in lines["torch"] or "CPU-only build" in lines["torch"]
    assert str(samples_dir) in lines["samples"] and "3 videos" in lines["samples"]
    assert "owlcap eval fetch" in lines["benchmarks"]
    assert len(result.output.splitlines()) <= 30, "one screen"


def test_a_server_that_is_down_is_named_and_fails_the_command(llm_server, tmp_path):  # noqa: F811
    llm_server.responder = lambda request: "OK"
    dead = _dead_spec()
    config = tmp_path / "grpo.yaml"  # a stage config naming both, as a judge and a captioner would be named
    config.write_text(f"reward: {{judge: '{llm_server.spec()}'}}\nother: {{model: '{dead}'}}\n")
    result = CliRunner().invoke(app, ["doctor", "--config", str(config), "--timeout", "2"])
    assert result.exit_code == 1, result.output
    assert f"ok   {llm_server.spec()} (answered in" in result.output
    assert f"DOWN {dead}: " in result.output and "1 server endpoint(s) not answering" in result.output
    assert len(llm_server.requests) == 1, "one tiny request per endpoint"
    up = CliRunner().invoke(app, ["doctor", "--judge", llm_server.spec()])
    assert up.exit_code == 0, up.output


def test_doctor_imports_nothing_heavy():
    probe = (
        "import sys\nfrom owlcap.cli.main import app\ntry:\n    app(['doctor'])\nexcept SystemExit:\n    pass\n"
        "print('heavy:', sorted(m for m in ('torch', 'transformers', 'trl', 'openai') if m in sys.modules))"
    )
    environ = os.environ | {"PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=environ)
    assert done.stdout.strip().endswith("heavy: []"), done.stdout + done.stderr
