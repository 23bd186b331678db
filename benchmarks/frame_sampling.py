"""Seek-based vs decode-all frame sampling: 16 frames from a 3-minute 720p H.264 video.

    python benchmarks/frame_sampling.py                 # GOP 250 (x264's default keyint), no scene-cut keyframes
    python benchmarks/frame_sampling.py --gop 60        # a 2-second GOP at 30 fps, as many web videos use

The video is generated once with PyAV/libx264 (preset veryfast, crf 23, B-frames; a scrolling gradient, drifting
grain and a moving block, about 4 Mbit/s) and cached under ``$OWLCAP_CACHE_DIR/benchmarks`` (about 90 MB;
generating takes one to two minutes on two cores). Each path samples ``nframes=16`` with owlcap's default sizes
(frames resized to 1008x560) through ``owlcap.video.sampling.sample_with_config``, so all include opening,
indexing, converting and resizing; they differ only in decoding:

- ``seek``: seek to each target's keyframe, decode forward, skipping non-reference frames (the default path);
- ``seek-all``: the same without skipping non-reference frames (shows what the skipping adds);
- ``decode-all``: the reference, every frame decoded in order.

The frames of all paths are checked bitwise equal. Times are the median of ``--repeats`` runs after one warm-up,
wall clock (the headline ``ratio``) and CPU time of this process (``cpu_ratio``, steadier on a shared machine).
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def generate(path: Path, *, seconds: int, fps: int, width: int, height: int, gop: int) -> None:
    """Encode a synthetic clip: a gradient scrolling sideways, grain drifting downwards and a moving block, so
    every frame differs, motion prediction works partly (as on real footage), B-frames pay off and the bitrate is
    a realistic ~4 Mbit/s. Written to a temporary name, then renamed, so an interrupted run leaves no cache."""
    import av

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:height, 0:width]
    gradient = ((cols[..., None] * np.array([1, 0, 2]) + rows[..., None] * np.array([0, 2, 1])) // 4).astype(np.uint8)
    grain = rng.integers(0, 8, (height, width, 3), dtype=np.uint8)
    partial = path.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"preset": "veryfast", "crf": "23", "x264-params": f"keyint={gop}:scenecut=0"}
        for number in range(seconds * fps):
            image = np.roll(gradient, 4 * number, axis=1) + np.roll(grain, 3 * number, axis=0)
            top = (7 * number) % (height - 100)
            image[top : top + 100, 100:200] = (255, number % 255, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(partial, path)


def cached_video(cache_dir: Path, *, seconds: int, fps: int, width: int, height: int, gop: int) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"synthetic_{seconds}s_{width}x{height}_{fps}fps_gop{gop}.mp4"
    if not path.exists():
        print(f"generating {path} (once) ...", file=sys.stderr)
        started = time.perf_counter()
        generate(path, seconds=seconds, fps=fps, width=width, height=height, gop=gop)
        print(f"generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def time_path(video: Path, config, decoder: str, repeats: int):
    from owlcap.video.sampling import sample_with_config

    times, cpu_times, result = [], [], None
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = sample_with_config(video, config, _decoder=decoder)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    return statistics.median(times), times, statistics.median(cpu_times), result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gop", type=int, default=250, help="Keyframe interval in frames (default 250).")
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--nframes", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thread-type", default=None, help="Decoder threading for both paths (default: owlcap's).")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Where the video is cached.")
    args = parser.parse_args(argv)

    from owlcap import envs
    from owlcap.video import SamplingConfig, probe
    from owlcap.video import container as video_container

    if args.thread_type:
        video_container.THREAD_TYPE = args.thread_type
    cache_dir = args.cache_dir or envs.cache_dir() / "benchmarks"
    video = cached_video(cache_dir, seconds=args.seconds, fps=30, width=1280, height=720, gop=args.gop)
    info = probe(video, exact=True)
    config = SamplingConfig(nframes=args.nframes)
    time_path(video, config, "seek", 1)  # warm-up: imports torch, fills the page cache

    results = {name: time_path(video, config, name, args.repeats) for name in ("seek", "seek-all", "decode-all")}
    reference = results["decode-all"][3]
    for name in ("seek", "seek-all"):
        if not np.array_equal(results[name][3].frames, reference.frames):
            raise SystemExit(f"{name} frames differ from decode-all")

    print(f"{info.num_frames} frames, {info.width}x{info.height} {info.codec}, GOP {args.gop}, {args.nframes} frames")
    print(f"{'path':<12}{'median s':>10}{'cpu s':>8}  wall-clock runs")
    for name, (median, times, cpu, _) in results.items():
        print(f"{name:<12}{median:>10.3f}{cpu:>8.3f}  {' '.join(f'{t:.3f}' for t in times)}")
    summary = {
        "ratio": round(results["decode-all"][0] / results["seek"][0], 2),
        "seek_s": round(results["seek"][0], 3),
        "seek_all_frames_s": round(results["seek-all"][0], 3),
        "decode_all_s": round(results["decode-all"][0], 3),
        "ratio_without_nonref_skip": round(results["decode-all"][0] / results["seek-all"][0], 2),
        "cpu_ratio": round(results["decode-all"][2] / results["seek"][2], 2),
        "frames": args.nframes,
        "identical": True,
        "video": f"{args.seconds}s {info.width}x{info.height} h264 30fps gop{args.gop}",
        "thread_type": video_container.THREAD_TYPE,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
