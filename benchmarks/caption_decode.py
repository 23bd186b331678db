"""VDC's captioning stage: each video decoded once for its five dimensions, vs once per dimension (the old path).

    OMP_NUM_THREADS=1 python benchmarks/caption_decode.py                  # loopback captioner, 3 repeats
    python benchmarks/caption_decode.py --model openai:Qwen/Qwen2.5-VL-7B-Instruct@http://127.0.0.1:8000/v1

VDC asks every video five captions, one per dimension, each with its own prompt. The caption step of
``evaluate_vdc`` (``owlcap.eval.vdc.captions.caption``) runs on the sample VDC annotations with the three sample
videos standing in for three benchmark videos (15 captions), with the frame sampling of
``configs/eval/vdc_auroracap.yaml`` (2 fps within 2,809,856 pixels, as OwlCap was trained). The captioner is a
loopback OpenAI-compatible server in this process that answers at once (``--model`` names a real one instead), so
the wall time is owlcap's own work: decoding, resizing, encoding the frames into the requests.

- ``after``: the caption runner groups the items by clip (video file and trims) and decodes each clip once;
- ``before``: the old per-prompt path, reproduced here by giving every item its own clip key
  (``owlcap.caption.runner._clip_key``), so every dimension decodes its video again.

Decodes are counted per video (``SamplingConfig.sample`` calls); the captions of both paths are checked equal and
the requests' frames identical. Wall and CPU time (this process: decoding, the requests and the loopback server) are
the medians of ``--repeats`` alternating runs; CPU time is the steadier on a shared machine. The last line printed
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback server and its scripted answers are test helpers

from helpers.llm_server import LoopbackLLMServer  # noqa: E402
from helpers.scripted_judges import responder  # noqa: E402

from owlcap import envs  # noqa: E402
from owlcap.caption import runner  # noqa: E402
from owlcap.config import load_yaml  # noqa: E402
from owlcap.eval.prompt_sets import load_prompt_set  # noqa: E402
from owlcap.eval.vdc import prompts as vdc_prompts  # noqa: E402
from owlcap.eval.vdc.captions import caption  # noqa: E402
from owlcap.eval.vdc.config import VDCEvalConfig  # noqa: E402
from owlcap.eval.vdc.data import load  # noqa: E402
from owlcap.video import SamplingConfig  # noqa: E402

VDC_CONFIG = ROOT / "configs" / "eval" / "vdc_auroracap.yaml"


@contextmanager
def counted_decodes():
    """Count the decodes per video file while the block runs."""
    counts: Counter = Counter()
    original = SamplingConfig.sample

    def counting(self, path, **kwargs):
        counts[Path(path).name] += 1
        return original(self, path, **kwargs)

    SamplingConfig.sample = counting
    try:
        yield counts
    finally:
        SamplingConfig.sample = original


@contextmanager
def per_prompt_decoding():
    """The old path: every item its own clip."""
    original = runner._clip_key
    runner._clip_key = lambda item: item.id
    try:
        yield
    finally:
        runner._clip_key = original


def caption_stage(model: str, manifest: Path, out: Path) -> tuple[tuple[float, float], Counter, dict[str, str]]:
    """The VDC caption step into ``out``: ((wall, CPU seconds of this process), decodes per video, captions by
    id)."""
    samples = envs.samples_dir()
    sampling = load_yaml(VDC_CONFIG)["captioning"]["sampling"]
    config = VDCEvalConfig.model_validate(
        {
            "qa_dir": str(samples / "vdc"),
            "limit": 3,
            "out": str(out),
            "captioning": {"videos": str(manifest), "model": model, "sampling": sampling, "concurrency": 16},
            "judge": {"model": "rules"},
        }
    )
    data = load(config.qa_dir, config.dimensions)
    prompts = load_prompt_set("official", benchmark="vdc", search_dirs=[], required=vdc_prompts.REQUIRED)
    with counted_decodes() as decodes:
        started, cpu = time.perf_counter(), time.process_time()
        captions = caption(config, data, prompts)
        seconds = (time.perf_counter() - started, time.process_time() - cpu)
    if captions.failed or len(captions.captions) != 15:
        raise SystemExit(f"the caption step did not caption all 15 items: {captions.failed}")
    return seconds, decodes, captions.captions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="captioner spec (default: a loopback server answering at once)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each path (median wall time)")
    args = parser.parse_args()
    samples = envs.samples_dir()
    videos = sorted((samples / "hmd" / "videos").glob("*.mp4"))
    ids = load(samples / "vdc").video_ids()[: len(videos)]
    times: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    decodes: dict[str, Counter] = {}
    captions: dict[str, dict[str, str]] = {}
    requests: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp, LoopbackLLMServer(responder()) as server:
        manifest = Path(tmp) / "videos.jsonl"
        rows = [json.dumps({"id": i, "video": str(v)}) for i, v in zip(ids, videos, strict=True)]
        manifest.write_text("\n".join(rows) + "\n")
        model = args.model or server.spec("qwen2.5-vl")
        for repeat in range(args.repeats):
            for path in ("before", "after") if repeat % 2 == 0 else ("after", "before"):
                server.requests.clear()
                out = Path(tmp) / f"{path}-{repeat}"
                with per_prompt_decoding() if path == "before" else _nothing():
                    seconds, counts, made = caption_stage(model, manifest, out)
                times[path].append(seconds)
                decodes[path], captions[path] = counts, made
                requests[path] = sorted(_frames(r.body) for r in server.requests if _frames(r.body))
    if captions["before"] != captions["after"]:
        raise SystemExit("the captions of the two paths differ")
    if not args.model and requests["before"] != requests["after"]:
        raise SystemExit("the frames sent by the two paths differ")
    figures = _figures(times, decodes, len(videos))
    for path in ("before", "after"):
        print(f"{path:>6}: {figures[f'decodes_per_video_{path}']:.1f} decodes per video, {figures[f'{path}_s']:.2f} s")
    print(
        f"speed-up of the caption stage: {figures['speedup']:.2f}x wall, {figures['cpu_ratio']:.2f}x CPU time; "
        "captions and frames identical"
    )
    print(json.dumps(figures))


@contextmanager
def _nothing():
    yield


def _frames(body: Any) -> str:
    """The images of a captioning request, as sent (the judge-less server check has none)."""
    parts = [p for m in (body or {}).get("messages", []) if isinstance(m.get("content"), list) for p in m["content"]]
    return json.dumps([p for p in parts if p.get("type") in ("image_url", "video_url")])


def _figures(times: dict[str, list[tuple[float, float]]], decodes: dict[str, Counter], videos: int) -> dict[str, Any]:
    wall = {path: statistics.median(t for t, _ in values) for path, values in times.items()}
    cpu = {path: statistics.median(c for _, c in values) for path, values in times.items()}
    return {
        "videos": videos,
        "captions": 5 * videos,
        "decodes_per_video_before": sum(decodes["before"].values()) / videos,
        "decodes_per_video_after": sum(decodes["after"].values()) / videos,
        "before_s": round(wall["before"], 3),
        "after_s": round(wall["after"], 3),
        "speedup": round(wall["before"] / wall["after"], 2),
        "before_cpu_s": round(cpu["before"], 3),
        "after_cpu_s": round(cpu["after"], 3),
        "cpu_ratio": round(cpu["before"] / cpu["after"], 2),
        "runs": {path: [round(t, 3) for t, _ in values] for path, values in times.items()},
    }


if __name__ == "__main__":
    main()
