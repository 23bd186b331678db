"""``owlcap.jsonl.compact_jsonl``: one line per id once a job has retried its failures, written atomically (torn
lines go; the other repairs are promises of ``tests/reliability/test_durability.py``)."""

from __future__ import annotations

import json

import pytest

from owlcap.jsonl import compact_jsonl, done_ids, iter_jsonl


def _line(record: dict) -> str:
    return json.dumps(record) + "\n"


def test_compaction_keeps_a_success_over_errors_and_the_last_error_otherwise(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(
        _line({"id": "a", "caption": "A."})
        + _line({"id": "b", "error": "first failure"})
        + '{"id": "torn", "capt\n'  # a crash mid-write: kept as it is
        + _line({"note": "no id"})
        + _line({"id": "b", "caption": "B at last."})
        + _line({"id": "c", "error": "failed once"})
        + _line({"id": "b", "error": "a later failure does not undo a success"})
        + _line({"id": "c", "error": "failed again"})
    )
    assert compact_jsonl(path) == 4
    lines = list(iter_jsonl(path))
    records = [line.record for line in lines if line.record is not None]
    assert records == [{"id": "a", "caption": "A."}, {"note": "no id"}, {"id": "b", "caption": "B at last."},
                       {"id": "c", "error": "failed again"}]  # fmt: skip
    assert all(line.error is None for line in lines)
    assert done_ids(path) == {"a", "b"} and done_ids(path, include_errors=True) == {"a", "b", "c"}
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temporary file left behind


def test_a_compact_file_is_left_as_it_is(tmp_path):
    path = tmp_path / "out.jsonl"
    text = _line({"id": "a", "caption": "A."}) + _line({"id": "b", "error": "x"})
    path.write_text(text)
    assert compact_jsonl(path) == 0 and path.read_text() == text


def test_an_atomic_rewrite_that_fails_leaves_the_old_file_whole(tmp_path):
    from owlcap.jsonl import replace_atomically, write_jsonl_atomic

    path = tmp_path / "items.jsonl"
    write_jsonl_atomic(path, [{"id": "a"}, {"id": "b"}])
    with pytest.raises(RuntimeError), replace_atomically(path) as handle:
        handle.write('{"id": "half')
        raise RuntimeError("killed mid-write")
    assert [line.record for line in iter_jsonl(path)] == [{"id": "a"}, {"id": "b"}]
    assert [p.name for p in tmp_path.iterdir()] == ["items.jsonl"]  # no temporary left behind
