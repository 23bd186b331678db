"""``owlcap doctor``: what this installation has and lacks, on one screen, to paste into an issue report.

As ``accelerate env`` and ``transformers env`` do: the versions of owlcap, Python and the libraries owlcap runs on
(torch with the CUDA it was built for, transformers, TRL, PEFT, accelerate, datasets, PyAV, huggingface_hub, and the
optional vLLM, DeepSpeed and Ray), Chromium, the GPUs ``nvidia-smi`` sees, and where the sample data, the cache and
the full benchmark files are. Given configs (pipeline or stage configs: every ``openai:`` spec in them, and in the
stage configs a pipeline names) or judge specs, it sends each server endpoint one tiny request through
``owlcap.llm`` with a short timeout and says whether it answered.

Nothing heavy is imported: versions come from the installed packages' metadata (torch's CUDA build from its
``version.py``), GPUs from ``nvidia-smi``; ``owlcap.llm`` (and the openai client) only when a server is checked.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from owlcap import __version__, envs

# (distribution, what it is for when missing, or "" for a core dependency)
PACKAGES = (
    ("torch", ""),
    ("torchvision", ""),
    ("transformers", ""),
    ("trl", ""),
    ("peft", ""),
    ("accelerate", ""),
    ("datasets", ""),
    ("av", ""),
    ("huggingface_hub", ""),
    ("openai", ""),
    ("vllm", "optional, GPU generation in GRPO and serving: pip install 'owlcap[vllm]'"),
    ("deepspeed", "optional, ZeRO training: pip install 'owlcap[deepspeed]'"),
    ("ray", "optional, the data engine on many machines: pip install 'owlcap[ray]'"),
)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


@dataclass
class Line:
    """One line of the report: ``missing`` names what is absent and why it matters; ``down`` marks a server check
    that failed (the command then exits non-zero)."""

    label: str
    value: str
    missing: str = ""
    down: bool = False


def report(configs: list[str | Path] = (), judges: list[str] = (), *, timeout_s: float = 10.0) -> list[Line]:
    """Every line of the report, servers last (one request per endpoint of each spec found)."""
    lines = [*software(), gpus(), chromium(), *places()]
    specs = [spec for config in configs for spec in specs_in(config)]
    checks = list(dict.fromkeys(endpoint for spec in [*judges, *specs] for endpoint in endpoints(spec)))
    if checks:
        with ThreadPoolExecutor(max_workers=min(16, len(checks))) as pool:  # each waits on its own server
            lines += list(pool.map(lambda spec: check_server(spec, timeout_s), checks))
    return lines


def render(lines: list[Line]) -> str:
    width = max(len(line.label) for line in lines)
    text = [f"{line.label:<{width}}  {line.value}" for line in lines]
    missing = [f"{line.label} ({line.missing})" for line in lines if line.missing and not line.down]
    down = sum(line.down for line in lines)
    if down:
        missing.append(f"{down} server endpoint(s) not answering (above)")
    text.append(f"{'missing':<{width}}  " + ("; ".join(missing) if missing else "nothing"))
    return "\n".join(text)


# --- what is installed ---------------------------------------------------------------------------------------------


def software() -> list[Line]:
    lines = [
        Line("owlcap", f"{__version__} ({Path(__file__).resolve().parent})"),
        Line("python", f"{platform.python_version()} ({sys.executable}; {platform.system()} {platform.machine()})"),
    ]
    for name, why in PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            lines.append(Line(name, "not installed", missing=why or "required: reinstall owlcap"))
            continue
        if name == "torch":
            cuda = _torch_cuda_build()
            version += f" (built for CUDA {cuda})" if cuda else " (CPU-only build)"
        lines.append(Line(name, version))
    return lines


def _torch_cuda_build() -> str | None:
    """The CUDA version torch was built for, read from ``torch/version.py`` (importing torch takes seconds)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        match = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)['\"]", version_file.read_text(), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def gpus() -> Line:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    note = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Line("GPUs", "none seen (no nvidia-smi)" + note, missing="no GPU: training and captioning run on CPU")
    try:
        done = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Line("GPUs", f"nvidia-smi failed ({exc})" + note, missing="no GPU answered nvidia-smi")
    found = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not found:
        cause = (done.stderr or done.stdout).strip().splitlines()[:1]
        return Line("GPUs", f"none ({cause[0] if cause else 'nvidia-smi listed none'})" + note, missing="no GPU")
    return Line("GPUs", f"{len(found)}: " + ", ".join(found) + note)


def chromium() -> Line:
    path = next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)
    if path is None:
        return Line(
            "chromium", "not found", missing="the tests that render HTML reports skip (apt-get install chromium)"
        )
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20)
        version = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError) as exc:
        version = f"version unknown ({exc})"
    return Line("chromium", f"{version} ({path})")


