"""The HTML viewer, rendered by headless Chromium: one card per record with its inlined frame strip, units coloured
by verdict, the reason, and working status filters (the page's script runs: ``#rejected`` hides the other cards)."""

from __future__ import annotations

import re

from helpers.browser import dump_dom
from helpers.buildkit import build_config, write_manifest
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer

from owlcap.data import BuildConfig, build


def test_viewer_shows_every_record_and_filters_by_status(clips, samples_dir, tmp_path):
    samples = samples_dir / "hmd" / "captions.jsonl"
    missing = write_manifest(tmp_path / "missing.jsonl", [{"id": "gone", "video": str(tmp_path / "gone.mp4")}])
    out = tmp_path / "out"
    with LoopbackLLMServer(hmd_responder(reject=("green", "sticky notes"))) as server:  # blackboard is rejected
        build(
            BuildConfig.model_validate(build_config(server, tmp_path, report={"plots": False})),
            [samples, *clips[:3], missing],
            out,
        )
    page = out / "report" / "index.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html and 'src="file:' not in html  # self-contained

    dom = dump_dom(page.as_uri(), tmp_path / "profile-all")
    cards = re.findall(r'<article class="card (\w+)( hidden)?" data-status="\1" data-id="([^"]+)"', dom)
    ids = {card[2] for card in cards}
    assert {"blackboard_20350807", "hummingbird_3", "programs_2", "clip00", "gone"} <= ids and len(cards) == 7
    assert not any(card[1] for card in cards)  # no filter: all shown
    statuses = {card[2]: card[0] for card in cards}
    assert statuses["gone"] == "failed" and {"kept", "rejected"} >= {s for i, s in statuses.items() if i != "gone"}
    assert len(re.findall(r'<img class="strip" alt="frames of [^"]+" src="data:image/jpeg;base64,', dom)) == 6
    assert "failed at decode (missing file)" in dom
    assert re.search(r'<li class="(yes|no)">', dom) and "motion caption" in dom and "fused caption" in dom
    for label in ("all (7)", "kept (", "rejected (", "failed (1)"):
        assert f">{label}" in dom
    assert re.search(r'id="shown">7<', dom)

    dom = dump_dom(page.as_uri() + "#rejected", tmp_path / "profile-rejected")
    shown = re.findall(r'<article class="card (\w+)" data-status', dom)
    hidden = re.findall(r'<article class="card (\w+) hidden" data-status', dom)
    assert "rejected" in shown and set(shown) == {"rejected"} and "failed" in hidden and len(shown) + len(hidden) == 7
    assert 'class="filter active" data-filter="rejected"' in dom
