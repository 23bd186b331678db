"""Whole runs against the scripted judge: the numbers equal the official rules (transcribed below, independently of
owlcap's scoring code) to 1e-9, with failures, exclusions and empty event lists; re-scoring, resuming, refusing."""

from __future__ import annotations

import ast
import contextlib
import json

import numpy as np
import pytest
from helpers.llm_server import LoopbackLLMServer
from helpers.scripted_judges import dream_events, dream_label, responder, vdc_answer, vdc_verdict

from owlcap.errors import ConfigError
from owlcap.eval import evaluate_dream1k, evaluate_vdc, reaggregate
from owlcap.eval.dream1k.data import load as load_dream
from owlcap.eval.prompt_sets import official_file
from owlcap.eval.runs import read_items
from owlcap.eval.vdc.data import load as load_vdc
from owlcap.jsonl import read_jsonl

# ------------------------------------------------------------------------------------- the official rules


def official_dream(items, captions, failed_ids=()):
    """evaluate_dream_gpt.py's metric on the scripted judge's answers: R/P per sample, F1 of means per subtask,
    OVERALL the mean over subtasks; failed samples excluded."""
    results = {}
    for item in items:
        if item.id not in captions or item.id in failed_ids:
            continue
        response, prediction = item.reference.lower(), captions[item.id].lower()
        pred_events = dream_events(prediction.replace('"', "'"))

        def score(events, description):
            if len(events) == 0:
                return 1.0
            return sum(dream_label(description, e) == "entailment" for e in events) / len(events)

        results.setdefault(item.dataset, []).append(
            (score(list(item.events), prediction), score(pred_events, response))
        )
    table = {}
    for subtask in sorted(results):
        recall = np.average([r for r, _ in results[subtask]])
        precision = np.average([p for _, p in results[subtask]])
        table[subtask] = (2 * recall * precision / (recall + precision), recall, precision)
    recall = np.average([row[1] for row in table.values()])
    precision = np.average([row[2] for row in table.values()])
    table["OVERALL"] = (2 * recall * precision / (recall + precision), recall, precision)
    return table


def official_vdc(data, captions, preset, *, judged_as=None):
    """process_vdc_result.py (auroracap) / lmms-eval 0.7.3 (lmms) / lmms-eval Oct 2024 (lmms_gpt) on the
    scripted judge's answers: per-dimension (Acc, Score). ``judged_as``: the preset whose protocol asked the judge
    (lmms_gpt's client hands call 2 the first answer stripped), when it is not ``preset``."""
    stripped = (judged_as or preset) == "lmms_gpt"
    table = {}
    for dimension, dimension_data in data.dimensions.items():
        scores, accs = [], []
        for video_id, qas in dimension_data.videos.items():
            caption = captions[f"{dimension}/{video_id}"]
            answers = [vdc_answer(caption, qa.question) for qa in qas]
            answers = [answer.strip() for answer in answers] if stripped else answers
            verdicts = [vdc_verdict(qa.question, qa.answer, answer) for qa, answer in zip(qas, answers, strict=True)]
            outcome = _official_video(verdicts, preset)
            if outcome is not None:
                scores.append(outcome[0])
                accs.append(outcome[1])
        table[dimension] = (sum(accs) / len(accs), sum(scores) / len(scores))
    return table


def _official_video(verdicts, preset):
    """One video's (score, acc) under ``preset``'s official code, or None when it leaves the mean (AuroraCap: an
    exception or a zero; lmms: a crash of lmms-eval, which owlcap's preset turns into a dropped video)."""
    total_score, total_acc, counted = 0, 0, 0
    for raw in verdicts:
        if preset == "auroracap":
            qa = {"question": "q", "answer": "a", "response": "r"}
            try:
                qa.update(ast.literal_eval(raw))
                total_score += float(qa["score"])
            except Exception:
                return None  # the video's try/except drops it
            total_acc += qa["pred"] == "yes"
        elif preset == "lmms":
            try:
                response = ast.literal_eval(raw)
                if not ("pred" in response and "score" in response):
                    continue  # skipped: not counted
                total_score += response["score"]
            except Exception:
                return None  # lmms-eval crashes; owlcap drops the video
            total_acc += response["pred"] == "yes"
        else:
            review = raw.strip()  # gpt_match strips every answer
            with contextlib.suppress(Exception):  # parse_score: 0 on any exception
                total_score += int(ast.literal_eval(review).get("score", 0))
            with contextlib.suppress(Exception):  # parse_acc: 'no' on any exception
                total_acc += str(ast.literal_eval(review).get("pred", "no")) == "yes"
        counted += 1
    if not counted:
        return None  # lmms-eval divides by zero: a crash
    score, acc = total_score / counted, total_acc / counted
    if preset == "auroracap" and not (score and acc):
        return None
    return score, acc


