"""The report folder: every file is there, and the HTML page shows every stage with its plots in a real browser."""

from __future__ import annotations

import json
import re

import pytest
from run_helpers import chromium_dom

pytestmark = pytest.mark.slow

PLOTS = {"data_verdicts.png", "sft_loss.png", "grpo_rewards.png", "weight_change.png", "eval.png", "vdc.png"}
PLOTS |= {"dream1k.png", "carebench.png", "capability.png"}
SECTIONS = ("overview", "stage-data", "stage-sft", "stage-grpo", "stage-caption", "stage-eval", "eval-vdc")
SECTIONS += ("eval-dream1k", "eval-carebench", "eval-capability")


def test_the_report_folder_holds_markdown_json_plots_and_one_page(finished_run):
    report = finished_run / "report"
    names = {path.name for path in report.iterdir()}
    assert {"report.md", "report.json", "index.html"} | PLOTS <= names
    for png in report.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (report / "report.md").read_text()
    for title in ("## Stages", "## Data (HMD build", "## SFT", "## GRPO", "## Captions", "## Evaluation", "## VDC"):
        assert title in markdown
    assert "## DREAM-1K" in markdown and "## CaReBench" in markdown and "## CAPability" in markdown
    data = json.loads((report / "report.json").read_text())
    assert set(data["stages"]) == {"data", "sft", "grpo", "caption", "eval"}
    assert set(data["captions"]) == {"blackboard_20350807", "programs_2", "hummingbird_3"}
    assert set(data["data"]) == {"train", "preview"}
    assert set(data["eval"]) == {"cser", "vdc", "dream1k", "carebench", "capability"}


def test_the_html_page_shows_every_stage_in_chromium(finished_run, tmp_path):
    page = finished_run / "report" / "index.html"
    assert 'src="data:image/png;base64,' in page.read_text()  # self-contained: no file next to it is needed
    moved = tmp_path / "alone.html"  # opened away from the report folder, as a mailed page would be
    moved.write_bytes(page.read_bytes())
    dom = chromium_dom(moved, tmp_path)
    for section in SECTIONS:
        assert f'id="{section}"' in dom
    images = re.search(r'data-images="(\d+)"', dom)
    shown = re.search(r'data-images-shown="(\d+)"', dom)
    assert images and shown, "the page's load script did not run"
    assert int(images.group(1)) == int(shown.group(1)) == len(PLOTS)  # every plot decoded
    assert "Training loss" in dom and "reward_std &gt; 0 on" in dom
    data = dom[dom.index('id="stage-data"') : dom.index('id="stage-sft"')]
    assert "kept at 0.9" in data and "motion caption" in data and "p=0.4" in data  # verdicts with p(yes) shown
    vdc = dom[dom.index('id="eval-vdc"') : dom.index('id="eval-dream1k"')]
    assert "average acc/score" in vdc and "stand-in videos" in vdc and "judge: rules" in vdc
    dream = dom[dom.index('id="eval-dream1k"') : dom.index('id="eval-carebench"')]
    assert "overall f1/recall/precision" in dream and "reference captions judged as predictions" in dream
    care = dom[dom.index('id="eval-carebench"') : dom.index('id="eval-capability"')]
    assert "events f1/recall/precision" in care and "captions by the grpo model" in care
    assert "no hit" in dom[dom.index('id="eval-capability"') :]  # no number, and the notes say why
