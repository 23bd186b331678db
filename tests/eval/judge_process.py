"""Run the scripted judge on a loopback server in its own process (twice the throughput of one shared by the
client's process on a small machine). Prints the port, then serves until its stdin closes (its parent is gone).

    python tests/eval/judge_process.py [--faults JSON] [--slots N] [--delay S]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from helpers.llm_server import LoopbackLLMServer  # noqa: E402
from helpers.scripted_judges import Faults, responder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", default=None, help='JSON {"transient": {...}, "persistent": {...}}.')
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    faults = Faults(**json.loads(args.faults)) if args.faults else None
    server = LoopbackLLMServer(responder(faults), slots=args.slots, delay_s=args.delay).start()
    print(server.port, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
