"""One writer per output: a second ``owlcap eval`` or ``owlcap caption`` on the same ``--out`` is refused (naming the
first one's pid) instead of mixing its records in, and a caption resume leaves one line per id even after two
writers raced on the file before the lock existed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers.cli import SMALL, error_lines, invoke, start_owlcap
from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import responder

from owlcap.jsonl import iter_jsonl, read_jsonl


def _wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the first process to start its work")
        time.sleep(0.02)


def _work_started(server: LoopbackLLMServer) -> bool:
    """The first process is past its checks: it sent a request that is not the server check."""
    return any(request.text_of("user") != "Reply with OK." for request in server.requests)


def _slow_at_first(seconds: float = 4.0):
    """The scripted answers, the first real one ``seconds`` late: the first process surely still holds its --out
    when the second one (a fresh interpreter) reaches it."""
    answer, first = responder(), []

    def respond(request):
        reply = answer(request)
        if request.text_of("user") != "Reply with OK." and not first:
            first.append(request)
            reply.delay_s = seconds
        return reply

    return respond


def _second_while_first_works(server: LoopbackLLMServer, first_args: list, second_args: list):
    """Start ``owlcap FIRST_ARGS`` in its own process, run ``owlcap SECOND_ARGS`` here once the first is at work,
    and return ``(first process, its stderr, the second's result)`` once the first has ended."""
    first = start_owlcap(*first_args)
    try:
        _wait_for(lambda: _work_started(server))
        second = invoke(*second_args)
    finally:
        _, stderr = first.communicate(timeout=120)
    return first, stderr, second


def test_a_second_caption_run_on_one_out_is_refused_naming_the_first(clips, tmp_path):
    out = tmp_path / "captions.jsonl"
    with LoopbackLLMServer(_slow_at_first()) as server:
        args = ["caption", *clips, "--model", server.spec("captioner"), "--out", out, "--concurrency", "2", *SMALL]
        first, stderr, second = _second_while_first_works(
            server, args, [*args, "--prompt", "Say what happens.", "--overwrite"]
        )
    assert first.returncode == 0, stderr
    assert second.exit_code == 2
    assert error_lines(second.stderr) == [
        f"error: --out {out} is being written by another caption run (pid {first.pid}); wait for it, or choose "
        "another --out"
    ]
    records = read_jsonl(out)
    assert sorted(r["id"] for r in records) == sorted(c.stem for c in clips)  # one line per id, all from the first
    assert {r["prompt"] for r in records} == {"Describe this video in detail."}


def test_a_caption_resume_repairs_what_two_racing_writers_left(captioner, clips, tmp_path):
    out = tmp_path / "captions.jsonl"
    args = ["caption", *clips, "--model", captioner.spec("captioner"), "--out", out, *SMALL]
    assert invoke(*args).exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    # What two runs without a lock left: every id twice, interleaved, and a line torn by a kill.
    out.write_text("".join(lines[:5] + lines + lines[5:]) + lines[0][:30])
    assert len(out.read_text().splitlines()) == 2 * len(clips) + 1

    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.splitlines()[-1])["skipped"] == len(clips)
    kept = [line.record["id"] for line in iter_jsonl(out)]
    assert sorted(kept) == sorted(c.stem for c in clips)  # one line per id, nothing torn
    assert "dropped 9 torn or repeated line(s)" in again.stderr


def _dream_captions(path: Path, annotations: Path, suffix: str) -> Path:
    from owlcap.eval.dream1k.data import load

    items = load(annotations).items
    path.write_text("".join(json.dumps({"id": i.id, "caption": i.reference + suffix}) + "\n" for i in items))
    return path


def test_a_second_evaluation_into_one_out_is_refused_naming_the_first(samples_dir, tmp_path):
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    first_captions = _dream_captions(tmp_path / "a.jsonl", annotations, " The camera pans.")
    other_captions = _dream_captions(tmp_path / "b.jsonl", annotations, " A dog barks.")
    out = tmp_path / "run"
    with LoopbackLLMServer(_slow_at_first()) as judge:
        common = ["--annotations", annotations, "--judge", judge.spec("gpt-3.5-turbo-0125"), "--out", out]
        common += ["--limit", "8", "--report.plots", "false", "--report.bootstrap_samples", "0"]
        first, stderr, second = _second_while_first_works(
            judge,
            ["eval", "dream1k", "--captions", first_captions, *common],
            ["eval", "dream1k", "--captions", other_captions, *common],
        )
    assert first.returncode == 0, stderr
    assert second.exit_code == 2
    assert error_lines(second.stderr) == [
        f"error: out: {out} is being written by another evaluation (pid {first.pid}); wait for it, or choose "
        "another --out"
    ]
    items = read_jsonl(out / "items.jsonl")
    assert len(items) == 8 and all(item["prediction"].endswith("The camera pans.") for item in items)
    assert list(json.loads((out / "run.json").read_text())["captions"]["files"]) == [str(first_captions)]
