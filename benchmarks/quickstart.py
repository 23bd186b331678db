"""The quickstart end to end: wall time per stage, and whether its training learns, against the old smoke run.

    python benchmarks/quickstart.py                      # the quickstart as a user runs it (torch's own threads)
    OMP_NUM_THREADS=1 python benchmarks/quickstart.py    # one thread, as the tests run

Runs ``owlcap quickstart`` in a fresh run directory as a subprocess (imports, the tiny model build and every stage
counted), then reads what the run recorded: each stage's wall time, the data build's counts, SFT's first and last
loss, GRPO's reward_std and grad_norm per step, how far the vision tower's weights moved, and the CSER, VDC,
DREAM-1K, CaReBench and CAPability figures of the evaluation. The baseline, run side by side, is what the pipeline
replaced: the old ``configs/grpo/tiny.yaml`` smoke run (a random tiny model, G=2, 16-token completions: those
settings given as overrides), whose rewards are flat within every group, so its gradient is zero. Wall time
depends on what else the machine runs; the CPU time (user + system of the subprocess) is the steadier figure. The
last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}


def samples_dir() -> Path:
    from owlcap import envs

    return envs.samples_dir()


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_quickstart(run_dir: Path, extra: list[str]) -> dict:
    cpu = children_cpu_seconds()
    started = time.perf_counter()
    command = [sys.executable, "-m", "owlcap.cli.main", "quickstart", "--run-dir", str(run_dir), *extra]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"quickstart failed ({done.returncode}):\n{done.stderr[-4000:]}")
    wall = time.perf_counter() - started
    report = json.loads((run_dir / "report" / "report.json").read_text())
    stages = {name: stage["seconds"] for name, stage in report["stages"].items()}
    stages["report"] = json.loads((run_dir / "report" / "stage.json").read_text())["seconds"]
    grpo_steps = report["grpo"]["curves"]
    vision = report["stages"]["grpo"]["summary"]["weight_change"]["vision tower"]
    data = {name: {key: build[key] for key in ("records", "kept", "kept_at_paper_threshold", "unit_accuracy_mean")}
            for name, build in report["data"].items()}  # fmt: skip
    p_yes = [
        verdict["p_yes"]
        for folder in (run_dir / "data", run_dir / "data" / "preview")
        for line in (folder / "records.jsonl").read_text().splitlines()
        for verdict in json.loads(line).get("unit_verdicts", [])
        if "p_yes" in verdict
    ]
    headline = ("average.", "overall.", "events.", "objects.")
    benchmarks = {
        f"{benchmark}/{source}": {key: round(value, 4) for key, value in run["headline"].items()
                                  if key.startswith(headline) and value is not None}
        for benchmark in ("vdc", "dream1k", "carebench", "capability")
        for source, run in (report["eval"].get(benchmark) or {}).items()
    }  # fmt: skip
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(children_cpu_seconds() - cpu, 1),
        "stage_s": {name: round(seconds, 1) for name, seconds in stages.items()},
        "data": data,
        "fge_p_yes_range": [round(min(p_yes), 3), round(max(p_yes), 3)] if p_yes else None,
        "sft_loss_first": round(report["sft"]["loss_first"], 3),
        "sft_loss_last": round(report["sft"]["loss_last"], 3),
        "grpo_reward_std": [round(value, 3) for _, value in grpo_steps["reward_std"]],
        "grpo_grad_norm": [round(value, 3) for _, value in grpo_steps["grad_norm"]],
        "grpo_steps_with_reward_std": f"{report['grpo']['steps_with_reward_std']}/{report['grpo']['steps']}",
        "vision_tower_change": {
            "relative": round(vision["relative"], 5),
            "tensors": vision["tensors"],
            "changed": vision["changed"],
        },  # fmt: skip
        "eval_reward": {model: round(m["reward"], 3) for model, m in report["eval"]["cser"]["models"].items()},
        "eval_cser": {model: round(m["cser"], 3) for model, m in report["eval"]["cser"]["models"].items()},
        "benchmarks": benchmarks,
    }


def run_baseline(folder: Path) -> dict:
    """The old ``configs/grpo/tiny.yaml`` smoke run (its sizes as overrides) on a fresh random tiny model: the run the
    quickstart's GRPO replaces."""
    model = folder / "tiny"
    build = [sys.executable, "-m", "owlcap.cli.main", "tiny-model", str(model)]
    subprocess.run(build, env=ENV, check=True, capture_output=True)
    out = folder / "grpo"
    command = [sys.executable, "-m", "owlcap.cli.main", "train", "grpo", str(REPO / "configs/grpo/tiny.yaml")]
    command += ["--num_generations", "2", "--max_completion_length", "16", "--per_device_train_batch_size", "4"]
    command += ["--max_steps", "4", "--learning_rate", "1e-4", "--save_steps", "2"]
    command += ["--model.name_or_path", str(model), "--output_dir", str(out), "--data.train_files"]
    command += [f"[{samples_dir() / 'hmd' / 'captions.jsonl'}]"]
    subprocess.run(command, env=ENV, check=True, capture_output=True, cwd=REPO)
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [step for step in steps if "reward_std" in step]
    return {
        "grpo_reward_std": [round(step["reward_std"], 3) for step in steps],
        "grpo_grad_norm": [round(step.get("grad_norm", 0.0), 3) for step in steps],
        "grpo_steps_with_reward_std": f"{sum(step['reward_std'] > 0 for step in steps)}/{len(steps)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-baseline", action="store_true", help="Skip the old smoke run.")
    args, overrides = parser.parse_known_args()  # the rest: --key value overrides for owlcap quickstart
    with tempfile.TemporaryDirectory(prefix="owlcap-quickstart-") as tmp:
        figures = {"threads": os.environ.get("OMP_NUM_THREADS", "torch default"), "cores": os.cpu_count()}
        figures["quickstart"] = run_quickstart(Path(tmp) / "run", overrides)
        print(json.dumps(figures["quickstart"], indent=2))
        if not args.no_baseline:
            figures["baseline_tiny_grpo"] = run_baseline(Path(tmp) / "baseline")
            print(json.dumps(figures["baseline_tiny_grpo"], indent=2))
        load = os.getloadavg()[0]
        figures["load_average_after"] = round(load, 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
