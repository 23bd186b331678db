import json
from pathlib import Path

import pytest

from owlcap.data.records import CaptionExample, HMDRecord, parse_record, read_caption_examples
from owlcap.errors import DataError


def _write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


@pytest.fixture
def video(tmp_path: Path) -> Path:
    (tmp_path / "clips").mkdir()
    path = tmp_path / "clips" / "a.mp4"
    path.write_bytes(b"not decoded here")
    return path


def test_reads_the_hmd_samples(samples_dir):
    examples, errors = read_caption_examples(samples_dir / "hmd" / "captions.jsonl")
    assert errors == []
    assert len(examples) == 3
    for example in examples:
        assert Path(example.video).is_absolute() and Path(example.video).is_file()
        assert example.caption and example.caption == example.caption.strip()
        assert example.prompt is None and example.system is None
        assert example.source.endswith(f":{examples.index(example) + 1}")


def test_hmd_record_keeps_provenance_and_unknown_fields():
    record = HMDRecord.model_validate(
        {
            "id": "x",
            "video": "v.mp4",
            "caption": "c",
            "motion_caption": "m",
            "fused_caption": "f",
            "units": ["u1", "u2"],
            "unit_verdicts": [{"unit": "u1", "supported": True}, {"unit": "u2", "supported": None}],
            "unit_accuracy": 0.5,
            "models": {"motion": "a", "fusion": "b"},
            "pipeline_version": 3,
        }
    )
    assert record.unit_verdicts[1].supported is None
    assert record.model_dump()["pipeline_version"] == 3
    with pytest.raises(ValueError):
        HMDRecord.model_validate({"id": "x", "video": "v.mp4", "caption": "c", "unit_accuracy": 1.5})


def test_hf_messages_with_video_part(tmp_path, video):
    record = {
        "id": "hf1",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "You caption videos."}]},
            {"role": "user", "content": [{"type": "video", "video": "clips/a.mp4"}, {"type": "text", "text": "Tell."}]},
            {"role": "assistant", "content": [{"type": "text", "text": " A cat sits. "}]},
        ],
    }
    example = parse_record(record, base=tmp_path)
    assert example == CaptionExample("hf1", str(video.resolve()), "A cat sits.", "Tell.", "You caption videos.")


def test_llamafactory_and_sharegpt_styles(tmp_path, video):
    llamafactory = {
        "messages": [{"role": "user", "content": "<video>Describe it."}, {"role": "assistant", "content": "A dog."}],
        "videos": ["clips/a.mp4"],
    }
    sharegpt = {
        "conversations": [{"from": "human", "value": "<video>\nDescribe it."}, {"from": "gpt", "value": "A dog."}],
        "videos": [str(video)],
    }
    path = _write_jsonl(tmp_path / "sft.jsonl", [llamafactory, sharegpt])
    examples, errors = read_caption_examples(path)
    assert errors == []
    assert [(e.id, e.prompt, e.caption, e.video) for e in examples] == [
        ("sft:1", "Describe it.", "A dog.", str(video.resolve())),
        ("sft:2", "Describe it.", "A dog.", str(video)),
    ]


def test_json_array_files_and_video_root(tmp_path, video):
    data = tmp_path / "data"
    data.mkdir()
    path = data / "sft.json"
    path.write_text(json.dumps([{"id": "r", "video": "a.mp4", "caption": "c", "prompt": "p"}]))
    examples, errors = read_caption_examples(path, video_root=tmp_path / "clips")
    assert errors == [] and examples[0].video == str(video.resolve()) and examples[0].prompt == "p"


def test_bad_lines_are_reported_with_file_and_line_and_the_rest_load(tmp_path, video):
    good = {"id": "ok", "video": "clips/a.mp4", "caption": "fine"}
    lines = [
        good,
        "{not json",
        {"id": "nocap", "video": "clips/a.mp4"},
        {"id": "missing", "video": "clips/nope.mp4", "caption": "c"},
        {"messages": [{"role": "user", "content": "no video"}, {"role": "assistant", "content": "x"}]},
        {
            "messages": [{"role": "user", "content": "<video>a"}, {"role": "assistant", "content": "x"}] * 2,
            "videos": ["clips/a.mp4"],
        },
        {"messages": [{"role": "robot", "content": "x"}]},
        {"id": "empty", "video": "clips/a.mp4", "caption": ""},
        [1, 2],
    ]
    path = _write_jsonl(tmp_path / "mixed.jsonl", lines)
    examples, errors = read_caption_examples(path)
    assert [e.id for e in examples] == ["ok"]
    assert all(isinstance(e, DataError) and e.path == str(path) for e in errors)
    assert [e.line for e in errors] == [2, 3, 4, 5, 6, 7, 8, 9]
    causes = " | ".join(e.cause for e in errors)
    for expected in (
        "invalid JSON",
        "neither an HMD record",
        "not found",
        "exactly one video",
        "single-turn",
        "unknown role",
        "caption",
    ):
        assert expected in causes
    assert str(errors[2]).startswith(f"{path}:4: ")


