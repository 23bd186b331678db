"""The rules judge's recipes for the benchmark judge calls: answers in the official formats, read by the official
parsers, deterministic, and weak in the documented way (word overlap)."""

from __future__ import annotations

import json

from owlcap.eval import evaluate_dream1k, evaluate_vdc
from owlcap.eval.dream1k.config import DreamProtocol
from owlcap.eval.dream1k.prompts import entailment_parser, offline_entailment, offline_events, parse_events
from owlcap.eval.vdc.config import scoring_for
from owlcap.eval.vdc.prompts import NOT_MENTIONED, offline_answer, offline_verdict
from owlcap.eval.vdc.scoring import literal_verdict, parse_verdict
from owlcap.llm.rules_text import TextRules

RULES = TextRules()
PROTOCOL = DreamProtocol(
    lowercase_captions=True, quote_replace_in_extraction=True, events_render="python_repr", judge_empty_event_lists=True
)
CAPTION = "A woman in a red coat walks to the door. She opens it and waves at a small dog."


def test_vdc_answer_takes_the_sentence_closest_to_the_question():
    assert (
        offline_answer(CAPTION, "What color is the woman's coat?")(RULES) == "A woman in a red coat walks to the door."
    )
    assert offline_answer(CAPTION, "Which animal appears?")(RULES) == NOT_MENTIONED  # "animal" is not in it


def test_vdc_verdict_is_the_official_python_dict_and_scores_overlap():
    agree = offline_verdict("The coat is red.", "A woman in a red coat walks to the door.")(RULES)
    disagree = offline_verdict("The coat is blue.", NOT_MENTIONED)(RULES)
    scoring = scoring_for("auroracap")
    assert literal_verdict(agree) == agree  # the official parser's first step: ast.literal_eval
    assert parse_verdict(agree, scoring).yes and parse_verdict(agree, scoring).score == 5
    assert not parse_verdict(disagree, scoring).yes and parse_verdict(disagree, scoring).score == 0


def test_dream_events_and_entailment_parse_with_the_official_parsers():
    events = parse_events(offline_events(CAPTION, PROTOCOL)(RULES))["events"]
    assert events == ["a woman in a red coat walks to the door.", "she opens it and waves at a small dog."]
    judged = entailment_parser(2)(offline_entailment(CAPTION, events, "other", PROTOCOL)(RULES))
    assert [item["relationship"] for item in judged] == ["entailment", "entailment"]
    unrelated = entailment_parser(1)(offline_entailment(CAPTION, ["A man rides a horse."], "x", PROTOCOL)(RULES))
    assert unrelated[0]["relationship"] == "neutral"  # the rules never claim a contradiction
    # an empty event list: the other caption stands in, and the parser expects one judged item (official)
    stand_in = entailment_parser(0)(offline_entailment(CAPTION, [], "A dog waves.", PROTOCOL)(RULES))
    assert len(stand_in) == 1 and stand_in[0]["event"] == "a dog waves."


def test_dream1k_end_to_end_on_the_samples_with_the_references_as_predictions(samples_dir, tmp_path):
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    references = tmp_path / "references.jsonl"
    lines = [json.loads(line) for line in annotations.read_text().splitlines()]
    with references.open("w") as handle:
        for line in lines:
            reference = line["messages"][1]["content"][0]["reference"]
            handle.write(json.dumps({"id": str(line["idx"]), "caption": reference}) + "\n")
    config = {"annotations": str(annotations), "captions": {"path": str(references)}, "judge": {"model": "rules"},
              "out": str(tmp_path / "run"), "prompts": "owlcap", "report": {"bootstrap_samples": 0}}  # fmt: skip
    result = evaluate_dream1k(config)
    assert result.complete and result.report["counts"]["judged"] == len(lines) == 40
    overall = result.report["results"]["overall"]
    assert overall["precision"] == 1.0  # events extracted from the reference are found in the reference
    assert 0.8 < overall["recall"] < 1.0  # the ceiling of a word-overlap judge: paraphrased GT events are missed
    assert any("judge: rules" in note for note in result.report["notes"])
    assert evaluate_dream1k(config).report["results"] == result.report["results"]  # deterministic


def test_vdc_end_to_end_on_the_samples(samples_dir, tmp_path):
    captions = tmp_path / "captions.jsonl"
    caption = (samples_dir / "hmd" / "captions.jsonl").read_text().splitlines()[0]
    with captions.open("w") as handle:
        for dimension in ("camera", "short", "background", "main_object", "detailed"):
            for line in (samples_dir / "vdc" / f"{dimension}.sample.jsonl").read_text().splitlines():
                for video_id in json.loads(line):
                    handle.write(
                        json.dumps({"id": f"{dimension}/{video_id}", "caption": json.loads(caption)["caption"]})
                    )
                    handle.write("\n")
    config = {"qa_dir": str(samples_dir / "vdc"), "captions": {"path": str(captions)}, "judge": {"model": "rules"},
              "out": str(tmp_path / "run"), "prompts": "owlcap", "preset": "lmms",
              "report": {"bootstrap_samples": 0}}  # fmt: skip
    result = evaluate_vdc(config)
    assert result.complete and result.report["counts"]["judged"] == result.report["counts"]["items"] == 40
    items = [json.loads(line) for line in (tmp_path / "run" / "items.jsonl").read_text().splitlines()]
    verdicts = [q["verdict_call"]["raw"] for item in items for q in item["questions"]]
    assert verdicts and all(raw.startswith("{'pred': ") for raw in verdicts)
    statuses = {q["verdict"]["status"] for item in items for q in item["questions"]}
    assert statuses == {"ok"}  # every recipe answer parsed under the official rules
