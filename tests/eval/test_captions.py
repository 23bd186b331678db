"""Caption files from owlcap and from other tools, fields mapped by name."""

import json

from owlcap.eval.config import CaptionSource
from owlcap.eval.dream1k.captions import load_dream_captions
from owlcap.eval.dream1k.config import DreamEvalConfig
from owlcap.eval.vdc.captions import load_vdc_captions
from owlcap.eval.vdc.config import VDCEvalConfig


def test_owlcap_caption_files_keep_the_last_success_and_report_bad_lines(tmp_path):
    path = tmp_path / "captions.jsonl"
    lines = [
        {"id": "camera/v1", "error": "video: no such file", "model": "m"},
        {"id": "camera/v1", "caption": "A pan.", "model": "m", "prompt": "Describe the camera."},
        {"id": "short/v2", "error": "generation: RuntimeError"},
        {"id": "v3", "caption": "No dimension here."},
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n{torn")
    config = VDCEvalConfig(qa_dir=tmp_path, captions=CaptionSource(path=path), out=tmp_path / "o",
                           judge={"model": "openai:m@http://x/v1"})  # fmt: skip
    loaded = load_vdc_captions(config, path)
    assert loaded.captions == {"camera/v1": "A pan."} and loaded.prompts == {"camera/v1": "Describe the camera."}
    assert loaded.failed == {"short/v2": "generation: RuntimeError"} and loaded.models == {"m"}
    assert len(loaded.bad_lines) == 2 and "captions.jsonl:4: no dimension for id 'v3'" in loaded.bad_lines[0]
    assert "captions.jsonl:5: invalid JSON" in loaded.bad_lines[1]


def test_lmms_eval_sample_logs_map_by_dotted_fields_and_file_names(tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    samples = [{"doc": {"video_id": "v1"}, "resps": [["A dog runs."]]}, {"doc": {"video_id": "v2"}, "resps": [["B."]]}]
    (folder / "detailed_test.json").write_text(json.dumps({"logs": samples}))
    (folder / "short_test.json").write_text(json.dumps(samples[:1]))
    source = CaptionSource(path=folder, id_field="doc.video_id", caption_field="resps.0.0")
    config = VDCEvalConfig(
        qa_dir=tmp_path, captions=source, out=tmp_path / "o", judge={"model": "openai:m@http://x/v1"}
    )
    loaded = load_vdc_captions(config, folder)
    assert loaded.captions == {"detailed/v1": "A dog runs.", "detailed/v2": "B.", "short/v1": "A dog runs."}


def test_tarsier_prediction_files_are_read_as_tarsier_does(tmp_path):
    def row(idx, dataset, text):
        assistant = {"role": "assistant", "content": [{"type": "text", "text": text, "reference": "GT."}]}
        return json.dumps({"messages": [{"role": "user", "content": []}, assistant], "dataset": dataset, "idx": idx})

    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join([row(1, "DREAM/youtube", "A cat jumps."), row(2, "MSRVTT/x", "other")]) + "\n")
    config = DreamEvalConfig(annotations=path, captions=CaptionSource(path=path), out=tmp_path / "o",
                             judge={"model": "openai:m@http://x/v1"})  # fmt: skip
    loaded = load_dream_captions(config, path)
    assert loaded.captions == {"1": "A cat jumps."} and not loaded.bad_lines
