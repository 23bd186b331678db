import json

import pytest
from pydantic import ValidationError

from owlcap.errors import DataError
from owlcap.eval.capability.captions import caption_for, load_cap_captions
from owlcap.eval.capability.config import VIDEO_TASKS, CapEvalConfig
from owlcap.eval.capability.data import load


def test_sample_annotations_load_in_the_official_layout(samples_dir):
    data = load(samples_dir / "capability", list(VIDEO_TASKS))
    assert {task: len(records) for task, records in data.tasks.items()} == dict.fromkeys(VIDEO_TASKS, 3)
    counting = data.tasks["dynamic_object_number"][0]
    assert counting.annotation == {"woman": 1, "man": 1} and counting.data_type == "video"
    action = data.tasks["action"][0]
    assert action.file_path == "data/event/blackboard_20350807.mp4" and action.video_id == "blackboard_20350807"
    assert data.notes()["duplicate_file_ids"] == {}


def write(tmp_path, task, lines):
    path = tmp_path / f"{task}.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def line(file_id, annotation, data_type="image", task="scene"):
    return {"file_id": file_id, "file_path": f"data/x/{file_id}.jpg", "annotation": annotation, "data_type": data_type}


@pytest.mark.parametrize(
    ("task", "bad", "message"),
    [
        ("scene", line("s0", {"park": 1}), "must be a string for scene"),
        ("object_number", line("n0", {"cup": "two"}), "the number must be an integer"),
        ("object_number", line("n0", {"cup": 1, "hat": 2}), "must hold one"),
        ("object_color", line("c0", {"car": 3}), "the color must be a string"),
        ("dynamic_object_number", line("d0", {}, "video"), "non-empty"),
        ("scene", {"file_id": "s0", "annotation": "park", "data_type": "image"}, "'file_id' and 'file_path'"),
        ("scene", line("s0", "park", "audio"), "data_type must be image or video"),
        ("scene", "{not json", "not valid JSON|JSON"),
    ],
)
def test_malformed_lines_name_the_file_line_and_cause(tmp_path, task, bad, message):
    path = write(
        tmp_path, task, [line("ok", {"x": 1} if "number" in task else {"x": "y"} if "color" in task else "a"), bad]
    )
    with pytest.raises(DataError, match=message) as caught:
        load(tmp_path, [task])
    assert str(path) in str(caught.value)


def test_a_repeated_file_id_keeps_its_first_place_and_its_last_annotation(tmp_path):
    write(tmp_path, "scene", [line("a", "park"), line("b", "beach"), line("a", "forest")])
    data = load(tmp_path, ["scene"])
    assert [(r.file_id, r.annotation) for r in data.tasks["scene"]] == [("a", "forest"), ("b", "beach")]
    assert data.notes()["duplicate_file_ids"] == {"scene": ["a"]}
    with pytest.raises(DataError, match="no annotation file for OCR"):
        load(tmp_path, ["OCR"])


def test_dimension_groups_expand_and_captioning_takes_video_dimensions_only(tmp_path):
    base = {"annotations": tmp_path, "judge": {"model": "rules"}, "out": tmp_path / "run"}
    config = CapEvalConfig(**base, dimensions=["video", "event", "scene"], captions={"path": tmp_path / "c.jsonl"})
    assert config.dimensions == ["scene", "dynamic_object_number", "action", "camera_movement", "event"]
    assert len(CapEvalConfig(**base, captions={"path": tmp_path / "c.jsonl"}).dimensions) == 13
    with pytest.raises(ValidationError, match="unknown dimension"):
        CapEvalConfig(**base, dimensions=["events"], captions={"path": tmp_path / "c.jsonl"})
    captioning = {"videos": tmp_path, "model": "hf:x"}
    with pytest.raises(ValidationError, match="scene are image dimensions"):
        CapEvalConfig(**base, dimensions=["event", "scene"], captioning=captioning)
    assert CapEvalConfig(**base, dimensions=["video"], captioning=captioning).preset == "capability"


def test_captions_per_file_id_per_dimension_file_and_action_from_event(samples_dir, tmp_path):
    folder = tmp_path / "captions"
    folder.mkdir()
    (folder / "event.jsonl").write_text(json.dumps({"file_id": "event_1", "caption": "Event caption."}) + "\n")
    (folder / "lmms_samples_capability_camera_movement.jsonl").write_text(
        json.dumps({"file_id": "camera_movement_0", "caption": "Pan left."}) + "\n"
    )
    config = CapEvalConfig(annotations=tmp_path, judge={"model": "rules"}, out=tmp_path, captions={"path": folder})
    loaded = load_cap_captions(config, folder)
    assert loaded.captions == {"event/event_1": "Event caption.", "camera_movement/camera_movement_0": "Pan left."}
    data = load(samples_dir / "capability", ["action"])
    record = data.tasks["action"][0]
    shared = type(loaded)(captions={f"event/{record.file_id}": "From event."})
    assert caption_for(shared, record) == "From event."  # the official scorer copies event's file for action
    assert caption_for(type(loaded)(captions={record.file_id: "Any."}), record) == "Any."
    assert caption_for(type(loaded)(captions={f"scene/{record.file_id}": "No."}), record) is None
