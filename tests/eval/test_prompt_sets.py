import json

import pytest

from owlcap.errors import ConfigError
from owlcap.eval.dream1k import prompts as dream_prompts
from owlcap.eval.dream1k.config import PRESETS as DREAM_PRESETS
from owlcap.eval.dream1k.config import DreamProtocol
from owlcap.eval.prompt_sets import fill, load_prompt_set, official_file
from owlcap.eval.vdc import prompts as vdc_prompts

# Exact official texts, copied from EVAL_PARITY.md's JSON-exact blocks (checked against the shipped file).
VDC_ANSWER_USER = (
    "Please provide accurate answers to questions related to the content based on a detailed description of a video "
    "or image:\n\ndetailed description: {CAPTION}, question: {QUESTION}DO NOT PROVIDE ANY OTHER OUTPUT TEXT OR "
    "EXPLANATION. Only provide short but accurate answer."
)
DREAM_EXTRACT_START = "Bellow is a description of a video clip:\nVideo Description: {CAPTION}\n\nExtract at most 10"


def vdc_set(choice="official"):
    return load_prompt_set(choice, benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)


def test_official_vdc_texts_are_loaded_verbatim():
    prompts = vdc_set()
    assert prompts.name == "official"
    assert prompts.get("judge", "answer_from_caption", "user") == VDC_ANSWER_USER
    pools = prompts.get("caption_prompt_pools")
    assert {name: len(pool) for name, pool in pools.items()} == {
        "camera": 16, "short": 16, "background": 16, "main_object": 16, "detailed": 24,
    }  # fmt: skip
    assert not any("8 equally spaced" in p for pool in pools.values() for p in pool)  # not the dead AUR pools


def test_messages_fill_placeholders_once_and_keep_literal_braces():
    prompts = vdc_set()
    messages = vdc_prompts.answer_messages(prompts, "A {QUESTION} sign.", "What is shown?")
    assert messages[1]["content"].endswith(
        "detailed description: A {QUESTION} sign., question: What is shown?DO NOT PROVIDE ANY OTHER OUTPUT TEXT "
        "OR EXPLANATION. Only provide short but accurate answer."
    )
    verdict = vdc_prompts.verdict_messages(prompts, "Q?", "gt", " raw answer ")
    assert "Predicted Answer:  raw answer \n\n" in verdict[1]["content"]
    assert "{'pred': 'yes', 'score': 4.8}." in verdict[1]["content"]
    assert fill("{A} {B} {A}", A="{B}") == "{B} {B} {B}"


def test_dream_official_prompts_keep_typos_and_render_events_as_python_repr():
    prompts = load_prompt_set("auto", benchmark="dream1k", search_dirs=[], required=dream_prompts.REQUIRED)
    protocol = DreamProtocol(**DREAM_PRESETS["tarsier"]["protocol"])
    extraction = dream_prompts.extraction_messages(prompts, 'A Man says "hi".', protocol)
    assert extraction == [
        {"role": "user", "content": fill(prompts.get("judge", "event_extraction", "user"), CAPTION="a man says 'hi'.")}
    ]
    assert prompts.get("judge", "event_extraction", "user").startswith(DREAM_EXTRACT_START)
    recall = dream_prompts.entailment_messages(prompts, "The PRED.", ["A dog's run", "Cat"], "The GT.", protocol)
    assert "Video Description:\nthe pred.\n\nEvents: [\"A dog's run\", 'Cat']\nOutput a JSON" in recall[0]["content"]
    empty = dream_prompts.entailment_messages(prompts, "Desc", [], "Other\ncaption", protocol)
    assert "Events: ['other caption']\n" in empty[0]["content"]


