"""HMD build throughput (videos/min) against OpenAI-compatible servers with a fixed service time and N slots.

    OMP_NUM_THREADS=1 python benchmarks/data_throughput.py            # 1 s per answer, 16 slots per server

Each server is a loopback server (tests/helpers/llm_server.py) in a process of its own, so it does not share the
build's interpreter lock; it answers every request ``--delay`` seconds after a slot frees, with ``--slots`` slots,
like a vLLM replica at a fixed batch size. Its answers play all four models (motion, fusion, splitter, verifier),
so every video costs 4 requests (structured FGE). The ideal rate is what the slots allow:
``min(concurrency, slots x endpoints) / (4 x delay)`` videos per second; the ratio to it says how well the pipeline
keeps the servers busy (the goal: >= 0.8 at concurrency = slots). Concurrency here is the videos in flight and the
request limit of every stage. The LLM cache is off, so every request reaches a server.

CPU per video (decode + JPEG encoding of the frames sent, single thread, ``time.process_time``) is measured apart,
on the benchmark's clips and on the three real sample videos at the paper's sampling (2 fps, 3584*28*28 pixels),
and set against the server time per video (4 x delay). The last line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback server and the HMD responder are test helpers

from helpers.buildkit import make_clip  # noqa: E402

from owlcap import envs  # noqa: E402
from owlcap.data import BuildConfig, build  # noqa: E402
from owlcap.data.decoding import decode  # noqa: E402
from owlcap.video import SamplingConfig  # noqa: E402

REQUESTS_PER_VIDEO = 4
_SERVE = """
import sys, time
sys.path[:0] = [{tests!r}]
from helpers.hmd_responder import hmd_responder
from helpers.llm_server import LoopbackLLMServer
server = LoopbackLLMServer(hmd_responder(reject=("green",)), slots={slots}, delay_s={delay}).start()
print(server.base_url, flush=True)
sys.stdin.read()  # serve until the benchmark closes our stdin
"""


def start_server(slots: int, delay: float) -> tuple[subprocess.Popen, str]:
    code = _SERVE.format(tests=str(ROOT / "tests"), slots=slots, delay=delay)
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    return process, process.stdout.readline().strip()


def config_for(urls: list[str], concurrency: int, sampling: dict, cache_dir: Path) -> BuildConfig:
    joined = ",".join(urls)
    stages = ("motion", "fusion", "splitter", "verifier")
    return BuildConfig.model_validate(
        {
            "models": {stage: f"openai:{stage}@{joined}" for stage in stages},
            "sampling": sampling,
            "llm": {"cache": False, "cache_path": str(cache_dir / "unused.sqlite"), "request_timeout_s": 120},
            "concurrency": {stage: concurrency for stage in stages}
            | {"max_in_flight": concurrency, "decode_workers": 2},
            "report": {"plots": False, "viewer": False},
            "max_consecutive_failures": 0,
        }
    )


def timed_build(config: BuildConfig, clips: list[Path], work: Path, name: str) -> float:
    """Videos per minute of one build; every video must end kept or rejected."""
    summary = build(config, clips, work / name)
    if summary.failed or summary.built != len(clips):
        raise SystemExit(f"{name}: {summary.failed} failed of {summary.built}: {summary.failures[:2]}")
    return 60 * summary.built / summary.seconds


def cpu_per_video(paths: list[Path], sampling: SamplingConfig, repeats: int = 2) -> float:
    """Median process CPU seconds of decode + JPEG encoding per video (one thread)."""
    times = []
    for _ in range(repeats):
        for path in paths:
            start = time.process_time()
            decode(str(path), sampling, None, jpeg_quality=85)
            times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=1.0, help="Seconds a server takes per answer.")
    parser.add_argument("--slots", type=int, default=16, help="Requests a server answers in parallel.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 64], help="Videos in flight.")
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="Target length of each timed build at the ideal rate."
    )
    args = parser.parse_args()
    sampling = {"nframes": 8, "min_pixels": 3136, "max_pixels": 12544}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_s = lambda c, e: min(c, args.slots * e) / (REQUESTS_PER_VIDEO * args.delay)  # noqa: E731
        most = max(int(per_s(c, 2) * args.seconds) for c in [*args.concurrency, 2 * args.slots])
        clips = [make_clip(work / f"clip{i:03d}.mp4", seed=i, frames=48, size=(168, 112)) for i in range(max(most, 8))]
        servers = [start_server(args.slots, args.delay) for _ in range(2)]
        urls = [url for _, url in servers]
        try:
            timed_build(config_for(urls[:1], 4, sampling, work), clips[:4], work, "warm-up")
            rows = []
            for concurrency in args.concurrency:
                n = max(8, int(per_s(concurrency, 1) * args.seconds))
                rate = timed_build(
                    config_for(urls[:1], concurrency, sampling, work), clips[:n], work, f"c{concurrency}"
                )
                rows.append(("1 endpoint", concurrency, n, rate, 60 * per_s(concurrency, 1)))
            concurrency = 2 * args.slots
            for endpoints in (1, 2):
                n = max(8, int(per_s(concurrency, endpoints) * args.seconds))
                config = config_for(urls[:endpoints], concurrency, sampling, work)
                rate = timed_build(config, clips[:n], work, f"e{endpoints}")
                rows.append((f"{endpoints} endpoint(s)", concurrency, n, rate, 60 * per_s(concurrency, endpoints)))
        finally:
            for process, _ in servers:
                process.stdin.close()
                process.wait(10)
        samples = sorted((envs.samples_dir() / "hmd" / "videos").glob("*.mp4"))
        cpu_clip = cpu_per_video(clips[:8], SamplingConfig(**sampling))
        cpu_paper = cpu_per_video(samples, SamplingConfig.paper())

    print(f"{args.delay * 1000:.0f} ms per answer, {args.slots} slots per server, {REQUESTS_PER_VIDEO} requests/video")
    print(f"{'servers':<14}{'concurrency':>12}{'videos':>8}{'videos/min':>12}{'ideal':>10}{'ratio':>8}")
    for label, concurrency, n, rate, ideal in rows:
        print(f"{label:<14}{concurrency:>12}{n:>8}{rate:>12.1f}{ideal:>10.1f}{rate / ideal:>8.2f}")
    server_s = REQUESTS_PER_VIDEO * args.delay
    print(
        f"CPU per video (decode + JPEG): {cpu_clip * 1000:.1f} ms on the benchmark clips (8 frames), "
        f"{cpu_paper * 1000:.0f} ms on the sample videos at the paper's sampling; "
        f"server time per video {server_s:.2f} s"
    )
    at_slots = next((r for r in rows if r[0] == "1 endpoint" and r[1] == args.slots), None)
    one, two = rows[-2][3], rows[-1][3]
    headline = {
        "delay_s": args.delay,
        "slots": args.slots,
        "videos_per_min": {f"c{r[1]}": round(r[3], 1) for r in rows if r[0] == "1 endpoint"},
        "ratio_to_ideal": {f"c{r[1]}": round(r[3] / r[4], 3) for r in rows if r[0] == "1 endpoint"},
        "ratio_at_slots": round(at_slots[3] / at_slots[4], 3) if at_slots else None,
        "videos_per_min_1_endpoint": round(one, 1),
        "videos_per_min_2_endpoints": round(two, 1),
        "speedup_2_endpoints": round(two / one, 2),
        "ratio_2_endpoints": round(rows[-1][3] / rows[-1][4], 3),
        "cpu_s_per_video_clips": round(cpu_clip, 4),
        "cpu_s_per_video_paper_sampling": round(cpu_paper, 3),
        "server_s_per_video": server_s,
    }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
