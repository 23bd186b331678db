import json

import pytest

from owlcap.errors import DataError
from owlcap.eval.dream1k.config import scoring_for
from owlcap.eval.dream1k.data import load
from owlcap.eval.dream1k.scoring import buckets, score_item


def _success(item):
    """A record judged as if every event were entailed (only the bucket fields matter here)."""
    entailed = {"value": [{"relationship": "entailment"}] * max(1, len(item.events)), "error": None}
    return {
        "id": item.id,
        "dataset": item.dataset,
        "status": "judged",
        "events_gt": list(item.events),
        "counts": {"n_events": item.n_events, "n_shots": item.n_shots, "n_subjects": item.n_subjects},
        "extraction": {"value": {"events": ["e"], "repr": "['e']"}, "error": None},
        "recall": entailed,
        "precision": {"value": [{"relationship": "entailment"}], "error": None},
    }


def test_full_annotation_file_loads_like_tarsier(benchmarks_dir):
    data = load(benchmarks_dir / "dream1k" / "DREAM-1k.jsonl")
    notes = data.notes()
    assert notes["items"] == 1000 and len({item.id for item in data.items}) == 1000
    assert notes["datasets"] == {
        f"DREAM/{s}": 200 for s in ("movie_animation", "movie_live_action", "vertical_video", "videvo", "youtube")
    }
    assert sorted(notes["empty_gt_events"], key=int) == ["649", "804", "980", "981"]
    assert all(item.prompt == "Describe the video in detail." for item in data.items)
    assert all(item.n_events == len(item.events) for item in data.items)
    scoring = scoring_for("tarsier")
    tables = buckets([score_item(_success(item), scoring) for item in data.items], scoring)
    counts = {name: [b["count"] for b in table.values()] for name, table in tables.items()}
    assert counts == {"subjects": [318, 337, 220, 125], "shots": [586, 195, 101, 118], "events": [114, 287, 264, 335]}


def _row(idx, dataset="DREAM/youtube", **extra):
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Describe the video in detail."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "", "reference": f"GT {idx}."}]},
        ],
        "dataset": dataset,
        "idx": idx,
        "extra_info": {"events": ["A thing happens."], "n_events": 1, "n_shots": 1, "n_subjects": 1},
    }
    row.update(extra)
    return json.dumps(row)


def test_filter_dedupe_and_first_wins(tmp_path):
    path = tmp_path / "dream.jsonl"
    lines = [
        _row(1),
        _row(2, dataset="OTHER/x"),
        _row(1, extra_info={"events": [], "n_events": 0, "n_shots": 1, "n_subjects": 1}),
        _row(3),
    ]
    path.write_text("\n".join(lines) + "\n")
    data = load(path)
    assert [item.idx for item in data.items] == [1, 3]
    assert data.items[0].events == ("A thing happens.",)  # the first row of DREAM/youtube_1 won
    assert data.skipped_other_datasets == 1 and data.duplicates == [{"key": "DREAM/youtube_1", "lines": [1, 3]}]
    assert load(path, duplicate_ids="last").items[0].events == ()
    with pytest.raises(DataError, match=r"dream.jsonl:3: DREAM/youtube_1 repeats line 1"):
        load(path, duplicate_ids="error")


@pytest.mark.parametrize(
    ("row", "cause"),
    [
        (_row(5, extra_info=None), "no extra_info object"),
        (
            _row(5, extra_info={"events": "a b", "n_events": 1, "n_shots": 1, "n_subjects": 1}),
            "must be a list of strings",
        ),
        (
            _row(5, extra_info={"events": [], "n_events": "3", "n_shots": 1, "n_subjects": 1}),
            "extra_info.n_events must be a number",
        ),
        (_row(5, messages=[]), "no reference caption"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_a_malformed_row_names_file_and_line(tmp_path, row, cause):
    path = tmp_path / "dream.jsonl"
    path.write_text(_row(1) + "\n" + row + "\n")
    with pytest.raises(DataError, match=rf"dream.jsonl:2: .*{cause}"):
        load(path)
