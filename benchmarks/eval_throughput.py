"""Evaluator throughput and the cost of a full VDC and DREAM-1K pass.

    owlcap eval fetch vdc --out data/benchmarks && owlcap eval fetch dream1k --out data/benchmarks
    OWLCAP_BENCHMARKS_DIR=data/benchmarks OMP_NUM_THREADS=1 python benchmarks/eval_throughput.py  # 16 slots, 500 ms
    python benchmarks/eval_throughput.py --judge openai:meta-llama/Llama-3.1-8B-Instruct@http://127.0.0.1:8000/v1

1. Throughput. A judge server answers every request after a fixed latency with N parallel slots (the scripted
   loopback judge of the tests, in its own process), so at most N / latency requests per second are possible.
   ``evaluate_vdc`` (two chained calls per question) and ``evaluate_dream1k`` (extraction then precision, beside
   recall) run on a slice of the full benchmark files; the figure is requests per second over the judging wall
   time, as a share of N / latency. The official scorers send one request at a time (AuroraCap's VDC scorer) or 64
   samples at once in processes (Tarsier); the baseline here is the sequential rate 1 / latency. With ``--judge``
   the same runs go to a real server instead, and its measured rate prices a full pass.
2. Cost of a full pass per model evaluated, counted on the full annotation files with captions of realistic length
   (HMD sample captions cut to each VDC dimension's typical length; DREAM-1K captions of the same length as the
   detailed ones): requests, prompt characters (exact) and tokens (estimated at 4 characters per token plus a few
   per message for the chat template), and output tokens (estimated from answers shaped like the judge's).
3. Hours on one judge at the measured rate (``--judge-rate R`` to price another rate, e.g. a report's
   ``last_run.cost.requests_per_s``).

The last line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "eval"))  # the scripted judge is a test helper, shared with the tests

from owlcap import envs  # noqa: E402
from owlcap.eval import evaluate_dream1k, evaluate_vdc  # noqa: E402
from owlcap.eval.dream1k import prompts as dream_prompts  # noqa: E402
from owlcap.eval.dream1k.config import PRESETS as DREAM_PRESETS  # noqa: E402
from owlcap.eval.dream1k.config import DreamProtocol  # noqa: E402
from owlcap.eval.dream1k.data import load as load_dream  # noqa: E402
from owlcap.eval.prompt_sets import load_prompt_set  # noqa: E402
from owlcap.eval.vdc import prompts as vdc_prompts  # noqa: E402
from owlcap.eval.vdc.data import load as load_vdc  # noqa: E402
from owlcap.jsonl import read_jsonl  # noqa: E402

BENCHMARKS = envs.benchmarks_dir()  # the full official files (owlcap eval fetch lays them out)
if BENCHMARKS is None:
    sys.exit("set OWLCAP_BENCHMARKS_DIR to the full benchmark files: owlcap eval fetch vdc|dream1k --out DIR")
WORDS = {"short": 25, "camera": 110, "background": 150, "main_object": 150, "detailed": 230}
"""Typical caption length per VDC dimension, in words (detailed: the HMD sample captions, 214-240 words)."""
CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD_TOKENS = 5


def tokens(chars: int, messages: int = 0) -> int:
    return round(chars / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS * messages


def realistic_caption(words: int, seed: int) -> str:
    captions = [r["caption"] for r in read_jsonl(envs.samples_dir() / "hmd" / "captions.jsonl")]
    pool = " ".join(captions[seed % len(captions) :] + captions[: seed % len(captions)]).split()
    return " ".join(pool[:words])


# ---------------------------------------------------------------------------------------------------- cost


def vdc_cost() -> dict[str, float]:
    data = load_vdc(BENCHMARKS / "vdc")
    prompts = load_prompt_set(
        "official", benchmark="vdc", search_dirs=[BENCHMARKS / "vdc"], required=vdc_prompts.REQUIRED
    )
    requests = prompt_chars = output_chars = 0
    answer = "A man in a red jacket walking"  # call 1: a short phrase
    verdict = "{'pred': 'yes', 'score': 4}"
    for index, (dimension, dimension_data) in enumerate(data.dimensions.items()):
        caption = realistic_caption(WORDS[dimension], index)
        for qas in dimension_data.videos.values():
            for qa in qas:
                first = vdc_prompts.answer_messages(prompts, caption, qa.question)
                second = vdc_prompts.verdict_messages(prompts, qa.question, qa.answer, answer)
                prompt_chars += sum(len(m["content"]) for m in first + second)
                output_chars += len(answer) + len(verdict)
                requests += 2
    return {
        "requests": requests,
        "prompt_chars": prompt_chars,
        "prompt_tokens": tokens(prompt_chars, 2 * requests),
        "output_tokens": tokens(output_chars, 0),
    }


def dream_cost() -> dict[str, float]:
    data = load_dream(BENCHMARKS / "dream1k" / "DREAM-1k.jsonl")
    prompts = load_prompt_set(
        "official", benchmark="dream1k", search_dirs=[BENCHMARKS / "dream1k"], required=dream_prompts.REQUIRED
    )
    protocol = DreamProtocol(**DREAM_PRESETS["tarsier"]["protocol"])
    requests = prompt_chars = output_chars = 0
    for index, item in enumerate(data.items):
        prediction = realistic_caption(WORDS["detailed"], index)
        events = [s.strip() + "." for s in prediction.split(".") if s.strip()][:10]
        messages = dream_prompts.extraction_messages(prompts, prediction, protocol)
        messages += dream_prompts.entailment_messages(prompts, prediction, list(item.events), item.reference, protocol)
        messages += dream_prompts.entailment_messages(prompts, item.reference, events, prediction, protocol)
        prompt_chars += sum(len(m["content"]) for m in messages)
        output_chars += len(repr({"events": events}))
        for judged in (list(item.events) or [item.reference], events or [prediction]):
            rows = [
                {"event": e, "relationship": "entailment", "reason": f"The description says that {e.lower()}"}
                for e in judged
            ]
            output_chars += len(json.dumps({"events": rows}, indent=2))
        requests += 3
    return {
        "requests": requests,
        "prompt_chars": prompt_chars,
        "prompt_tokens": tokens(prompt_chars, requests),
        "output_tokens": tokens(output_chars, 0),
    }


# ---------------------------------------------------------------------------------------------- throughput


class LoopbackJudge:
    def __init__(self, slots: int, latency: float):
        script = ROOT / "tests" / "eval" / "judge_process.py"
        command = [sys.executable, str(script), "--slots", str(slots), "--delay", str(latency)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.process.stdout.readline())

    def spec(self, model: str) -> str:
        return f"openai:{model}@http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(10)


def raw_client(spec: str, concurrency: int, requests: int) -> dict[str, float]:
    """The baseline side by side: independent requests of a VDC verdict's size straight through ``owlcap.llm``
    (no chains, no records), i.e. what the client alone achieves against the same judge."""
    import asyncio

    from owlcap.llm import LLMConfig, Task, from_spec

    llm = from_spec(spec, LLMConfig(concurrency=concurrency, cache=False))

    async def run() -> float:
        started = time.perf_counter()

        async def one(index: int) -> None:
            messages = [{"role": "user", "content": f"Question: {index}\nCorrect Answer: a\nPredicted Answer: b\n\n"}]
            await llm.answer(Task(kind="raw", version="1", messages=messages, schema=None, inputs={"i": index}))

        await asyncio.gather(*(one(i) for i in range(requests)))
        return time.perf_counter() - started

    wall = llm.run_in_background(run())
    llm.close()
    return {"requests": requests, "wall_s": wall, "requests_per_s": requests / wall}


def measure(run, config: dict) -> dict[str, float]:
    result = run(config)
    cost = result.report["last_run"]["cost"]
    return {"requests": cost["requests"], "wall_s": cost["wall_s"], "requests_per_s": cost["requests_per_s"]}


def throughput(args: argparse.Namespace, work: Path) -> dict[str, dict[str, float]]:
    judge = None if args.judge else LoopbackJudge(args.slots, args.latency)
    spec = (lambda model: args.judge) if args.judge else judge.spec
    concurrency = args.concurrency or args.slots
    common = {"report": {"bootstrap_samples": 0, "plots": False}}
    judge_settings = {"concurrency": concurrency, "cache": False, "preflight": False}
    vdc_captions = work / "vdc_captions.jsonl"
    data = load_vdc(BENCHMARKS / "vdc")
    chosen = data.video_ids()[: args.videos]
    with vdc_captions.open("w") as handle:
        for index, dimension in enumerate(data.dimensions):
            for video in chosen:
                caption = realistic_caption(WORDS[dimension], index)
                handle.write(json.dumps({"id": f"{dimension}/{video}", "caption": caption}) + "\n")
    dream_captions = work / "dream_captions.jsonl"
    items = load_dream(BENCHMARKS / "dream1k" / "DREAM-1k.jsonl").items[: args.samples]
    with dream_captions.open("w") as handle:
        for index, item in enumerate(items):
            handle.write(json.dumps({"id": item.id, "caption": realistic_caption(WORDS["detailed"], index)}) + "\n")
    try:
        results = {
            "raw client": raw_client(spec("raw"), concurrency, args.raw_requests),
            "vdc": measure(
                evaluate_vdc,
                {
                    **common,
                    "qa_dir": str(BENCHMARKS / "vdc"),
                    "limit": args.videos,
                    "captions": {"path": str(vdc_captions)},
                    "judge": {"model": spec("meta-llama/Llama-3.1-8B-Instruct"), **judge_settings},
                    "out": str(work / "vdc"),
                },
            ),
            "dream1k": measure(
                evaluate_dream1k,
                {
                    **common,
                    "annotations": str(BENCHMARKS / "dream1k" / "DREAM-1k.jsonl"),
                    "limit": args.samples,
                    "captions": {"path": str(dream_captions)},
                    "judge": {"model": spec("gpt-3.5-turbo-0125"), **judge_settings},
                    "out": str(work / "dream1k"),
                },
            ),
        }
    finally:
        if judge is not None:
            judge.stop()
    return results


# -------------------------------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=16, help="Loopback judge: requests answered in parallel.")
    parser.add_argument("--latency", type=float, default=0.5, help="Loopback judge: seconds per answer.")
    parser.add_argument("--concurrency", type=int, default=None, help="Judge requests in flight (default: slots).")
    parser.add_argument("--videos", type=int, default=6, help="VDC videos judged (x5 dimensions, ~19 questions).")
    parser.add_argument("--samples", type=int, default=150, help="DREAM-1K samples judged.")
    parser.add_argument("--raw-requests", type=int, default=400, help="Requests of the raw-client baseline.")
    parser.add_argument("--judge", default=None, help="A real judge server to measure instead of the loopback one.")
    parser.add_argument("--judge-rate", type=float, default=None, help="Price a full pass at this rate (req/s).")
    args = parser.parse_args()
    costs = {"vdc": vdc_cost(), "dream1k": dream_cost()}
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        rates = throughput(args, Path(work))
        elapsed = time.perf_counter() - started
    ideal = None if args.judge else args.slots / args.latency
    where = (
        args.judge or f"loopback judge, {args.slots} slots x {args.latency * 1000:.0f} ms (at most {ideal:.1f} req/s)"
    )
    print(f"throughput against {where}; {elapsed:.0f} s in all")
    print(f"{'':<11}{'requests':>9}{'wall s':>8}{'req/s':>8}{'of ideal':>10}{'of raw client':>15}{'vs sequential':>15}")
    headline: dict[str, object] = {"slots": args.slots, "latency_s": args.latency, "judge": args.judge or "loopback"}
    raw = rates["raw client"]["requests_per_s"]
    for name, rate in rates.items():
        share = rate["requests_per_s"] / ideal if ideal else None
        speedup = rate["requests_per_s"] * args.latency if ideal else None
        print(
            f"{name:<11}{rate['requests']:>9}{rate['wall_s']:>8.1f}{rate['requests_per_s']:>8.1f}"
            f"{(f'{share:.1%}' if share else '-'):>10}{rate['requests_per_s'] / raw:>15.1%}"
            f"{(f'{speedup:.1f}x' if speedup else '-'):>15}"
        )
        key = name.replace(" ", "_")
        headline[f"{key}_requests_per_s"] = round(rate["requests_per_s"], 2)
        headline[f"{key}_share_of_ideal"] = share and round(share, 3)
    priced = f"{args.judge_rate} req/s (given)" if args.judge_rate else "the rate measured above"
    print(f"\nfull pass per model evaluated (tokens estimated at 4 characters per token); hours at {priced}")
    print(f"{'benchmark':<10}{'requests':>10}{'prompt chars':>15}{'prompt tok':>13}{'output tok':>12}{'hours':>8}")
    for name, cost in costs.items():
        rate = args.judge_rate or rates[name]["requests_per_s"]
        hours = cost["requests"] / rate / 3600
        print(
            f"{name:<10}{cost['requests']:>10}{cost['prompt_chars']:>15,}{cost['prompt_tokens']:>13,}"
            f"{cost['output_tokens']:>12,}{hours:>8.2f}"
        )
        headline |= {
            f"{name}_full_requests": cost["requests"],
            f"{name}_full_prompt_tokens": cost["prompt_tokens"],
            f"{name}_full_output_tokens": cost["output_tokens"],
            f"{name}_full_hours": round(hours, 2),
            f"{name}_priced_at_requests_per_s": round(rate, 2),
        }
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