def test_prompt_set_choice_and_errors(tmp_path):
    # No official file beside the annotations: the exact official texts shipped with owlcap ("auto" = "official").
    for choice in ("auto", "official"):
        shipped = load_prompt_set(choice, benchmark="vdc", search_dirs=[tmp_path], required=vdc_prompts.REQUIRED)
        assert shipped.name == "official" and shipped.source == str(official_file("vdc"))
    owlcap = load_prompt_set("owlcap", benchmark="vdc", search_dirs=[tmp_path], required=vdc_prompts.REQUIRED)
    assert owlcap.name == "owlcap" and owlcap.sha256 != vdc_set().sha256
    broken = json.loads(official_file("vdc").read_text())
    broken["judge"]["score_against_answer"]["user"] = "no placeholders here"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ConfigError, match=r"mine.json: judge.score_against_answer.user lacks the placeholder"):
        load_prompt_set(str(path), benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)
    with pytest.raises(ConfigError, match="neither official, owlcap nor an existing file"):
        load_prompt_set("nope.json", benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)


def test_owlcap_prompt_sets_snapshot():
    """owlcap's own texts change only on purpose: a change must update these hashes (and be documented)."""
    vdc = load_prompt_set("owlcap", benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)
    dream = load_prompt_set("owlcap", benchmark="dream1k", search_dirs=[], required=dream_prompts.REQUIRED)
    assert vdc.get("judge", "answer_from_caption", "user").startswith("Please provide accurate answers")
    assert dream.get("judge", "event_extraction", "user").startswith("Below is a description")
    assert (vdc.sha256[:16], dream.sha256[:16]) == ("d2dced584f252d9b", "520529399c724898")


def test_the_official_texts_are_recognised_by_their_hash(tmp_path, caplog):
    copy = tmp_path / "vdc_prompts.json"
    copy.write_text(official_file("vdc").read_text())
    assert vdc_set(str(copy)).name == "official"
    data = json.loads(copy.read_text())
    data["judge"]["answer_from_caption"]["system"] += " Be brief."
    (tmp_path / "official_prompts.json").write_text(json.dumps(data))
    modified = load_prompt_set("auto", benchmark="vdc", search_dirs=[tmp_path], required=vdc_prompts.REQUIRED)
    assert modified.name == "official_prompts.json (modified)" and "differs from the official texts" in caplog.text


def test_caption_prompt_draws(samples_dir):
    import random

    from owlcap.eval.vdc.config import VDCProtocol
    from owlcap.eval.vdc.data import load

    prompts = vdc_set()
    data = load(samples_dir / "vdc", ["camera", "detailed"])
    per_video = vdc_prompts.caption_prompts(data, prompts, VDCProtocol())
    assert per_video == vdc_prompts.caption_prompts(data, prompts, VDCProtocol())  # seeded: the same every run
    subset = load(samples_dir / "vdc", ["detailed"])
    assert all(
        per_video[key] == prompt for key, prompt in vdc_prompts.caption_prompts(subset, prompts, VDCProtocol()).items()
    )
    assert len(set(per_video.values())) > 4
    fixed = vdc_prompts.caption_prompts(data, prompts, VDCProtocol(caption_prompts="fixed", caption_prompt_index=3))
    assert {p for (d, _), p in fixed.items() if d == "camera"} == {prompts.get("caption_prompt_pools", "camera")[3]}
    sequential = vdc_prompts.caption_prompts(data, prompts, VDCProtocol(caption_prompts="sequential"))
    stream, pool = random.Random(0), prompts.get("caption_prompt_pools", "camera")
    assert [p for (d, _), p in sequential.items() if d == "camera"] == [stream.choice(pool) for _ in range(8)]


def test_dream_protocol_switches_change_the_judge_input():
    prompts = load_prompt_set("official", benchmark="dream1k", search_dirs=[], required=dream_prompts.REQUIRED)
    values = {**DREAM_PRESETS["tarsier"]["protocol"], "lowercase_captions": False, "events_render": "json"}
    protocol = DreamProtocol(**values)
    messages = dream_prompts.entailment_messages(prompts, "The PRED.", ["A dog's run"], "GT", protocol)
    assert 'Video Description:\nThe PRED.\n\nEvents: ["A dog\'s run"]\n' in messages[0]["content"]
    unquoted = DreamProtocol(**{**values, "quote_replace_in_extraction": False})
    assert 'says "hi"' in dream_prompts.extraction_messages(prompts, 'He says "hi".', unquoted)[0]["content"]
