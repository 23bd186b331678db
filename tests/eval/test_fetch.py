"""``owlcap eval fetch``: the real ``huggingface_hub`` client against a loopback stand-in of the Hub (no mocks), serving
small repositories laid out as the official ones: a few question / annotation lines and a tiny video archive."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from helpers.hub_server import COMMIT, LoopbackHub

import owlcap
from owlcap.errors import ConfigError, DownloadError
from owlcap.eval import fetch as engine
from owlcap.eval.dream1k import fetch as dream_fetch
from owlcap.eval.dream1k.data import load as load_dream
from owlcap.eval.vdc import fetch as vdc_fetch
from owlcap.eval.vdc.data import DIMENSIONS
from owlcap.eval.vdc.data import load as load_vdc

SRC = Path(owlcap.__file__).resolve().parents[1]
VDC_REPO, DREAM_REPO = vdc_fetch.SPEC.repo_id, dream_fetch.SPEC.repo_id


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as bundle:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def video_bytes(samples_dir) -> bytes:
    return (samples_dir / "hmd" / "videos" / "blackboard_20350807.mp4").read_bytes()  # the smallest sample, 1.3 MB


@pytest.fixture(scope="module")
def vdc_repo(samples_dir, video_bytes) -> dict[str, bytes]:
    """The VDC repository's layout: the first 2 videos' questions of each dimension, without the 'category' field
    (as the hub's files are), and the videos split over the three archives (one in the first, one in the second)."""
    files, ids = {}, []
    for name in DIMENSIONS:
        lines = (samples_dir / "vdc" / f"{name}.sample.jsonl").read_text(encoding="utf-8").splitlines()[:2]
        records = [json.loads(line) for line in lines]
        stripped = [
            {k: [{"question": q["question"], "answer": q["answer"]} for q in v]} for r in records for k, v in r.items()
        ]
        files[f"VDCScore_qa/{name}.jsonl"] = "".join(json.dumps(r) + "\n" for r in stripped).encode()
        ids = ids or [next(iter(r)) for r in records]
    files["videos/videos_1.tar.gz"] = _tar({f"videos/{ids[0]}.mp4": video_bytes, "videos/._junk.mp4": b"x"})
    files["videos/videos_2.tar.gz"] = _tar({f"{ids[1]}.mp4": b"tiny video"})
    files["videos/videos_3.tar.gz"] = _tar({"notes.txt": b"no video here"})
    return files


@pytest.fixture(scope="module")
def dream_repo(samples_dir, video_bytes) -> dict[str, bytes]:
    """DREAM-1K's layout: the annotation table (json/metadata.json) of 3 sample records and video/video.zip."""
    rows = []
    for line in (samples_dir / "dream1k" / "DREAM-1k.sample.jsonl").read_text(encoding="utf-8").splitlines()[:3]:
        record = json.loads(line)
        extra = record["extra_info"]
        reference = "".join(c["reference"] for c in record["messages"][1]["content"] if c.get("reference"))
        rows.append(
            {"idx": record["idx"], "video_file": f"video/{record['idx']}.mp4", "source": record["dataset"],
             "duration": extra["duration"], "description": reference, "events": extra["events"],
             "n_subjects": extra["n_subjects"], "n_shots": extra["n_shots"], "n_events": extra["n_events"]}
        )  # fmt: skip
    videos = {row["video_file"]: video_bytes if i == 0 else b"tiny video" for i, row in enumerate(rows)}
    return {"json/metadata.json": json.dumps(rows).encode(), "video/video.zip": _zip(videos), "README.md": b"# x"}


@pytest.fixture
def hub_at(monkeypatch):
    """Start a loopback hub (pass ``endpoint=hub.url`` to the fetch) with huggingface_hub online in this process
    (the tests' conftest sets HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    started = []

    def start(repos, **options) -> LoopbackHub:
        hub = LoopbackHub(repos, **options).start()
        started.append(hub)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        return hub

    yield start
    for hub in started:
        hub.stop()


def _as_found(spec, folder_counts: dict[str, int]):
    """The spec with the stand-in's own counts as the official ones (the real ones are 1,027 and 1,000 videos)."""
    return dataclasses.replace(spec, expected=folder_counts)


def test_vdc_files_and_videos_land_where_the_evaluator_reads_them(hub_at, vdc_repo, tmp_path, samples_dir):
    hub = hub_at({VDC_REPO: vdc_repo})
    result = engine.fetch(vdc_fetch.SPEC, tmp_path, videos=True, endpoint=hub.url)
    folder = tmp_path / "vdc"
    assert result.commit == COMMIT and result.folder == folder
    for name in DIMENSIONS:
        assert (folder / f"{name}.jsonl").read_bytes() == vdc_repo[f"VDCScore_qa/{name}.jsonl"]
    data = load_vdc(folder)  # what `owlcap eval vdc --qa-dir DIR/vdc` reads
    assert len(data.video_ids()) == 2 and result.counts["videos"] == 2
    assert sorted(p.name for p in (folder / "videos").iterdir()) == sorted(f"{v}.mp4" for v in data.video_ids())
    assert result.videos_missing == []
    assert not list((folder / ".hub").rglob("*.tar.gz*")), "an extracted archive is deleted"
    # The real spec's official counts differ from the stand-in's, and every difference is named.
    assert "videos: 2 (official: 1027)" in result.differences
    assert "camera questions: " in " ".join(result.differences)
    manifest = json.loads((folder / "fetch.json").read_text())
    assert manifest["commit"] == COMMIT and set(manifest["archives"]) == set(vdc_fetch.SPEC.archives)

    requests = len(hub.requests)
    again = engine.fetch(_as_found(vdc_fetch.SPEC, result.counts), tmp_path, videos=True, endpoint=hub.url)
    assert len(hub.requests) == requests, "a finished fetch reads no network"
    assert again.downloaded == [] and again.differences == []


def test_dream1k_table_becomes_tarsiers_jsonl(hub_at, dream_repo, tmp_path, samples_dir):
    hub = hub_at({DREAM_REPO: dream_repo})
    result = engine.fetch(dream_fetch.SPEC, tmp_path, videos=True, endpoint=hub.url)
    annotations = tmp_path / "dream1k" / "DREAM-1k.jsonl"
    fetched = load_dream(annotations).items  # what `owlcap eval dream1k --annotations` reads
    official = load_dream(samples_dir / "dream1k" / "DREAM-1k.sample.jsonl").items[:3]
    assert [dataclasses.replace(i, line=0) for i in fetched] == [dataclasses.replace(i, line=0) for i in official]
    assert sorted(p.name for p in (tmp_path / "dream1k" / "videos").iterdir()) == [f"{i.id}.mp4" for i in official]
    assert result.counts["records"] == 3 and "records: 3 (official: 1000)" in result.differences


def test_dream1k_conversion_reproduces_tarsiers_file(benchmarks_dir, tmp_path):
    """From a table holding the official file's fields, the conversion writes Tarsier's lines byte for byte, but
    for the 26 lines where Tarsier's file also carries old_duration / old_video_file (no scorer reads them)."""
    official = (benchmarks_dir / "dream1k" / "DREAM-1k.jsonl").read_text(encoding="utf-8").splitlines()
    rows = []
    for line in official:
        record = json.loads(line)
        extra = record["extra_info"]
        reference = record["messages"][1]["content"][0]["reference"]
        row = {"idx": record["idx"], "source": record["dataset"], "description": reference}
        rows.append(row | {key: extra[key] for key in ("duration", "events", "n_subjects", "n_shots", "n_events")})
    (tmp_path / "metadata.json").write_text(json.dumps(rows))
    dream_fetch.to_tarsier_jsonl(tmp_path / "metadata.json", tmp_path / "out.jsonl")
    converted = (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    differing = [i for i, (a, b) in enumerate(zip(official, converted, strict=True)) if a != b]
    assert len(differing) == 26 and all("old_duration" in official[i] for i in differing)
    (tmp_path / "DREAM-1k.jsonl").write_text("\n".join(converted) + "\n")
    assert dream_fetch.counts(tmp_path) == dream_fetch.SPEC.expected


def test_an_interrupted_download_resumes_where_it_stopped(vdc_repo, video_bytes, tmp_path):
    """Killed halfway through the first archive, the fetch leaves no video and no half file under a final name; the
    same command then asks the hub only for the rest (a Range request) and finishes. (huggingface_hub writes in
    blocks of up to 10 MiB, so the archive is 24 MB: an uncompressed tar, read as a .tar.gz is.)"""
    video_id = next(iter(json.loads(vdc_repo["VDCScore_qa/camera.jsonl"].splitlines()[0])))
    big = _tar({f"{video_id}.mp4": video_bytes, "padding.bin": os.urandom(23_000_000)}, mode="w")
    with LoopbackHub({VDC_REPO: vdc_repo | {"videos/videos_1.tar.gz": big}}, bytes_per_s=8_000_000) as hub:
        env = os.environ | {"PYTHONPATH": str(SRC), "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}
        command = [sys.executable, "-m", "owlcap.cli.main", "eval", "fetch", "vdc", "--out", str(tmp_path), "--videos"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        hub_dir = tmp_path / "vdc" / ".hub"
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 0 for p in hub_dir.rglob("*.part")):
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stderr.read() if process.poll() else ""
            )
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert not (tmp_path / "vdc" / "videos").exists() or not any((tmp_path / "vdc" / "videos").iterdir())
        assert "videos/videos_1.tar.gz" not in json.loads((tmp_path / "vdc" / "fetch.json").read_text())["archives"]

        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stderr  # finished; the stand-in's counts are not the official ones
        assert "differs from the official files: videos: 2 (official: 1027)" in done.stderr
        resumed = hub.ranged_gets("videos/videos_1.tar.gz")
        assert resumed and 0 < int(resumed[0].split("=")[1].rstrip("-")) < len(big)
        assert hub.gets("VDCScore_qa/camera.jsonl") == 1, "a finished file is not fetched again"
        assert (tmp_path / "vdc" / "videos" / f"{video_id}.mp4").read_bytes() == video_bytes


def test_another_revision_fetches_everything_again(hub_at, vdc_repo, tmp_path):
    hub = hub_at({VDC_REPO: vdc_repo})
    engine.fetch(vdc_fetch.SPEC, tmp_path, endpoint=hub.url)
    stale = tmp_path / "vdc" / ".hub" / "VDCScore_qa" / "camera.jsonl.part"
    stale.write_bytes(b"half of another commit's file")
    again = engine.fetch(vdc_fetch.SPEC, tmp_path, revision=COMMIT, endpoint=hub.url)
    assert again.downloaded == [f"{name}.jsonl" for name in DIMENSIONS] and not stale.exists()
    assert json.loads((tmp_path / "vdc" / "fetch.json").read_text())["revision"] == COMMIT
    assert hub.gets("VDCScore_qa/camera.jsonl") == 2


@pytest.mark.parametrize(
    ("repo", "revision", "message"),
    [
        ("nobody/nothing", None, "no dataset repository nobody/nothing at http://127.0.0.1:"),
        (VDC_REPO, "v9", "has no revision 'v9'"),
    ],
)
def test_unknown_repository_or_revision_is_one_line(hub_at, vdc_repo, tmp_path, repo, revision, message):
    hub = hub_at({VDC_REPO: vdc_repo})
    with pytest.raises(DownloadError, match=message):
        engine.fetch(dataclasses.replace(vdc_fetch.SPEC, repo_id=repo), tmp_path, revision=revision, endpoint=hub.url)


def test_a_changed_layout_names_the_missing_file(hub_at, vdc_repo, tmp_path):
    hub = hub_at({VDC_REPO: {k: v for k, v in vdc_repo.items() if not k.endswith("short.jsonl")}})
    with pytest.raises(DownloadError, match="has no file VDCScore_qa/short.jsonl at commit"):
        engine.fetch(vdc_fetch.SPEC, tmp_path, endpoint=hub.url)
    assert (tmp_path / "vdc" / "camera.jsonl").is_file(), "what was fetched before the failure is kept"


def test_no_network_and_a_full_disk_are_named_before_downloading(hub_at, vdc_repo, tmp_path, monkeypatch):
    from huggingface_hub import constants

    hub = hub_at({VDC_REPO: vdc_repo}, reported_sizes={"videos/videos_3.tar.gz": 10**15})
    with pytest.raises(DownloadError, match=r"not enough disk space .* needs 2000000\.0 GB"):
        engine.fetch(vdc_fetch.SPEC, tmp_path, videos=True, endpoint=hub.url)
    assert hub.gets("VDCScore_qa/camera.jsonl") == 0
    with pytest.raises(DownloadError, match=r"cannot reach http://127.0.0.1:9 .*check the network"):
        engine.fetch(vdc_fetch.SPEC, tmp_path / "other", endpoint="http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError, match="HF_HUB_OFFLINE is set"):
        engine.fetch(vdc_fetch.SPEC, tmp_path / "other", endpoint=hub.url)


def test_every_benchmark_with_a_spec_is_fetchable():
    assert {"vdc", "dream1k"} <= set(engine.benchmarks())
    for name in engine.benchmarks():
        spec = engine.spec_for(name)
        assert spec.benchmark == name and spec.files and spec.expected and "{folder}" in spec.usage


def test_a_benchmark_without_a_spec_is_refused_saying_where_its_files_are():
    assert "capability" not in engine.benchmarks()  # its hub copy is gated; its annotations live on GitHub
    with pytest.raises(ConfigError, match=r"no fetch for benchmark 'capability' \(its annotations are in https://gi"):
        engine.spec_for("capability")
    with pytest.raises(ConfigError, match=r"no fetch for benchmark 'nope': choose from "):
        engine.spec_for("nope")
