import json

import pytest

from owlcap.errors import DataError
from owlcap.eval.carebench.captions import load_care_captions
from owlcap.eval.carebench.config import CareEvalConfig
from owlcap.eval.carebench.data import load, official_descriptions


def test_sample_annotations_load_in_the_official_layout(samples_dir):
    data = load(samples_dir / "carebench" / "metadata.sample.json")
    assert [item.idx for item in data.items] == [0, 1, 2]  # the official VideoTextDataset numbers by position
    assert [item.id for item in data.items] == ["blackboard_20350807", "programs_2", "hummingbird_3"]
    bird = data.items[2]
    assert bird.video == "hummingbird_3.mp4" and bird.units("events")[0] == "A hummingbird flies in from the left."
    assert data.items[0].events is None and data.items[0].objects is None  # extracted from the reference when judged
    assert bird.spatial_caption and bird.temporal_caption and bird.category == "Animals"
    assert data.notes()["annotated_events"] == 1 and data.notes()["categories"]["Education"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "expected a non-empty JSON list"),
        ("[1]", "record 0 is not an object"),
        ('[{"video": "a.mp4"}]', "'caption' must be a non-empty string"),
        ('[{"video": "a.mp4", "caption": "x"}, {"video": "dir/a.mp4", "caption": "y"}]', "name the same video"),
        ('[{"video": "a.mp4", "caption": "x", "events": ["ok", 3]}]', "'events' must be a list of strings"),
        ("[{", "not a readable JSON file"),
    ],
)
def test_malformed_annotations_name_the_file_and_the_cause(tmp_path, content, message):
    path = tmp_path / "metadata.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as caught:
        load(path)
    assert str(path) in str(caught.value)


def test_units_that_are_not_lists_are_extracted_as_officially(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps([{"video": "v.mp4", "caption": "x", "events": None, "objects": "a cat"}]))
    item = load(path).items[0]
    assert item.events is None and item.objects is None  # officially: isinstance(..., list) or extract


def test_captions_come_from_owlcap_files_or_the_official_description_json(samples_dir, tmp_path):
    annotations = samples_dir / "carebench" / "metadata.sample.json"
    data = load(annotations)
    official = tmp_path / "description.json"
    official.write_text(json.dumps({"2": {"pred": "A bird.", "gt": "ref"}, "0": {"pred": "A woman.", "gt": "ref"}}))
    assert official_descriptions(official) == {2: "A bird.", 0: "A woman."}
    config = CareEvalConfig(
        annotations=annotations, captions={"path": official}, judge={"model": "rules"}, out=tmp_path
    )
    loaded = load_care_captions(config, data, official)
    assert loaded.captions == {"hummingbird_3": "A bird.", "blackboard_20350807": "A woman."}
    owlcap_file = tmp_path / "captions.jsonl"
    owlcap_file.write_text(json.dumps({"id": "videos/programs_2.mp4", "caption": "Menus."}) + "\n")
    loaded = load_care_captions(config, data, owlcap_file)
    assert loaded.captions == {"programs_2": "Menus."}  # an id may be the video's path or file name