# --- where things are ----------------------------------------------------------------------------------------------


def places() -> list[Line]:
    samples = envs.samples_dir()
    origin = "OWLCAP_SAMPLES_DIR" if os.environ.get("OWLCAP_SAMPLES_DIR") else "shipped with owlcap"
    videos = sorted((samples / "hmd" / "videos").glob("*.mp4")) if samples.is_dir() else []
    lines = [
        Line("samples", f"{samples} ({origin}; {len(videos)} videos)")
        if videos
        else Line("samples", f"{samples} ({origin}): missing", missing="quickstart and tests need the sample data")
    ]
    cache = envs.cache_dir()
    lines.append(Line("cache", f"{cache} ({_size(cache)})" if cache.is_dir() else f"{cache} (not created yet)"))
    benchmarks = envs.benchmarks_dir()
    if benchmarks is None:
        lines.append(Line("benchmarks", "OWLCAP_BENCHMARKS_DIR unset: get the full files with `owlcap eval fetch "
                          "vdc|dream1k --out DIR` (the tests of the full files skip)"))  # fmt: skip
    else:
        have = [name for name in ("vdc/camera.jsonl", "dream1k/DREAM-1k.jsonl") if (benchmarks / name).is_file()]
        gaps = "" if len(have) == 2 else "; no " + ", ".join({"vdc", "dream1k"} - {h.split("/")[0] for h in have})
        lines.append(Line("benchmarks", f"{benchmarks} (OWLCAP_BENCHMARKS_DIR{gaps})"))
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    offline = " (HF_HUB_OFFLINE set: no downloads)" if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") else ""
    lines.append(Line("hub", endpoint + offline))
    return lines


def _size(folder: Path) -> str:
    total = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return f"{total / 1e6:.1f} MB"


# --- servers -------------------------------------------------------------------------------------------------------


def specs_in(config: str | Path, _seen: set[Path] | None = None) -> list[str]:
    """Every ``openai:`` spec in a config file and in the YAML files it names (a pipeline's stage configs)."""
    from owlcap.config import iter_strings, load_yaml

    path = Path(config)
    seen = _seen if _seen is not None else set()
    if path.resolve() in seen:
        return []
    seen.add(path.resolve())
    found = []
    for value in iter_strings(load_yaml(path, variables={"run_dir": "RUN_DIR"})):
        if value.strip().startswith("openai:"):
            found.append(value.strip())
        elif value.endswith((".yaml", ".yml")) and Path(value).is_file():
            found += specs_in(value, seen)
    return found


def endpoints(spec: str) -> list[str]:
    """One spec per endpoint of ``spec`` (``openai:m@u1,u2`` -> ``openai:m@u1``, ``openai:m@u2``)."""
    from owlcap.llm import parse_spec

    parsed = parse_spec(spec)
    if parsed.backend != "openai" or not parsed.base_urls:
        return [spec] if parsed.backend == "openai" else []
    return [f"openai:{parsed.model}@{url}" for url in parsed.base_urls]


def check_server(spec: str, timeout_s: float) -> Line:
    """One tiny request (one token) through ``owlcap.llm``, no retries, no cache."""
    from owlcap.errors import JudgeError
    from owlcap.llm import LLMConfig, from_spec

    config = LLMConfig(request_timeout_s=timeout_s, max_retries=0, cache=False, max_tokens=1, temperature=0.0)
    llm = from_spec(spec, config)
    started = time.perf_counter()
    try:
        llm.chat_sync([{"role": "user", "content": "Reply with the word OK."}])
    except JudgeError as exc:
        cause = str(exc).splitlines()[0]
        return Line("server", f"DOWN {spec}: {cause}", missing=f"{spec} does not answer", down=True)
    finally:
        llm.close()
    return Line("server", f"ok   {spec} (answered in {time.perf_counter() - started:.2f} s)")
