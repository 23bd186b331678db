"""DREAM-1K parsing and aggregation against hand-computed values, per switch (EVAL_PARITY.md §2.4-2.10)."""

import math

import pytest

from owlcap.eval.dream1k.config import scoring_for
from owlcap.eval.dream1k.prompts import clean_entailment, entailment_parser, parse_events
from owlcap.eval.dream1k.scoring import aggregate, buckets, score_item

E, N, C = "entailment", "neutral", "contradiction"


def judged(labels):
    return {"value": [{"event": f"e{i}", "relationship": label} for i, label in enumerate(labels)], "error": None}


def sample(sid, dataset, gt, recall, pred, precision, *, counts=None, failed=None):
    record = {
        "id": sid,
        "dataset": dataset,
        "status": "judged",
        "events_gt": [f"g{i}" for i in range(gt)],
        "counts": counts or {"n_events": gt, "n_shots": 1, "n_subjects": 1},
        "extraction": {"value": {"events": [f"p{i}" for i in range(pred)], "repr": ""}, "error": None},
        "recall": judged(recall),
        "precision": judged(precision),
    }
    if failed:
        record["status"] = "failed"
        record[failed] = {"value": None, "error": "invalid answer after 10 attempt(s)"}
    return record


RECORDS = [
    sample("1", "DREAM/a", 4, [E, N, E, C], 2, [E, N]),  # R 1/2, P 1/2 (1 with neutral)
    sample("2", "DREAM/a", 2, [E, E], 0, [C]),  # R 1, P 1.0 for an empty prediction (the label is ignored)
    sample("3", "DREAM/a", 2, [E, E], 1, [E], failed="extraction"),  # failed: excluded
    sample("4", "DREAM/b", 0, [C], 3, [C, N, N]),  # R 1.0 for no GT events, P 0 (2/3 with neutral)
    sample("5", "DREAM/c", 1, [E], 1, [E], failed="precision"),  # the only one of its category: c is absent
    sample("6", "DREAM/b", 1, [N], 1, [E]),  # R 0, P 1
    sample("7", "DREAM/a", 2, [E, C], 2, [E, E]),  # R 1/2, P 1
]


def f1(r, p):
    return 2 * r * p / (r + p)


def test_official_rules_match_the_hand_computed_table():
    results = aggregate(RECORDS, scoring_for("tarsier"))
    a, b = results["categories"]["DREAM/a"], results["categories"]["DREAM/b"]
    assert list(results["categories"]) == ["DREAM/a", "DREAM/b"]  # c: every sample failed
    assert (a["recall"], a["precision"]) == pytest.approx((2 / 3, 5 / 6), abs=1e-12)
    assert a["f1"] == pytest.approx(20 / 27, abs=1e-12) and (a["success"], a["failed"]) == (3, 1)
    assert (b["recall"], b["precision"], b["f1"]) == pytest.approx((0.5, 0.5, 0.5), abs=1e-12)
    overall = results["overall"]
    assert (overall["recall"], overall["precision"]) == pytest.approx((7 / 12, 2 / 3), abs=1e-12)
    assert overall["f1"] == pytest.approx(28 / 45, abs=1e-12)
    assert (overall["success"], overall["failed"]) == (5, 2)
    assert overall["micro"]["f1"] == pytest.approx(f1(3 / 5, 3.5 / 5), abs=1e-12)


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"precision_counts_neutral": True}, {"DREAM/a": 0.8, "DREAM/b": 5 / 8}),
        ({"empty_events_score": 0.0}, {"DREAM/a": f1(2 / 3, 0.5), "DREAM/b": 0.0}),  # b: R 0, P 1/2
        ({"f1_mode": "mean_of_f1"}, {"DREAM/a": (0.5 + 1 + 2 / 3) / 3, "DREAM/b": 0.0, "OVERALL": 13 / 36}),
        ({"overall_mode": "micro"}, {"OVERALL": f1(3 / 5, 3.5 / 5)}),
        ({"failed_samples": "zero"}, {"DREAM/a": f1(0.5, 0.625), "DREAM/c": math.nan}),
        ({"failed_samples": "zero", "f1_zero_division": 0.0}, {"DREAM/c": 0.0}),
    ],
)
def test_each_switch(overrides, check):
    results = aggregate(RECORDS, scoring_for("tarsier", overrides))
    for name, expected in check.items():
        got = results["overall" if name == "OVERALL" else "categories"]
        got = got["f1"] if name == "OVERALL" else got[name]["f1"]
        if math.isnan(expected):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(expected, abs=1e-12), name


