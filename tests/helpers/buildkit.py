"""Helpers of the data-engine tests: small generated clips, manifests, and build configs pointing at a scripted
server (few small frames, fast retries, a private LLM cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from helpers.hmd_responder import specs_for

FAST_LLM = {"request_timeout_s": 5.0, "max_retries": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.05}
SMALL_FRAMES = {"nframes": 4, "min_pixels": 3136, "max_pixels": 12544}


def make_clip(path: Path, seed: int, frames: int = 12, size: tuple[int, int] = (84, 56)) -> Path:
    """A short H.264 clip whose frames depend on ``seed`` (so each clip's JPEG frames, and answers, differ). At
    84x56 it needs no resizing under ``SMALL_FRAMES`` (sides are multiples of 28), which keeps torch out of the way."""
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for number in range(frames):
            image = np.roll(base, 3 * number, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def build_config(server, tmp_path: Path, **overrides) -> dict:
    """A build config dict: every model on ``server``, 4 small frames, fast retries, a private cache."""
    config = {
        "models": specs_for(server) if server is not None else {},
        "sampling": dict(SMALL_FRAMES),
        "llm": {**FAST_LLM, "cache_path": str(tmp_path / "llm-cache.sqlite")},
        "concurrency": {"decode_workers": 2, "max_in_flight": 8},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config
