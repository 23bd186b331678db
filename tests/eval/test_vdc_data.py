import json

import pytest

from owlcap.errors import DataError
from owlcap.eval.vdc.data import DIMENSIONS, load

DUPLICATED = {
    "056ca2389ab78e72845916ddd54baba871f26c009591c3715e1abb9fa59b526f": False,
    "01ff5bb49c2ff92fa41f98dbd1da45a4e9653d215161de8f58647e87af7daddd": False,
    "03f46720-8327-4215-ba56-5d739f6795ef": True,
    "mixkit-old-abandoned-and-destroyed-cabin-in-the-undergrowth-5297": True,
}


def test_full_question_files_load_with_the_official_counts(benchmarks_dir):
    data = load(benchmarks_dir / "vdc")
    counts = {name: (len(d.videos), d.questions) for name, d in data.dimensions.items()}
    assert counts == {
        "camera": (1027, 19112),
        "short": (1027, 19512),
        "background": (1027, 19156),
        "main_object": (1025, 19234),
        "detailed": (1027, 19811),
    }
    notes = data.notes()["main_object"]
    assert {d["video_id"]: d["same"] for d in notes["duplicate_keys"]} == DUPLICATED
    assert sorted(notes["absent_from_file"]) == [
        "699b3cf7c5b6fc1187aa829ea8e5795b27a06a811fe63d4e9c78e50d87a3c21c",
        "JJshlR5WkrY",
    ]
    assert len(data.video_ids()) == 1027


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_last_line_wins_and_videos_without_questions_are_skipped(tmp_path):
    qa = lambda q: {"question": q, "answer": "a", "category": "c"}  # noqa: E731
    _write(
        tmp_path / "camera.jsonl",
        [json.dumps({"v1": [qa("first")]}), json.dumps({"v2": []}), json.dumps({"v1": [qa("second"), qa("third")]})],
    )
    last = load(tmp_path, ["camera"]).dimensions["camera"]
    assert [q.question for q in last.videos["v1"]] == ["second", "third"]
    assert last.without_questions == ["v2"] and list(last.videos) == ["v1"]
    assert last.duplicates == [{"video_id": "v1", "lines": [1, 3], "same": False}]
    first = load(tmp_path, ["camera"], duplicate_keys="first").dimensions["camera"]
    assert [q.question for q in first.videos["v1"]] == ["first"]
    with pytest.raises(DataError, match=r"camera.jsonl:3: video 'v1' repeats the one on line 1"):
        load(tmp_path, ["camera"], duplicate_keys="error")


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("{not json", "invalid JSON"),
        ('{"v1": {"question": "q"}}', "expected a list of questions"),
        ('{"v1": [{"question": "q"}]}', "needs string 'question' and 'answer'"),
    ],
)
def test_a_malformed_record_names_file_and_line(tmp_path, line, cause):
    _write(tmp_path / "short.jsonl", ['{"v0": [{"question": "q", "answer": "a"}]}', line])
    with pytest.raises(DataError, match=rf"short.jsonl:2: .*{cause}"):
        load(tmp_path, ["short"])


def test_sample_files_are_found_and_missing_ones_named(samples_dir, tmp_path):
    data = load(samples_dir / "vdc")
    assert list(data.dimensions) == list(DIMENSIONS)
    assert all(len(d.videos) == 8 for d in data.dimensions.values())
    with pytest.raises(DataError, match="expected one question file camera.jsonl"):
        load(tmp_path, ["camera"])
    with pytest.raises(DataError, match="unknown VDC dimension 'color'"):
        load(samples_dir / "vdc", ["color"])
