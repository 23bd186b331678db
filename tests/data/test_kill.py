"""kill -9 at several points of a real build process, then resume: each id exactly once, no torn line, and the kept
set equal to an uninterrupted run's. The build runs as a subprocess (``python -m owlcap.cli.main data build``)
against a scripted loopback server with a small delay per answer, so records finish one by one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.buildkit import build_config, write_manifest
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer

from owlcap.data import BuildConfig, build

SRC = Path(__file__).resolve().parents[2] / "src"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _parsed(path: Path) -> tuple[list[dict], list[str]]:
    good, torn = [], []
    for line in _lines(path):
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            torn.append(line)
    return good, torn


def _comparable(record: dict) -> dict:
    """A record without what differs between runs: timings, request counts, where an answer came from."""
    record = {k: v for k, v in record.items() if k != "seconds"}
    record["stages"] = {
        name: {k: v for k, v in run.items() if k in ("model", "prompt_version", "options")}
        for name, run in record.get("stages", {}).items()
    }
    return record


def _run_until(command: list[str], env: dict, records: Path, at_least: int) -> None:
    """Start the build and SIGKILL it once ``records`` holds ``at_least`` lines."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while len(_lines(records)) < at_least and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, f"the build ended before {at_least} records; make the server slower"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume(clips, tmp_path):
    manifest = write_manifest(tmp_path / "inputs.jsonl", [{"id": p.stem, "video": str(p)} for p in clips])
    with LoopbackLLMServer(hmd_responder(reject=("green",)), slots=4, delay_s=0.03) as server:
        config = build_config(server, tmp_path, concurrency={"max_in_flight": 4, "decode_workers": 1})
        config["report"] = {"plots": False}  # the report is not what this test is about
        config_file = tmp_path / "build.yaml"
        config_file.write_text(json.dumps(config))
        out = tmp_path / "killed"
        records = out / "records.jsonl"
        command = [sys.executable, "-m", "owlcap.cli.main", "data", "build", str(manifest), "--out", str(out)]
        command += ["--config", str(config_file)]
        env = {**os.environ, "PYTHONPATH": str(SRC), "OWLCAP_DISABLE_PROGRESS": "1", "OMP_NUM_THREADS": "1"}

        for at_least in (3, 9, 16):
            _run_until(command, env, records, at_least)
            good, torn = _parsed(records)
            assert not torn or torn == [_lines(records)[-1]], "only the last line may be torn"
            assert len({r["id"] for r in good}) == len(good), "a kill left an id twice"
            if at_least == 9:
                # What a crash in the middle of a write would leave: a torn last line without a newline.
                with records.open("a", encoding="utf-8") as handle:
                    handle.write('{"id": "clip23", "status": "ke')
        finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr[-3000:]

        good, torn = _parsed(records)
        assert torn == [] and sorted(r["id"] for r in good) == sorted(p.stem for p in clips)
        assert all(r["status"] in ("kept", "rejected") for r in good)

        reference = tmp_path / "uninterrupted"
        build(BuildConfig.model_validate(config), [manifest], reference)
    expected, _ = _parsed(reference / "records.jsonl")
    kept = {r["id"] for r in good if r["status"] == "kept"}
    assert kept == {r["id"] for r in expected if r["status"] == "kept"}
    assert 0 < len(kept) < len(clips)  # the verifier rejected some: the kept set says something
    assert {r["id"]: _comparable(r) for r in good} == {r["id"]: _comparable(r) for r in expected}
    hmd = [json.loads(line)["id"] for line in _lines(out / "hmd.jsonl")]
    assert sorted(hmd) == sorted(kept)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_a_summary(clips, tmp_path):
    manifest = write_manifest(tmp_path / "inputs.jsonl", [{"id": p.stem, "video": str(p)} for p in clips[:12]])
    with LoopbackLLMServer(hmd_responder(), slots=2, delay_s=0.1) as server:
        config_file = tmp_path / "build.yaml"
        config = build_config(server, tmp_path, concurrency={"max_in_flight": 2, "decode_workers": 1})
        config_file.write_text(json.dumps(config))
        out = tmp_path / "out"
        command = [sys.executable, "-m", "owlcap.cli.main", "data", "build", str(manifest), "--out", str(out)]
        command += ["--config", str(config_file)]
        env = {**os.environ, "PYTHONPATH": str(SRC), "OWLCAP_DISABLE_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while len(_lines(out / "records.jsonl")) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted; " in stderr and "Traceback" not in stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["interrupted"] is True and 2 <= summary["built"] < 12
    good, torn = _parsed(out / "records.jsonl")
    assert torn == [] and len(good) == summary["built"] == len({r["id"] for r in good})
    stats = json.loads((out / "stats.json").read_text())
    assert stats["counts"]["records"] == len(good) and stats["last_run"]["interrupted"] is True
