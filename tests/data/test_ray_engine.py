"""The Ray engine on a local Ray instance gives the local engine's records (apart from timings), exactly once."""

from __future__ import annotations

import pytest
from helpers.buildkit import build_config
from test_kill import _comparable, _parsed

from owlcap.data import BuildConfig, build

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_and_local_engines_write_the_same_records(local_ray, hmd_server, clips, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    inputs = [*clips[:8], text]
    local = BuildConfig.model_validate(build_config(hmd_server, tmp_path / "local", report={"plots": False}))
    on_ray = local.model_copy(update={"engine": "ray"}, deep=True)
    on_ray.llm.cache_path = tmp_path / "ray" / "llm-cache.sqlite"  # a cold cache: the actors ask the server
    on_ray.ray.num_actors, on_ray.ray.actor_num_cpus = 2, 0.5

    local_summary = build(local, inputs, tmp_path / "local-out")
    ray_summary = build(on_ray, inputs, tmp_path / "ray-out")
    assert (ray_summary.built, ray_summary.failed) == (local_summary.built, local_summary.failed) == (9, 1)
    local_records, _ = _parsed(tmp_path / "local-out" / "records.jsonl")
    ray_records, torn = _parsed(tmp_path / "ray-out" / "records.jsonl")
    assert torn == [] and len(ray_records) == len({r["id"] for r in ray_records}) == 9
    assert {r["id"]: _comparable(r) for r in ray_records} == {r["id"]: _comparable(r) for r in local_records}
    assert all(r["stages"]["motion"]["source"] == "model" for r in ray_records if r["status"] != "failed")
    assert sum(entry.get("actors", 0) for entry in ray_summary.llm.values()) >= 2

    again = build(on_ray, inputs, tmp_path / "ray-out")
    assert (again.skipped, again.built) == (8, 1)  # the failed one is retried, the rest stay done
    records, _ = _parsed(tmp_path / "ray-out" / "records.jsonl")
    assert len(records) == 9