def test_buckets_pool_successes_first_match_wins_and_empty_buckets_are_nan():
    records = [
        sample("1", "DREAM/a", 4, [E, E, N, N], 1, [E], counts={"n_events": 4, "n_shots": 1, "n_subjects": 2}),
        sample("2", "DREAM/b", 2, [E, N], 1, [N], counts={"n_events": 4.5, "n_shots": 1.0, "n_subjects": 5}),
        sample("3", "DREAM/b", 2, [E, N], 1, [N], counts={"n_events": 2, "n_shots": 3, "n_subjects": 0}),
    ]
    scoring = scoring_for("tarsier")
    tables = buckets([score_item(r, scoring) for r in records], scoring)
    assert {k: v["count"] for k, v in tables["events"].items()} == {"<=3": 1, "in [4, 5]": 1, "in [6, 7]": 0, ">=8": 0}
    assert {k: v["count"] for k, v in tables["shots"].items()} == {"<=1": 2, "==2": 0, "==3": 1, ">=4": 0}
    assert {k: v["count"] for k, v in tables["subjects"].items()} == {"<=1": 1, "==2": 1, "==3": 0, ">=4": 1}
    assert tables["events"]["in [4, 5]"]["recall"] == 0.5 and tables["events"]["in [4, 5]"]["precision"] == 1.0
    assert math.isnan(tables["events"][">=8"]["f1"]) and math.isnan(tables["events"][">=8"]["recall"])


def test_intervals_within_categories():
    many = [
        sample(str(i), f"DREAM/{'ab'[i % 2]}", 2, [E, N if i % 3 else E], 2, [E, C if i % 4 else E]) for i in range(40)
    ]
    results = aggregate(many, scoring_for("tarsier"), bootstrap_samples=200, seed=3)
    low, high = results["overall"]["ci"]["f1"]
    assert low < results["overall"]["f1"] < high
    assert results["categories"]["DREAM/a"]["ci"]["recall"][0] <= results["categories"]["DREAM/a"]["recall"]


@pytest.mark.parametrize(
    ("raw", "events"),
    [
        ("{'events': ['A man runs.', 'He jumps.']}", ["A man runs.", "He jumps."]),
        ('```python\n{"events": ["a"]}\n```', ["a"]),
        ('```json\n{"events": []}\n```', []),
        ("{'events': ['a', 1]}", ["a", 1]),  # only the first item is type-checked, as officially
    ],
)
def test_parse_events_accepts(raw, events):
    assert parse_events(raw)["events"] == events
    assert parse_events(raw)["repr"] == str(events)


@pytest.mark.parametrize(
    "raw",
    [" ```json\n{'events': []}```", "{'events': [1, 'a']}", "{'evts': []}", "Events: {'events': []}", "['a']", ""],
)
def test_parse_events_rejects(raw):
    with pytest.raises(ValueError):
        parse_events(raw)


def test_entailment_clean_up_follows_the_official_chain():
    row = '{"event": "x", "relationship": " Entailment ", "reason": True}'
    fenced = f'```json\n{{"events": [\n  {row},\n]}}\n```'
    assert clean_entailment(fenced) == '{"events": [ {"event": "x", "relationship": " Entailment ", "reason": true}]}'
    parse = entailment_parser(2)
    assert [e["relationship"] for e in parse(f'"events": [{row} {row.replace("Entailment", "neutral")}]')] == [E, N]
    assert parse_events("{'events': []}")["events"] == []
    with pytest.raises(ValueError, match="1 event"):
        parse(f'{{"events": [{row}]}}')
    with pytest.raises(ValueError, match="invalid relationship"):
        entailment_parser(1)('{"events": [{"event": "x", "relationship": "support"}]}')
    assert len(entailment_parser(0)(f'{{"events": [{row}]}}')) == 1  # an empty list needs one (ignored) item
    placeholder = entailment_parser(1)('{"events": [{"event": [Placeholder], "relationship": "neutral"}]}')
    assert placeholder == [{"event": None, "relationship": N, "reason": None}]


def test_failed_and_uncaptioned_samples():
    scoring = scoring_for("tarsier")
    assert score_item(RECORDS[2], scoring).status == "failed"
    assert score_item({"id": "9", "dataset": "DREAM/a", "status": "no_caption"}, scoring).recall is None
    zero = score_item(RECORDS[2], scoring_for("tarsier", {"failed_samples": "zero"}))
    assert (zero.status, zero.recall, zero.precision) == ("failed", 0.0, 0.0)
