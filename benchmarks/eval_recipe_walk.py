"""How far a reader travels to follow one evaluation through the code: files visited and returns to a file left.

    OMP_NUM_THREADS=1 python benchmarks/eval_recipe_walk.py            # VDC and DREAM-1K
    python benchmarks/eval_recipe_walk.py --verbose                    # print each walk

Each benchmark runs once on the sample data, captioning through a loopback video server and judged by the scripted
judge of the tests (both in this process), under a profiler that notes the first call of every function defined in
``owlcap/eval`` and ``owlcap/caption``. The walk is the reader's: open each function once, in the order the run
first needs it, coming back to its caller's file first when that is another file; functions that call nothing in
those folders (formatting helpers, properties, data accessors) are read by their name where they are called and
leave the walk alone. Counted: the files visited, the times the walk enters a file it had already left, and of
those the times none of the file's functions is still open (not a caller coming back: a file read, closed and
opened again). The last line is one JSON object with the figures per benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from pathlib import Path
from types import CodeType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback server and scripted judge are test helpers

from helpers.llm_server import LoopbackLLMServer  # noqa: E402
from helpers.scripted_judges import responder  # noqa: E402

import owlcap  # noqa: E402
from owlcap import envs  # noqa: E402
from owlcap.eval import evaluate_dream1k, evaluate_vdc  # noqa: E402

PACKAGE = str(Path(owlcap.__file__).resolve().parent) + "/"
FOLDERS = ("eval/", "caption/")
VDC_VIDEOS = ["07309684-1f6e-4977-ab74-f3e63c361f36", "0d271871-c8ba-4249-9434-d39ce0060e58"]


def _name(code: CodeType) -> str:
    return code.co_filename[len(PACKAGE) :]


def _in_scope(code: CodeType) -> bool:
    name = code.co_filename
    return name.startswith(PACKAGE) and name[len(PACKAGE) :].startswith(FOLDERS) and not code.co_name.startswith("<")


class Recorder:
    """First calls of in-scope functions (with the in-scope files on the stack then), and every in-scope function
    that calls another."""

    def __init__(self) -> None:
        self.first: list[tuple[CodeType, tuple[str, ...]]] = []
        self.callers: set[CodeType] = set()
        self.seen: set[CodeType] = set()
        self.lock = threading.Lock()

    def profile(self, frame: Any, event: str, arg: Any) -> None:
        if event != "call" or not _in_scope(frame.f_code):
            return
        stack, caller = [], frame.f_back
        while caller is not None:
            if _in_scope(caller.f_code):
                stack.append(caller.f_code)
            caller = caller.f_back
        with self.lock:
            if stack:
                self.callers.add(stack[0])
            if frame.f_code not in self.seen:
                self.seen.add(frame.f_code)
                self.first.append((frame.f_code, tuple(_name(code) for code in stack)))

    def walk(self) -> list[tuple[str, str]]:
        """The files in reading order (consecutive stays merged), each with how it is entered: ``new``, ``back``
        (to a file of a function still open, i.e. its caller's: coming back from a call) or ``again`` (a file
        visited before and left: no function of it is open)."""
        walk: list[tuple[str, str]] = []
        visited: set[str] = set()
        for code, open_files in self.first:
            if code not in self.callers:
                continue  # a leaf: read by its name
            name = _name(code)
            if open_files and walk and walk[-1][0] not in (name, open_files[0]):
                walk.append((open_files[0], "back"))  # back in the caller's file before the call
            if walk and walk[-1][0] == name:
                continue
            kind = "new" if name not in visited else "back" if name in open_files else "again"
            walk.append((name, kind))
            visited.add(name)
        return walk


def measure(evaluate: Any, config: dict[str, Any]) -> dict[str, Any]:
    recorder = Recorder()
    threading.setprofile(recorder.profile)
    sys.setprofile(recorder.profile)
    try:
        evaluate(config)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    walk = recorder.walk()
    returns: dict[str, int] = {}
    for name, kind in walk:
        if kind != "new":
            returns[name] = returns.get(name, 0) + 1
    return {
        "files": len({name for name, _ in walk}),
        "returns": sum(returns.values()),
        "returns_to_a_closed_file": sum(kind == "again" for _, kind in walk),
        "returns_by_file": dict(sorted(returns.items(), key=lambda kv: (-kv[1], kv[0]))),
        "walk": [name + ("" if kind == "new" else f" ({kind})") for name, kind in walk],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--verbose", action="store_true", help="print each walk")
    args = parser.parse_args()
    samples = envs.samples_dir()
    results = {}
    with tempfile.TemporaryDirectory() as tmp, LoopbackLLMServer(responder()) as server:
        videos = sorted((samples / "hmd" / "videos").glob("*.mp4"))
        manifest = Path(tmp) / "videos.jsonl"
        ids = [*VDC_VIDEOS, "1", "2"]
        manifest.write_text(
            "".join(
                json.dumps({"id": i, "video": str(v)}) + "\n"
                for i, v in zip(ids, (videos * 2)[: len(ids)], strict=True)
            )
        )
        common = {
            "captioning": {
                "videos": str(manifest),
                "model": server.spec("qwen2.5-vl"),
                "sampling": {"nframes": 4, "min_pixels": 28 * 28, "max_pixels": 56 * 84},
            },
            "judge": {"model": server.spec("judge"), "concurrency": 8, "cache": False},
            "report": {"bootstrap_samples": 10},
        }
        runs = {
            "vdc": (evaluate_vdc, {"qa_dir": str(samples / "vdc"), "limit": 2}),
            "dream1k": (evaluate_dream1k, {"annotations": str(samples / "dream1k" / "DREAM-1k.sample.jsonl")}),
        }
        for name, (evaluate, config) in runs.items():
            config = {**config, **common, "out": str(Path(tmp) / name), "limit": 2}
            results[name] = measure(evaluate, config)
    for name, result in results.items():
        walk = result.pop("walk")
        if args.verbose:
            print(f"{name}: " + " -> ".join(walk))
        print(
            f"{name}: {result['files']} files visited, {result['returns']} returns to a file already left "
            f"({result['returns_to_a_closed_file']} to a file none of whose functions is still open)"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
