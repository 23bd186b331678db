"""CaReBench and CAPability evaluator throughput against a judge with a fixed number of slots.

    OMP_NUM_THREADS=1 python benchmarks/eval_newbench_throughput.py          # 16 slots, 500 ms per answer

The judge is the scripted loopback judge of the tests in its own process (as ``eval_throughput.py`` uses for VDC
and DREAM-1K), answering every request after a fixed latency with N slots: at most N / latency requests per second.
Measured side by side: the raw ``owlcap.llm`` client sending independent requests (the baseline), ``evaluate_carebench``
(per sample up to eight calls: two chains per kind, extraction before entailment) and ``evaluate_capability`` (one
call per file, one per object for counts, in the official retry rounds), the latter also with a judge that garbles
30% of first answers, so that a second round runs. The official scorers send CaReBench's eight calls of a sample
one after another (64 samples in processes) and CAPability's files through a pool of 40 (README) or 20 (lmms-eval)
workers. Annotations are built from the sample files (no benchmark file is needed). The last line is one JSON
object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from eval_throughput import LoopbackJudge, raw_client, realistic_caption  # noqa: E402

from owlcap import envs  # noqa: E402
from owlcap.eval import evaluate_capability, evaluate_carebench  # noqa: E402
from owlcap.eval.dream1k.data import load as load_dream  # noqa: E402


class FaultyJudge(LoopbackJudge):
    """The loopback judge garbling a share of first answers (``tests/eval/judge_process.py --faults``)."""

    def __init__(self, slots: int, latency: float, faults: dict):
        script = ROOT.parent / "tests" / "eval" / "judge_process.py"
        command = [sys.executable, str(script), "--slots", str(slots), "--delay", str(latency)]
        command += ["--faults", json.dumps(faults)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())


def carebench_files(work: Path, samples: int) -> tuple[Path, Path]:
    """``samples`` records with DREAM-1K sample references (events and objects extracted by the judge) and captions
    of a detailed caption's length."""
    references = load_dream(envs.samples_dir() / "dream1k" / "DREAM-1k.sample.jsonl").items
    records = [
        {"video": f"v_{i:04d}.mp4", "caption": references[i % len(references)].reference} for i in range(samples)
    ]
    (work / "metadata.json").write_text(json.dumps(records))
    with (work / "care_captions.jsonl").open("w") as handle:
        for i in range(samples):
            handle.write(json.dumps({"id": f"v_{i:04d}", "caption": realistic_caption(230, i)}) + "\n")
    return work / "metadata.json", work / "care_captions.jsonl"


def capability_files(work: Path, files: int) -> tuple[Path, Path]:
    """The four video dimensions with ``files`` files each (action on event's videos), one caption per video."""
    root = work / "annotations"
    root.mkdir()
    annotate = {
        "event": lambda i: f"A person walks to the table {i}.",
        "action": lambda i: f"picks up a cup {i}",
        "camera_movement": lambda i: ["left", "in", "fixed", "up"][i % 4],
        "dynamic_object_number": lambda i: {"chair": i % 3 + 1, "table": 2} if i % 2 else {"lamp": 1},
    }
    captions = {}
    for task, value in annotate.items():
        prefix = "event" if task == "action" else task
        with (root / f"{task}.jsonl").open("w") as handle:
            for i in range(files):
                file_id = f"{prefix}_{i}"
                line = {"file_id": file_id, "file_path": f"data/{prefix}/{file_id}.mp4", "annotation": value(i),
                        "task": task, "data_type": "video"}  # fmt: skip
                handle.write(json.dumps(line) + "\n")
                captions.setdefault(file_id, realistic_caption(230, i))
    with (work / "cap_captions.jsonl").open("w") as handle:
        for file_id, caption in captions.items():
            handle.write(json.dumps({"id": file_id, "caption": caption}) + "\n")
    return root, work / "cap_captions.jsonl"


def measured(result) -> dict[str, float]:
    cost = result.report["last_run"]["cost"]
    return {"requests": cost["requests"], "wall_s": cost["wall_s"], "requests_per_s": cost["requests_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=16, help="Loopback judge: requests answered in parallel.")
    parser.add_argument("--latency", type=float, default=0.5, help="Loopback judge: seconds per answer.")
    parser.add_argument("--samples", type=int, default=60, help="CaReBench samples judged (8 calls each).")
    parser.add_argument("--files", type=int, default=80, help="CAPability files per video dimension.")
    parser.add_argument("--raw-requests", type=int, default=400, help="Requests of the raw-client baseline.")
    args = parser.parse_args()
    common = {"report": {"bootstrap_samples": 0, "plots": False}}
    judge_settings = {"concurrency": args.slots, "cache": False, "preflight": False}
    rates: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        annotations, care_captions = carebench_files(work, args.samples)
        root, cap_captions = capability_files(work, args.files)
        cap_config = {
            **common,
            "annotations": str(root),
            "dimensions": ["video"],
            "captions": {"path": str(cap_captions)},
            "retry": {"max_allow_missing": 0},
        }
        judge = LoopbackJudge(args.slots, args.latency)
        try:
            rates["raw client"] = raw_client(judge.spec("raw"), args.slots, args.raw_requests)
            care = evaluate_carebench(
                {
                    **common,
                    "annotations": str(annotations),
                    "captions": {"path": str(care_captions)},
                    "judge": {"model": judge.spec("deepseek-chat"), **judge_settings},
                    "out": str(work / "care"),
                }
            )
            rates["carebench"] = measured(care)
            cap = evaluate_capability(
                {**cap_config, "judge": {"model": judge.spec("gpt-4-turbo"), **judge_settings}, "out": str(work / "c")}
            )
            rates["capability"] = measured(cap)
        finally:
            judge.stop()
        faulty = FaultyJudge(args.slots, args.latency, {"transient": {"garbage": 0.3}})
        try:
            garbled = evaluate_capability(
                {**cap_config, "judge": {"model": faulty.spec("gpt-4-turbo"), **judge_settings}, "out": str(work / "g")}
            )
            rates["capability, 30% garbled"] = measured(garbled)
            rounds_complete = garbled.complete
        finally:
            faulty.stop()
    elapsed = time.perf_counter() - started
    ideal = args.slots / args.latency
    where = f"loopback judge, {args.slots} slots x {args.latency * 1000:.0f} ms (at most {ideal:.1f} req/s)"
    print(f"{where}; {elapsed:.0f} s")
    print(f"{'':<25}{'requests':>9}{'wall s':>8}{'req/s':>8}{'of ideal':>10}{'of raw client':>15}")
    raw = rates["raw client"]["requests_per_s"]
    headline: dict[str, object] = {"slots": args.slots, "latency_s": args.latency}
    for name, rate in rates.items():
        share = rate["requests_per_s"] / ideal
        print(
            f"{name:<25}{rate['requests']:>9}{rate['wall_s']:>8.1f}{rate['requests_per_s']:>8.1f}"
            f"{share:>10.1%}{rate['requests_per_s'] / raw:>15.1%}"
        )
        key = name.replace(", 30% garbled", "_garbled").replace(" ", "_")
        headline[f"{key}_requests_per_s"] = round(rate["requests_per_s"], 2)
        headline[f"{key}_share_of_ideal"] = round(share, 3)
    headline["capability_garbled_complete_after_rounds"] = rounds_complete
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
