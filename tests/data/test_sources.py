"""Video sources: manifests with clip trims (owlcap's start/end and the released start_time/end_time)."""

from __future__ import annotations

import json

import pytest

from owlcap.data.records import clip_trims
from owlcap.data.sources import collect_videos
from owlcap.video import SamplingConfig


def _manifest(tmp_path, rows):
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_trims_in_both_spellings_and_nulls(tmp_path):
    path = _manifest(
        tmp_path,
        [
            {"id": "a", "video": "a.mp4", "start": 1, "end": 2.5, "caption": "x"},
            {"id": "b", "video": "b.mp4", "start_time": 3.0, "end_time": None},
            {"id": "c", "video": "c.mp4", "start_time": None, "end_time": None},
        ],
    )
    items, errors = collect_videos([path])
    assert errors == []
    assert [(i.id, i.start, i.end) for i in items] == [("a", 1.0, 2.5), ("b", 3.0, None), ("c", None, None)]
    assert items[0].field("caption") == "x" and "start" not in dict(items[0].extra)


@pytest.mark.parametrize(
    ("row", "cause"),
    [
        ({"start": 5, "end": 2}, "must be before its end"),
        ({"start_time": "1s"}, "'start_time' must be a number"),
        ({"end": -1}, "'end' must be a number"),
        ({"start": 1, "start_time": 2}, "contradicts"),
    ],
)
def test_bad_trims_name_line_and_field(tmp_path, row, cause):
    path = _manifest(tmp_path, [{"id": "ok", "video": "a.mp4"}, {"id": "bad", "video": "b.mp4", **row}])
    items, errors = collect_videos([path])
    assert [i.id for i in items] == ["ok"]
    assert len(errors) == 1 and f"{path}:2:" in str(errors[0]) and cause in str(errors[0])


def test_clip_keeps_config_bounds_and_validates():
    config = SamplingConfig(nframes=4, start=1.0)
    assert config.clip(None, None) is config
    assert (config.clip(None, 3.0).start, config.clip(None, 3.0).end) == (1.0, 3.0)
    with pytest.raises(ValueError, match="before end"):
        config.clip(4.0, 2.0)
    assert clip_trims({"start": 0, "end": 1}) == (0.0, 1.0)


def test_a_missing_manifest_is_a_bad_input_not_the_end(tmp_path):
    good = _manifest(tmp_path, [{"id": "a", "video": "a.mp4"}])
    items, errors = collect_videos([tmp_path / "nope.jsonl", good])
    assert [i.id for i in items] == ["a"]
    assert [str(e) for e in errors] == [f"{tmp_path / 'nope.jsonl'}: no such manifest file"]
