"""Durability: every file owlcap appends to stays loadable, whatever ended the job that wrote it. A torn last line
(a kill mid-write) is dropped on resume, counted and said; a record the disk refuses (full disk, ``ulimit -f``) is
taken back and the command ends in one ``error:`` line naming the file, exit 2; the same command then resumes to
one whole line per id."""

from __future__ import annotations

import json
import logging
import os

import pytest
from helpers.buildkit import build_config
from helpers.cli import SMALL, error_lines, invoke, run_owlcap
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer

from owlcap.jsonl import JsonlWriter, iter_jsonl, read_jsonl


def _whole(path) -> list[dict]:
    """Every line of ``path`` as an object; any torn line fails the test."""
    lines = list(iter_jsonl(path))
    assert all(line.error is None for line in lines), [str(line.error) for line in lines if line.error]
    return [line.record for line in lines]


def test_a_writer_drops_a_torn_last_line_and_says_so(tmp_path, caplog):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b", "capt')
    with caplog.at_level(logging.WARNING), JsonlWriter(path) as writer:
        writer.write({"id": "b", "caption": "B."})
    assert writer.torn_lines_dropped == 1 and "dropped a torn last line (17 bytes" in caplog.text
    assert _whole(path) == [{"id": "a"}, {"id": "b", "caption": "B."}]


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a"}')
    with JsonlWriter(path) as writer:
        writer.write({"id": "b"})
    assert writer.torn_lines_dropped == 0 and _whole(path) == [{"id": "a"}, {"id": "b"}]


def test_a_resumed_caption_file_loads_with_datasets(captioner, clips, tmp_path):
    import datasets

    out = tmp_path / "captions.jsonl"
    args = ["caption", *clips[:3], "--model", captioner.spec("c"), "--out", out, *SMALL]
    assert invoke(*args).exit_code == 0
    text = out.read_text().splitlines(keepends=True)
    out.write_text("".join(text[:2]) + text[2][: len(text[2]) // 2])  # killed while writing the third line
    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout.splitlines()[-1])["captioned"] == 1
    rows = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(rows["id"]) == sorted(c.stem for c in clips[:3])


def test_training_metrics_drop_a_torn_line_on_resume(tmp_path):
    from types import SimpleNamespace

    from owlcap.train.callbacks import MetricsFileCallback

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    state = SimpleNamespace(is_world_process_zero=True, global_step=2)
    MetricsFileCallback(path).on_log(None, state, None, logs={"loss": 1.5})
    assert _whole(path) == [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]


def test_a_refused_write_is_taken_back(tmp_path):
    from owlcap.errors import OutputError

    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(path)
    writer.write({"id": "a"})
    os.close(writer._fd)  # the disk goes away under the writer
    writer._fd = os.open(path, os.O_RDONLY)
    with pytest.raises(OutputError, match=r"out.jsonl: cannot write \(Bad file descriptor\)"):
        writer.write({"id": "b"})
    writer.close()
    assert _whole(path) == [{"id": "a"}]


def test_caption_past_a_file_size_limit_ends_in_one_line_then_resumes(captioner, clips, tmp_path):
    out = tmp_path / "captions.jsonl"
    args = ["caption", *clips, "--model", captioner.spec("c"), "--out", out, "--concurrency", "1", *SMALL]
    limited = run_owlcap(*args, file_size_limit=2500)  # ulimit -f: a few records fit
    assert limited.returncode == 2, limited.stderr[-2000:]
    assert error_lines(limited.stderr) == [f"error: {out}: cannot write (File too large)"]
    assert "Traceback" not in limited.stderr
    written = _whole(out)
    assert 0 < len(written) < len(clips) and out.stat().st_size <= 2500

    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert sorted(r["id"] for r in _whole(out)) == sorted(c.stem for c in clips)
    assert json.loads(resumed.stdout.splitlines()[-1])["skipped"] == len(written)


def test_a_build_on_a_full_disk_ends_in_one_line_then_resumes(clips, small_disk, tmp_path):
    out = small_disk / "out"
    with LoopbackLLMServer(hmd_responder()) as server:
        config = tmp_path / "build.yaml"
        config.write_text(json.dumps(build_config(server, tmp_path, concurrency={"max_in_flight": 1})))
        filler = small_disk / "filler"
        stats = os.statvfs(small_disk)
        filler.write_bytes(b"x" * (stats.f_bavail * stats.f_frsize - 20_000))  # about 20 kB left
        full = invoke("data", "build", *clips[:5], "--out", out, "-c", config)
        assert full.exit_code == 2, full.output
        (line,) = error_lines(full.stderr)
        assert line.startswith(f"error: {out}") and "No space left on device" in line
        records = _whole(out / "records.jsonl") if (out / "records.jsonl").exists() else []
        assert len(records) < 5 and not list(out.rglob("*.tmp"))  # nothing half-written left behind
        filler.unlink()
        resumed = invoke("data", "build", *clips[:5], "--out", out, "-c", config)
    assert resumed.exit_code == 0, resumed.output
    assert sorted(r["id"] for r in read_jsonl(out / "records.jsonl")) == sorted(c.stem for c in clips[:5])