# ------------------------------------------------------------------------------------------------ fixtures


def vdc_captions(data, path):
    """A caption per (dimension, video); some carry a marker that exercises a scorer rule."""
    captions = {}
    markers = ["[blank]", "[garbage]", "[keyless]", "[strscore]", "[indent]", "[listed]"]
    for d_index, (dimension, dimension_data) in enumerate(data.dimensions.items()):
        for v_index, video_id in enumerate(dimension_data.videos):
            marker = markers[(d_index + v_index) % len(markers)] if v_index % 2 == 0 else ""
            captions[f"{dimension}/{video_id}"] = f"The {dimension} of {video_id[:8]}: a man walks away.{marker}"
    path.write_text("".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items()))
    return captions


def dream_captions(items, path, *, skip=()):
    captions = {}
    for index, item in enumerate(items):
        if item.id in skip:
            continue
        if index % 9 == 4:
            captions[item.id] = ""  # no events can be extracted: precision 1.0 for free
        elif index % 11 == 3:
            captions[item.id] = "[garbage] The man waves."  # extraction never parses: a failed sample
        else:
            captions[item.id] = item.reference.split(".")[0] + '. A "tall" man waves. The camera pans left.'
    path.write_text("".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items()))
    return captions


def judge_settings(spec, **extra):
    return {
        "model": spec,
        "concurrency": 32,
        "request_timeout_s": 10,
        "max_retries": 1,
        "backoff_base_s": 0.01,
        **extra,
    }


# ---------------------------------------------------------------------------------------------------- tests


def test_dream1k_run_equals_the_official_rules(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = load_dream(annotations).items
    captions = dream_captions(items, tmp_path / "captions.jsonl", skip={items[-1].id})
    result = evaluate_dream1k(
        {
            "annotations": str(annotations),
            "prompts": str(official_file("dream1k")),
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "judge": judge_settings(judge.spec("gpt-3.5-turbo-0125"), parse_attempts=3),
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 200},
        }
    )
    failed = {i for i, c in captions.items() if "[garbage]" in c}
    expected = official_dream(items, captions, failed)
    results = result.report["results"]
    for name, (f1, recall, precision) in expected.items():
        got = results["overall"] if name == "OVERALL" else results["categories"][name]
        assert (got["f1"], got["recall"], got["precision"]) == pytest.approx((f1, recall, precision), abs=1e-9)
    counts = result.report["counts"]
    assert (counts["failed"], counts["no_caption"], counts["judged"]) == (len(failed), 1, 39 - len(failed))
    assert counts["failed_calls"] == {"invalid_answer": len(failed)}
    assert not result.complete and any("without a caption" in p for p in result.problems)
    assert result.report["prompts"]["name"] == "official"
    record = next(r for r in read_items(tmp_path / "run") if r["id"] == "804")  # no GT events: R = 1.0 for free
    assert record["scores"]["recall"] == 1.0 and len(record["recall"]["value"]) == 1
    garbage = next(r for r in read_items(tmp_path / "run") if r["id"] in failed)
    assert garbage["extraction"]["attempts"] == 3 and garbage["extraction"]["raw"].startswith("Here are the events")
    report_md = (tmp_path / "run" / "report.md").read_text()
    assert "| **OVERALL** |" in report_md and "## By n_events" in report_md
    assert (tmp_path / "run" / "dream1k.png").stat().st_size > 10_000


