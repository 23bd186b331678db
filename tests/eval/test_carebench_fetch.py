"""``owlcap eval fetch carebench`` against the loopback stand-in of the Hub: the annotation list lands unchanged where
``owlcap eval carebench`` reads it, the videos as ``videos/<stem>.mp4``."""

from __future__ import annotations

import json

from test_fetch import _zip, hub_at, video_bytes  # noqa: F401 - fixtures

from owlcap.eval import fetch as engine
from owlcap.eval.carebench import fetch as care_fetch
from owlcap.eval.carebench.data import load


def test_carebench_annotations_and_videos_land_where_the_evaluator_reads_them(
    hub_at,  # noqa: F811 - the fixture imported above
    video_bytes,  # noqa: F811
    samples_dir,
    tmp_path,
):
    records = json.loads((samples_dir / "carebench" / "metadata.sample.json").read_text())
    plain = [{k: v for k, v in r.items() if k not in ("events", "objects")} for r in records]  # the hub's columns
    archive = _zip({f"videos/{r['video']}": video_bytes if i == 0 else b"tiny" for i, r in enumerate(plain)}
                   | {"videos/metadata.json": b"[]"})  # fmt: skip
    repo = {"json/metadata.json": json.dumps(plain).encode(), "videos/videos.zip": archive}
    hub = hub_at({care_fetch.SPEC.repo_id: repo})
    result = engine.fetch(care_fetch.SPEC, tmp_path, videos=True, endpoint=hub.url)
    folder = tmp_path / "carebench"
    assert (folder / "metadata.json").read_bytes() == repo["json/metadata.json"]
    data = load(folder / "metadata.json")
    assert [item.id for item in data.items] == ["blackboard_20350807", "programs_2", "hummingbird_3"]
    assert sorted(p.name for p in (folder / "videos").iterdir()) == sorted(f"{i.id}.mp4" for i in data.items)
    assert result.videos_missing == [] and result.counts == {"records": 3, "videos": 3}
    assert "records: 3 (official: 1000)" in result.differences
