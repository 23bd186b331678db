"""Shared fixtures: the real sample videos and annotations, generated odd videos, tiny offline models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OWLCAP_DISABLE_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# The suite tests what Ctrl-C does. A shell without job control starts a background job with SIGINT ignored, Python
# then keeps it ignored, and so would every owlcap process a test starts: the Ctrl-C tests would test nothing.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from owlcap import envs  # noqa: E402
from owlcap.models.tiny import FAMILIES  # noqa: E402

SAMPLES = envs.samples_dir()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"sample data not found at {SAMPLES} (OWLCAP_SAMPLES_DIR={os.environ.get('OWLCAP_SAMPLES_DIR')})")
    return SAMPLES


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """The full official benchmark files (``vdc/``, ``dream1k/``), from ``OWLCAP_BENCHMARKS_DIR``; the tests that
    need them skip without it (a clone alone has the sample files only)."""
    folder = envs.benchmarks_dir()
    if folder is None:
        pytest.skip(
            "needs the full official benchmark files: set OWLCAP_BENCHMARKS_DIR (owlcap eval fetch lays them out)"
        )
    if not folder.is_dir():
        pytest.fail(f"OWLCAP_BENCHMARKS_DIR={folder} is not a folder")
    return folder


@pytest.fixture(scope="session")
def hmd_videos(samples_dir: Path) -> list[Path]:
    return sorted((samples_dir / "hmd" / "videos").glob("*.mp4"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own owlcap cache dir so on-disk caches never leak between tests."""
    monkeypatch.setenv("OWLCAP_CACHE_DIR", str(tmp_path_factory.mktemp("owlcap-cache")))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random Qwen2.5-VL and Qwen3-VL checkpoints built offline, once per test session."""
    from owlcap.models import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {family: build_tiny_model(root / family, family) for family in FAMILIES}


@pytest.fixture(params=FAMILIES)
def family(request) -> str:
    """Each tiny model family in turn (a test's own ``parametrize("family", ...)`` takes precedence)."""
    return request.param


@pytest.fixture(scope="session")
def tiny_qwen25(tiny_models) -> Path:
    return tiny_models["qwen2_5_vl"]


@pytest.fixture(scope="session")
def tiny_qwen3(tiny_models) -> Path:
    return tiny_models["qwen3_vl"]