def test_missing_videos_pass_when_not_checked(tmp_path):
    path = _write_jsonl(tmp_path / "r.jsonl", [{"id": "a", "video": "gone.mp4", "caption": "c"}])
    examples, errors = read_caption_examples(path, check_files=False)
    assert errors == [] and examples[0].video == str((tmp_path / "gone.mp4").resolve())


def test_missing_file_raises(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_caption_examples(tmp_path / "absent.jsonl")


def released_line(video: str = "clips/a.mp4", **trims) -> dict:
    """A line of the released OwlCap SFT/GRPO data: singular ``video``, ``conversations``, optional trims."""
    turns = [{"from": "human", "value": "<video>\nDescribe this video in detail."}, {"from": "gpt", "value": "A dog."}]
    return {"video": video, "conversations": turns, **trims}


def test_released_lines_load_with_and_without_trims(tmp_path, video):
    lines = [
        released_line(start_time=1.0, end_time=5.0),
        released_line(),
        released_line(start_time=None, end_time=None),
        released_line(start_time=2, end_time=None),
        {**released_line(), "conversations": [{"from": "human", "value": "Tell."}, {"from": "gpt", "value": "B."}]},
    ]
    examples, errors = read_caption_examples(_write_jsonl(tmp_path / "grpo.jsonl", lines))
    assert errors == []
    assert [(e.start, e.end) for e in examples] == [(1.0, 5.0), (None, None), (None, None), (2.0, None), (None, None)]
    assert {e.video for e in examples} == {str(video.resolve())}
    assert [e.prompt for e in examples] == ["Describe this video in detail."] * 4 + ["Tell."]


GPT = {"from": "gpt", "value": "y"}


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ({**released_line(), "videos": ["clips/a.mp4"]}, "either 'video'"),
        (released_line(video=""), "'video' must be a path string"),
        (released_line(video=3), "'video' must be a path string"),
        (released_line(start_time=5.0, end_time=1.0), "must be before its end"),
        (released_line(end_time="5s"), "'end_time' must be a number"),
        ({**released_line(), "conversations": [{"from": "human", "value": "<video><video>x"}, GPT]}, "2 <video> tags"),
    ],
)
def test_bad_released_lines_name_the_line_and_field(tmp_path, video, line, cause):
    path = _write_jsonl(tmp_path / "bad.jsonl", [released_line(), line])
    examples, errors = read_caption_examples(path)
    assert len(examples) == 1 and len(errors) == 1
    assert str(errors[0]).startswith(f"{path}:2: ") and cause in errors[0].cause


def test_dataset_list_takes_each_file_at_its_share(tmp_path, video):
    parts = tmp_path / "parts"
    parts.mkdir()
    for name in ("b", "a"):
        _write_jsonl(parts / f"{name}.jsonl", [released_line(video=str(video), start_time=i) for i in range(4)])
    (tmp_path / "other.jsonl").write_text(json.dumps(released_line(video=str(video))) + "\n")
    listing = {
        "tarsier_combine": {"root": "", "annotation": "parts/*.jsonl", "repeat_time": 0.5, "task_weight": 3},
        "other": {"annotation": str(tmp_path / "other.jsonl"), "repeat_time": 2.7},
    }
    (tmp_path / "list.json").write_text(json.dumps(listing))
    (tmp_path / "list.yaml").write_text(
        "tarsier_combine: {annotation: parts/*.jsonl, repeat_time: 0.5}\n"
        "other: {annotation: other.jsonl, repeat_time: 2}\n"
    )
    for name in ("list.json", "list.yaml"):
        examples, errors = read_caption_examples(tmp_path / name)
        assert errors == []
        # sorted files (a before b), the first half of each; then the other file twice
        assert [Path(e.source).name for e in examples] == ["a.jsonl:1", "a.jsonl:2", "b.jsonl:1", "b.jsonl:2"] + [
            "other.jsonl:1"
        ] * 2
        assert [e.start for e in examples[:4]] == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("listing", "cause"),
    [
        ({"x": {"annotation": "nothing/*.jsonl"}}, "matches no file"),
        ({"x": {"repeat_time": 1}}, "needs an 'annotation' glob"),
        ({"x": {"annotation": "*.jsonl", "repeat_time": 0}}, "'repeat_time' must be a number > 0"),
        ({}, "dataset list"),
    ],
)
def test_bad_dataset_lists_say_what_to_fix(tmp_path, listing, cause):
    path = tmp_path / "list.json"
    path.write_text(json.dumps(listing))
    with pytest.raises(DataError, match=cause):
        read_caption_examples(path)