def test_vdc_run_equals_each_presets_official_rules(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    qa_dir = samples_dir / "vdc"
    data = load_vdc(qa_dir, ["camera", "main_object"])
    captions = vdc_captions(data, tmp_path / "captions.jsonl")
    config = {
        "qa_dir": str(qa_dir),
        "dimensions": ["camera", "main_object"],
        "prompts": str(official_file("vdc")),
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "judge": judge_settings(judge.spec("meta-llama/Llama-3.1-8B-Instruct")),
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    result = evaluate_vdc(config)
    for preset in ("auroracap", "lmms", "lmms_gpt"):
        report = result.report if preset == "auroracap" else reaggregate(tmp_path / "run", preset).report
        for dimension, (acc, score) in official_vdc(data, captions, preset, judged_as="auroracap").items():
            got = report["results"]["dimensions"][dimension]
            assert (got["acc"], got["score"]) == pytest.approx((acc, score), abs=1e-9), (preset, dimension)
    left_out = [reason for d in result.report["results"]["dimensions"].values() for reason in d["videos_left_out"]]
    assert {"zero", "unparsable", "missing_key", "not_a_dict"} <= set(left_out)
    assert result.report["counts"]["failed_calls"]["invalid_answer"] >= 1  # the unparsable verdicts
    lmms = reaggregate(tmp_path / "run", "lmms")
    assert lmms.out == tmp_path / "run" / "rescored-lmms" and (lmms.out / "report.md").is_file()
    assert any("lmms-eval 0.7.3 would have crashed" in note for note in lmms.report["notes"])
    # Call 1's answer reaches call 2 untrimmed (the scripted judge answers some with a leading space).
    questions = [q for r in read_items(tmp_path / "run") for q in r["questions"]]
    spaced = [q for q in questions if q["answer_call"]["raw"].startswith(" ")]
    assert spaced and all(q["verdict"]["status"] != "judge_error" for q in spaced)


def test_a_vdc_run_under_lmms_gpt_strips_every_answer_as_its_client_does(samples_dir, tmp_path):
    """lmms-eval's GPT scorer strips each answer on receipt: call 2 gets call 1's answer stripped (owlcap sends it
    raw under auroracap and lmms), and a verdict after a newline and an indent reads as the dict it holds."""
    qa_dir = samples_dir / "vdc"
    data = load_vdc(qa_dir, ["camera"])
    captions = vdc_captions(data, tmp_path / "captions.jsonl")
    with LoopbackLLMServer(responder()) as server:
        result = evaluate_vdc(
            {
                "preset": "lmms_gpt",
                "qa_dir": str(qa_dir),
                "dimensions": ["camera"],
                "captions": {"path": str(tmp_path / "captions.jsonl")},
                "judge": judge_settings(server.spec("gpt-4o-mini")),
                "out": str(tmp_path / "run"),
                "report": {"bootstrap_samples": 0, "plots": False},
            }
        )
        verdict_requests = [r.text_of("user") for r in server.requests if "Predicted Answer:" in r.text_of("user")]
    acc, score = official_vdc(data, captions, "lmms_gpt")["camera"]
    camera = result.report["results"]["dimensions"]["camera"]
    assert (camera["acc"], camera["score"]) == pytest.approx((acc, score), abs=1e-9)
    questions = [q for r in read_items(tmp_path / "run") for q in r["questions"]]
    untrimmed = [q for q in questions if q["answer_call"]["raw"] != q["answer_call"]["raw"].strip()]
    assert untrimmed and verdict_requests
    for question in untrimmed:
        stripped = question["answer_call"]["raw"].strip()
        assert any(f"Predicted Answer: {stripped}\n\nProvide" in text for text in verdict_requests)
    indented = [q for q in questions if q["verdict_call"]["raw"].startswith("\n ")]
    assert indented and all(q["verdict"]["status"] == "ok" for q in indented)
    assert result.report["protocol"]["raw_answer_in_verdict"] is False
    assert "protocol.raw_answer_in_verdict" not in result.report["deviations_from_preset"]
    as_aurora = reaggregate(tmp_path / "run", "auroracap", out=tmp_path / "aurora").report
    assert as_aurora["results"]["dimensions"]["camera"]["verdicts"]["unparsable"] == len(indented)


def test_dream1k_under_tarsier_sends_no_sampling_fields_unless_set(samples_dir, tmp_path):
    """Tarsier's scorer sends no temperature, top_p or max_tokens: the service's defaults apply. owlcap sends none
    either, says so in run.json, and sends (and reports as a deviation) what the user sets."""
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = load_dream(annotations).items[:3]
    dream_captions(items, tmp_path / "captions.jsonl")
    base = {
        "annotations": str(annotations),
        "limit": 3,
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    with LoopbackLLMServer(responder()) as server:
        judge = judge_settings(server.spec("gpt-3.5-turbo-0125"), cache=False)
        evaluate_dream1k(base | {"judge": judge, "out": str(tmp_path / "default")})
        judged = [r.body for r in server.requests if "Reply with OK." not in r.text_of("user")]
        server.requests.clear()
        chosen = judge | {"temperature": 0.0, "max_tokens": 512}
        evaluate_dream1k(base | {"judge": chosen, "out": str(tmp_path / "chosen")})
        judged_chosen = [r.body for r in server.requests if "Reply with OK." not in r.text_of("user")]
    assert len(judged) == 9 and not any({"temperature", "top_p", "max_tokens"} & set(body) for body in judged)
    run = json.loads((tmp_path / "default" / "run.json").read_text())
    assert run["judge"]["sent"] == {}
    assert not {"judge.temperature", "judge.top_p", "judge.max_tokens"} & set(run["judge_deviations"])
    assert "no sampling fields sent" in (tmp_path / "default" / "report.md").read_text()
    assert all((body["temperature"], body["max_tokens"]) == (0.0, 512) for body in judged_chosen)
    assert "top_p" not in judged_chosen[0]
    chosen_run = json.loads((tmp_path / "chosen" / "run.json").read_text())
    assert chosen_run["judge"]["sent"] == {"temperature": 0.0, "max_tokens": 512}
    assert chosen_run["judge_deviations"]["judge.temperature"] == {"value": 0.0, "preset": None}


def test_resume_rejudges_only_changed_and_failed_items_and_refuses_another_judge(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = load_dream(annotations).items[:12]
    captions = dream_captions(items, tmp_path / "captions.jsonl")
    config = {
        "annotations": str(annotations),
        "limit": 12,
        "captions": {"path": str(tmp_path / "captions.jsonl")},
        "judge": judge_settings(judge.spec(), parse_attempts=2, cache=False),
        "out": str(tmp_path / "run"),
        "report": {"bootstrap_samples": 0, "plots": False},
    }
    first = evaluate_dream1k(config)
    failed = first.report["counts"]["failed"]
    assert failed >= 1
    changed = next(i for i in items if "[garbage]" not in captions[i.id] and captions[i.id])
    captions[changed.id] = "A woman sits down. She reads a book."
    (tmp_path / "captions.jsonl").write_text(
        "".join(json.dumps({"id": k, "caption": v}) + "\n" for k, v in captions.items())
    )
    second = evaluate_dream1k(config)
    last = second.report["last_run"]
    assert (last["judged_items"], last["reused_items"]) == (failed + 1, 12 - failed - 1)
    assert len(read_jsonl(tmp_path / "run" / "items.jsonl")) == 12  # compacted: one record per item
    other = {**config, "judge": {**config["judge"], "model": judge.spec("another-judge")}}
    with pytest.raises(ConfigError, match="holds a run made with other settings .*judge.model"):
        evaluate_dream1k(other)
    overwritten = evaluate_dream1k({**other, "overwrite": True})
    assert overwritten.report["last_run"]["reused_items"] == 0
    assert list((tmp_path / "run").glob("items.*.jsonl.bak"))


def test_judge_repeats_sample_again_and_report_the_spread(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = load_dream(annotations).items[:6]
    dream_captions(items, tmp_path / "captions.jsonl")
    result = evaluate_dream1k(
        {
            "annotations": str(annotations),
            "limit": 6,
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "judge": judge_settings(judge.spec(), repeats=3),
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    spread = result.report["repeats"]["spread"]["overall.f1"]
    assert len(spread["values"]) == 3 and spread["std"] == 0.0  # the scripted judge answers the same each time
    assert result.report["last_run"]["cost"]["cache_hits"] == 0  # every repeat asked the judge afresh
    assert {r["repeat"] for r in read_items(tmp_path / "run")} == {0, 1, 2}
    assert "Judge noise over 3 repeats" in (tmp_path / "run" / "report.md").read_text()


def test_empty_event_lists_can_be_scored_without_a_call(judge_process, samples_dir, tmp_path):
    judge = judge_process()
    annotations = samples_dir / "dream1k" / "DREAM-1k.sample.jsonl"
    items = [i for i in load_dream(annotations).items if i.id == "804"]
    (tmp_path / "captions.jsonl").write_text(json.dumps({"id": "804", "caption": ""}) + "\n")
    result = evaluate_dream1k(
        {
            "annotations": str(annotations),
            "captions": {"path": str(tmp_path / "captions.jsonl")},
            "protocol": {"judge_empty_event_lists": False},
            "judge": judge_settings(judge.spec()),
            "out": str(tmp_path / "run"),
            "report": {"bootstrap_samples": 0, "plots": False},
        }
    )
    record = next(r for r in read_items(tmp_path / "run") if r["id"] == items[0].id)
    assert record["recall"]["attempts"] == 0 and record["precision"]["attempts"] == 0  # no GT events, no predicted ones
    assert record["scores"] == {"recall": 1.0, "precision": 1.0}
    assert result.report["last_run"]["cost"]["requests"] == 1  # the extraction only
    assert result.report["deviations_from_preset"]["protocol.judge_empty_event_lists"]["value"] is False
