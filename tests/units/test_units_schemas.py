import pytest
from pydantic import ValidationError

from owlcap.units import PairJudgement, UnitList, VerdictList, judge_pair_task, verify_text_task


def test_verdicts_are_normalised():
    assert VerdictList(verdicts=["Yes", " NO. ", True, False]).verdicts == ["yes", "no", "yes", "no"]
    with pytest.raises(ValidationError):
        VerdictList(verdicts=["maybe"])


def test_unit_lists_drop_blank_units_and_squash_spaces():
    assert UnitList(units=["  A  dog runs. ", "", "   "]).units == ["A dog runs."]


def test_schemas_are_plain_json_schema_for_servers():
    schema = VerdictList.model_json_schema()
    assert schema["properties"]["verdicts"]["items"]["enum"] == ["yes", "no"]
    assert set(PairJudgement.model_json_schema()["required"]) == {"pred_units", "pred_supported", "ref_covered"}


def test_verify_check_rejects_a_wrong_count():
    task = verify_text_task(["a b c", "d e f"], "text")
    task.check(VerdictList(verdicts=["yes", "no"]))
    with pytest.raises(ValueError, match="exactly 2 verdicts"):
        task.check(VerdictList(verdicts=["yes"]))


def test_pair_check_rejects_misaligned_lists():
    task = judge_pair_task("pred", "ref", ["r1", "r2"])
    task.check(PairJudgement(pred_units=["p1"], pred_supported=["yes"], ref_covered=["yes", "no"]))
    with pytest.raises(ValueError, match="pred_supported"):
        task.check(PairJudgement(pred_units=["p1", "p2"], pred_supported=["yes"], ref_covered=["yes", "no"]))
    with pytest.raises(ValueError, match="exactly 2"):
        task.check(PairJudgement(pred_units=["p1"], pred_supported=["yes"], ref_covered=["yes"]))
    with pytest.raises(ValueError, match="empty unit"):
        task.check(PairJudgement(pred_units=[""], pred_supported=["yes"], ref_covered=["yes", "no"]))
