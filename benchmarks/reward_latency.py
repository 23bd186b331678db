"""CSER judge latency and cost per GRPO group: owlcap's protocol vs the released OwlCap protocol.

    OMP_NUM_THREADS=1 python benchmarks/reward_latency.py            # G=8, 200 ms per answer, 8 server slots

A loopback OpenAI-compatible server answers every request after a fixed delay (``--delay``, 200 ms) with
``--slots`` parallel slots, like a busy vLLM; its answers come from owlcap's rules engine, so both protocols get
the same unit splits and verdicts and their answer sizes are comparable. For each HMD sample caption as the
reference, groups of G distinct predictions (subsets and mixes of the sample captions) are scored:

- owlcap ``fused`` (default): the reference is split once and cached; one request per prediction, all concurrent;
- owlcap ``separate``: decompose + two verifications per prediction (for reference);
- ``official``: the released protocol, one request per prediction re-splitting both captions, run sequentially.

"cold" is a group whose reference was never seen (empty cache); "warm" a new group of predictions for a reference
already split. Figures are medians per group; the last line is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback server is a test helper, shared with the test suite

from helpers.judge_responder import rules_responder  # noqa: E402
from helpers.llm_server import LoopbackLLMServer  # noqa: E402

from owlcap import envs  # noqa: E402
from owlcap.jsonl import read_jsonl  # noqa: E402
from owlcap.llm import LLMConfig, from_spec  # noqa: E402
from owlcap.llm.rules_text import sentences  # noqa: E402
from owlcap.reward import CSER, CSERConfig  # noqa: E402


def predictions(reference: str, others: list[str], group: int, seed: int) -> list[str]:
    """``group`` distinct predictions: random 60-90% sentence subsets of the reference, every third one mixed with
    a few sentences of another caption (so correctness varies too)."""
    parts = sentences(reference)
    rng = random.Random(seed)
    preds: list[str] = []
    while len(preds) < group:
        kept = sorted(rng.sample(range(len(parts)), k=rng.randint(int(0.6 * len(parts)), int(0.9 * len(parts)))))
        text = [parts[j] for j in kept]
        if len(preds) % 3 == 2:
            text += rng.sample(sentences(rng.choice(others)), k=2)
        candidate = " ".join(text)
        if candidate not in preds:
            preds.append(candidate)
    return preds


async def measure(cser: CSER, preds: list[str], reference: str) -> dict[str, float]:
    before = cser.judge.stats.snapshot()
    start = time.perf_counter()
    results = await cser.score_group(preds, reference)
    wall = time.perf_counter() - start
    delta = cser.judge.stats.snapshot() - before
    failed = sum(r.failed for r in results)
    if failed:
        raise SystemExit(f"{failed} predictions failed to score; the benchmark needs every one scored")
    return {
        "wall_s": wall,
        "requests": delta.requests,
        "prompt_chars": delta.prompt_chars,
        "completion_chars": delta.completion_chars,
        "mean_reward": statistics.mean(r.reward for r in results),
    }


async def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    captions = [r["caption"] for r in read_jsonl(envs.samples_dir() / "hmd" / "captions.jsonl")]
    rows: dict[str, list[dict[str, float]]] = {}
    with LoopbackLLMServer(rules_responder(), slots=args.slots, delay_s=args.delay) as server:
        for protocol in ("fused", "separate", "official"):
            for repeat in range(args.repeats):
                # A fresh judge and cache per repeat, so every reference is cold again once.
                with tempfile.TemporaryDirectory() as cache_dir:
                    # The on-disk cache stays on (it holds the reference units); predictions never repeat, so
                    # they never hit it.
                    config = LLMConfig(concurrency=64, cache_path=Path(cache_dir) / "judge.sqlite")
                    cser = CSER(from_spec(server.spec(), config), CSERConfig(protocol=protocol))
                    # Untimed warm-up: the HTTP client and its first connection, as in a long-running trainer.
                    await cser.judge.chat([{"role": "user", "content": "ping"}])
                    for index, reference in enumerate(captions):
                        others = captions[:index] + captions[index + 1 :]
                        for phase in ("cold", "warm"):
                            seed = 6 * repeat + 2 * index + (phase == "warm")
                            preds = predictions(reference, others, args.group, seed)
                            rows.setdefault(f"{protocol}/{phase}", []).append(await measure(cser, preds, reference))
                    await cser.judge.aclose()
    # Medians, not means: the machine may be shared, and one slow group should not move the figures.
    return {name: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for name, ms in rows.items()}


def report(medians: dict[str, dict[str, float]], args: argparse.Namespace) -> dict[str, object]:
    print(
        f"G={args.group} predictions per group, {args.delay * 1000:.0f} ms per answer, {args.slots} server slots; "
        f"medians per group over {args.repeats} x 3 references"
    )
    print(f"{'protocol/cache':<18}{'wall s':>9}{'requests':>10}{'prompt chars':>14}{'completion chars':>18}")
    for name, m in medians.items():
        figures = f"{m['wall_s']:>9.3f}{m['requests']:>10.1f}{m['prompt_chars']:>14.0f}{m['completion_chars']:>18.0f}"
        print(f"{name:<18}{figures}")
    headline: dict[str, object] = {"group_size": args.group, "delay_ms": args.delay * 1000, "slots": args.slots}
    for phase in ("cold", "warm"):
        # The official protocol caches nothing: its cold and warm groups differ only by their predictions.
        official, owlcap = medians[f"official/{phase}"], medians[f"fused/{phase}"]
        headline |= {
            f"official_wall_s_{phase}": round(official["wall_s"], 3),
            f"owlcap_wall_s_{phase}": round(owlcap["wall_s"], 3),
            f"speedup_{phase}": round(official["wall_s"] / owlcap["wall_s"], 2),
            f"requests_official_{phase}": official["requests"],
            f"requests_owlcap_{phase}": owlcap["requests"],
            f"completion_chars_ratio_{phase}": round(owlcap["completion_chars"] / official["completion_chars"], 3),
            f"prompt_chars_ratio_{phase}": round(owlcap["prompt_chars"] / official["prompt_chars"], 3),
        }
    print(
        f"speed-up vs official: cold {headline['speedup_cold']}x, warm {headline['speedup_warm']}x; judge output "
        f"vs official: cold {headline['completion_chars_ratio_cold']}, warm {headline['completion_chars_ratio_warm']}"
    )
    return headline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, default=8, help="Predictions per GRPO group (G).")
    parser.add_argument("--delay", type=float, default=0.2, help="Seconds the server takes per answer.")
    parser.add_argument("--slots", type=int, default=8, help="Requests the server answers in parallel.")
    parser.add_argument("--repeats", type=int, default=3, help="Rounds over the 3 references (new ones each time).")
    args = parser.parse_args()
    headline = report(asyncio.run(run(args)), args)
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
