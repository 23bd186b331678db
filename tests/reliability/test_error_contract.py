"""The error contract: what the user's system or files get wrong (a read-only or unwritable output, a cache folder
that takes no files, a config or text file that is not UTF-8, a --run_dir or --dest of the wrong kind) ends the
command in one ``error:`` line naming the path and the cause, exit status 2, no traceback, nothing half-written."""

from __future__ import annotations

import json

import pytest
from helpers.cli import SMALL, error_lines, invoke

from owlcap.data.schema import BuildRecord


def _one_error(result, *parts: str) -> str:
    """The result's single ``error:`` line, which must hold every one of ``parts``."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = error_lines(result.stderr)
    for part in parts:
        assert part in line, line
    return line


def _dream(samples_dir, tmp_path) -> list:
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    captions = tmp_path / "captions.jsonl"
    captions.write_text(json.dumps({"id": "1", "caption": "A man walks."}) + "\n")
    return ["eval", "dream1k", "--annotations", annotations, "--captions", captions, "--limit", "1"]


def test_caption_into_a_read_only_folder(captioner, clips, read_only_dir):
    out = read_only_dir / "captions.jsonl"
    result = invoke("caption", clips[0], "--model", captioner.spec("c"), "--out", out, *SMALL)
    _one_error(result, f"error: {out}: cannot write (")
    assert not any(request.text_of("user") != "Reply with OK." for request in captioner.requests)


def test_eval_into_a_read_only_folder(captioner, samples_dir, tmp_path, read_only_dir):
    out = read_only_dir / "run"
    result = invoke(*_dream(samples_dir, tmp_path), "--judge", captioner.spec(), "--out", out)
    _one_error(result, f"error: {out}: cannot write (")


def test_a_run_dir_on_a_read_only_filesystem(read_only_dir):
    run_dir = read_only_dir / "run"
    result = invoke("quickstart", "--run-dir", run_dir)
    _one_error(result, f"error: {run_dir}: cannot write (")


def test_an_unwritable_cache_folder_is_one_error_not_every_item(captioner, samples_dir, tmp_path, read_only_dir):
    result = invoke(
        *_dream(samples_dir, tmp_path), "--judge", captioner.spec(), "--out", tmp_path / "run",
        env={"OWLCAP_CACHE_DIR": str(read_only_dir / "cache")},
    )  # fmt: skip
    _one_error(
        result, f"LLM cache {read_only_dir / 'cache' / 'llm-cache.sqlite'}: cannot be written", "OWLCAP_CACHE_DIR"
    )


LATIN1 = "prompt: Décris la vidéo.\n".encode("latin-1")


def test_a_config_that_is_not_utf8(clips, tmp_path):
    config = tmp_path / "caption.yaml"
    config.write_bytes(LATIN1)
    result = invoke("caption", clips[0], "--model", "m", "--out", tmp_path / "c.jsonl", "--config", config)
    _one_error(result, f"error: {config}: config file is not UTF-8 text (byte 0xe9 on line 1)")


def test_an_eval_config_that_is_not_utf8(tmp_path):
    config = tmp_path / "vdc.yaml"
    config.write_bytes(b"# r\xe9glages\nlimit: 2\n")
    _one_error(invoke("eval", "vdc", config), f"error: {config}: config file is not UTF-8 text (byte 0xe9 on line 1)")


def test_a_pred_file_that_is_not_utf8(tmp_path):
    pred = tmp_path / "pred.txt"
    pred.write_bytes("Un chat saute sur le canapé.".encode("latin-1"))
    result = invoke("reward", "--pred-file", pred, "--ref", "A cat jumps onto the sofa.")
    _one_error(result, f"error: {pred}: --pred-file is not UTF-8 text (byte 0xe9 on line 1)")


@pytest.fixture
def build_folder(tmp_path):
    folder = tmp_path / "build"
    folder.mkdir()
    record = BuildRecord(id="a", video="a.mp4", caption="A dog runs.", status="kept", kept=True)
    (folder / "records.jsonl").write_text(record.model_dump_json(exclude_none=True) + "\n")
    return folder


@pytest.mark.parametrize("to", ["parquet", "sft"])
def test_an_export_dest_naming_a_folder(build_folder, tmp_path, to):
    dest = tmp_path / "exports"
    dest.mkdir()
    result = invoke("data", "export", build_folder, "--to", to, "--dest", dest)
    _one_error(result, f"error: --dest {dest}: is a folder; name a file")
    assert list(dest.iterdir()) == []


def test_a_parquet_export_is_whole_or_absent(build_folder, tmp_path):
    dest = tmp_path / "hmd.parquet"
    assert invoke("data", "export", build_folder, "--to", "parquet", "--dest", dest).exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(dest).column("id").to_pylist() == ["a"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left


def test_a_system_error_about_a_path_is_one_line_and_other_os_errors_stay_bugs(monkeypatch, clips, tmp_path):
    import errno

    import owlcap.caption.provenance as provenance

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/srv/videos/out")

    monkeypatch.setattr(provenance, "check_output", refused)
    args = ["caption", clips[0], "--model", "m", "--out", tmp_path / "c.jsonl"]
    assert _one_error(invoke(*args)) == "error: /srv/videos/out: Permission denied"

    def broken(*args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")  # about no path: a bug, with its traceback

    monkeypatch.setattr(provenance, "check_output", broken)
    result = invoke(*args)
    assert isinstance(result.exception, OSError) and "error:" not in result.output


def test_a_build_refused_before_any_work_leaves_no_folder(clips, tmp_path):
    out = tmp_path / "out"
    result = invoke("data", "build", clips[0], "--out", out, "--motion-model", "openai:m@http://127.0.0.1:9/v1")
    _one_error(result, "models.fusion is not set")
    assert not out.exists()  # no empty folder holding only a lock file

