"""Nothing hangs: a FIFO (or any non-regular file) named like a video is refused before FFmpeg opens it, in every
command and however it is named (an argument, a manifest line, a file in a folder), and Ctrl-C ends every command
with status 130 within seconds, even when a worker thread is stuck where Python cannot interrupt it.

Each case runs in its own process with a timeout: before these fixes the process never ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.buildkit import build_config
from helpers.cli import SMALL, error_lines, owlcap_env, run_owlcap, start_owlcap
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer, Reply
from helpers.scripted_judges import responder

FIFO_CAUSE = "is a FIFO (named pipe), not a regular video file"


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "x.mp4"
    os.mkfifo(path)
    return path


def test_probe_refuses_a_fifo_at_once(fifo, clips):
    done = run_owlcap("probe", fifo, clips[0], timeout=30)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {"video": str(fifo), "error": FIFO_CAUSE} and lines[1]["num_frames"] == 12


def test_caption_refuses_a_fifo_argument_up_front_and_fails_a_fifo_line(fifo, clips, captioner, tmp_path):
    out = tmp_path / "captions.jsonl"
    model = captioner.spec("captioner")
    named = run_owlcap("caption", fifo, "--model", model, "--out", out, *SMALL, timeout=30)
    assert named.returncode == 2 and not out.exists()
    assert error_lines(named.stderr) == [
        f"error: input {fifo}: a FIFO (named pipe), not a video file, folder or manifest"
    ]
    manifest = tmp_path / "videos.jsonl"
    manifest.write_text(json.dumps({"id": "pipe", "video": str(fifo)}) + "\n")
    listed = run_owlcap("caption", manifest, clips[0], "--model", model, "--out", out, *SMALL, timeout=60)
    assert listed.returncode == 1
    records = {json.loads(line)["id"]: json.loads(line) for line in out.read_text().splitlines()}
    assert records["pipe"]["error"] == f"video: {FIFO_CAUSE}" and records[clips[0].stem]["caption"]


def test_a_data_build_fails_a_fifo_record_and_goes_on(fifo, clips, tmp_path):
    manifest = tmp_path / "videos.jsonl"
    manifest.write_text(json.dumps({"id": "pipe", "video": str(fifo)}) + "\n")
    with LoopbackLLMServer(hmd_responder()) as server:
        config = tmp_path / "build.yaml"
        config.write_text(json.dumps(build_config(server, tmp_path)))
        done = run_owlcap("data", "build", manifest, clips[1], "--out", tmp_path / "out", "-c", config, timeout=60)
    assert done.returncode == 1, done.stderr
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "out" / "records.jsonl").open()}
    assert records["pipe"]["failure"]["stage"] == "decode" and FIFO_CAUSE in records["pipe"]["error"]
    assert records[clips[1].stem]["status"] in ("kept", "rejected")


def _interrupt(process: subprocess.Popen, ready) -> tuple[float, str]:
    """Send Ctrl-C to ``process`` once ``ready()`` is true; return how long it took to end, and its stderr."""
    try:
        deadline = time.monotonic() + 60
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=30)
        return time.monotonic() - started, stderr
    finally:
        process.kill()


_STUCK_BUILD = """
import sys, threading
import owlcap.cli.main as cli
import owlcap.data.pipeline as pipeline

cli.INTERRUPT_GRACE_S = 1.0

def stuck(*args, **kwargs):  # a decode that never returns and cannot be interrupted (a worker thread)
    print("decoding", flush=True)
    threading.Event().wait()

pipeline.decode = stuck
sys.argv = ["owlcap", *sys.argv[1:]]
cli.main()
"""


def test_ctrl_c_ends_a_build_whose_decode_thread_is_stuck(clips, tmp_path):
    script = tmp_path / "stuck_build.py"
    script.write_text(textwrap.dedent(_STUCK_BUILD))
    with LoopbackLLMServer(hmd_responder()) as server:
        config = tmp_path / "build.yaml"
        config.write_text(json.dumps(build_config(server, tmp_path)))
        command = [sys.executable, str(script), "data", "build", str(clips[2]), "--out", str(tmp_path / "out")]
        process = subprocess.Popen(
            [*command, "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=owlcap_env()
        )
        seconds, stderr = _interrupt(process, lambda: process.stdout.readline().strip() == "decoding")
    assert process.returncode == 130, stderr[-2000:]
    assert seconds < 10
    assert "interrupted; " in stderr  # the summary was written before the process was ended


def _hanging(request):
    """Answers the server check, then never answers again."""
    return responder()(request) if request.text_of("user") == "Reply with OK." else Reply.never()


def _command(which: str, server: LoopbackLLMServer, clips: list[Path], samples: Path, tmp_path: Path) -> list:
    if which == "caption":
        return ["caption", *clips[:4], "--model", server.spec("c"), "--out", tmp_path / "c.jsonl", *SMALL]
    if which == "eval":
        captions = tmp_path / "captions.jsonl"
        captions.write_text(json.dumps({"id": "1", "caption": "A man walks."}) + "\n")
        annotations = samples / "dream1k" / "DREAM-1k.sample.jsonl"
        return ["eval", "dream1k", "--annotations", annotations, "--captions", captions, "--judge", server.spec()]
    config = tmp_path / "build.yaml"
    config.write_text(json.dumps(build_config(server, tmp_path)))
    return ["data", "build", *clips[:4], "--out", tmp_path / "out", "-c", config]


@pytest.mark.parametrize("which", ["caption", "eval", "data build"])
def test_ctrl_c_ends_every_command_with_130_within_seconds(which, clips, samples_dir, tmp_path):
    with LoopbackLLMServer(_hanging) as server:
        args = _command(which, server, clips, samples_dir, tmp_path)
        if which == "eval":
            args += ["--out", tmp_path / "run", "--timeout", "600"]
        process = start_owlcap(*args)
        seconds, stderr = _interrupt(process, lambda: len(server.requests) >= 2)  # the check, then real work
    assert process.returncode == 130, stderr[-2000:]
    assert seconds < 10 and "Traceback" not in stderr
